"""Arithmetic that keeps Python scalars scalar and handles numpy arrays alike.

Vectorised model cores (heat pump, FCR controller) take per-unit quantities as Python floats when
they are uniform or N = 1 and as (N,) arrays otherwise; plain Python arithmetic on floats is ~20×
cheaper than numpy on length-1 arrays, so these helpers pick the cheap path when they can.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def clip(x: Any, lo: Any, hi: Any) -> Any:
    """Clip a Python float (fast path) or an array to [lo, hi] (= min(max(x, lo), hi))."""
    if isinstance(x, float) and isinstance(lo, float) and isinstance(hi, float):
        x = lo if x < lo else x
        return hi if x > hi else x
    return np.minimum(np.maximum(x, lo), hi)


def minimum(a: Any, b: Any) -> Any:
    """min(a, b) for Python floats (fast path) or arrays."""
    if isinstance(a, float) and isinstance(b, float):
        return a if a < b else b
    return np.minimum(a, b)


def maximum(a: Any, b: Any) -> Any:
    """max(a, b) for Python floats (fast path) or arrays."""
    if isinstance(a, float) and isinstance(b, float):
        return a if a > b else b
    return np.maximum(a, b)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` that keeps scalars: a scalar ``cond`` returns ``a`` or ``b`` itself."""
    if isinstance(cond, bool | np.bool_):
        return a if cond else b
    return np.where(cond, a, b)


def logical_not(x: Any) -> Any:
    """Logical not of a Python/numpy bool or a bool array (``~`` is wrong for Python bools)."""
    return (not x) if isinstance(x, bool | np.bool_) else ~x


def sign(x: Any) -> Any:
    """Sign of a Python float (as a float) or an array."""
    if isinstance(x, float):
        return (x > 0.0) - (x < 0.0) + 0.0
    return np.sign(x)


def ratio_or_zero(num: Any, den: Any) -> Any:
    """num / den where den > 0, else 0 (floats stay floats; arrays give a new array)."""
    if isinstance(den, float) and isinstance(num, float | int):
        return num / den if den > 0.0 else 0.0
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=den > 0.0)
    return out


def is_scalar(value: Any) -> bool:
    """True for Python and numpy scalars and 0-d arrays (cheap type checks first)."""
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return isinstance(value, int | float | np.generic) or np.ndim(value) == 0


def uniform(arr: Any) -> Any:
    """The common value as a Python scalar if all elements are equal, else the array itself."""
    arr = np.asarray(arr)
    return arr[0].item() if arr.size and bool(np.all(arr == arr[0])) else arr


def fleet_size(params: Any, n: int | None) -> int:
    """Number of units of a vectorised core from its parameter dataclass and an optional ``n``.

    Every parameter is a scalar (shared) or a 1-D array of length N; ``n`` = None takes N from
    the arrays (1 if all are scalars). Raises ValueError naming the parameter that does not fit.
    """
    fields = {name: np.asarray(getattr(params, name)) for name in params.__dataclass_fields__}
    for name, v in fields.items():
        if v.ndim > 1:
            raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {v.shape}")
    lengths = {name: v.shape[0] for name, v in fields.items() if v.ndim == 1}
    if n is None:
        n = max(lengths.values(), default=1)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n={n!r} must be a positive integer")
    for name, length in lengths.items():
        if length != n:
            raise ValueError(f"{name} has length {length} but the fleet has n={n} units")
    return int(n)

"""Shared limits, validation helpers and time helpers of the market cores (pure numpy/pandas).

Sources of the market constants: ``/work/shared/reference/standards-grid-markets-certification.md``
§6.2 (SDAC price limits, tick, lot), §6.3 (15-min MTU / ISP) and §1.11 (FCR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from simulators.prices import LOCAL_TZ

PRICE_FLOOR_EUR_PER_MWH: float = -500.0
"""SDAC harmonised minimum clearing price, EUR/MWh (ref. standards §6.2)."""

PRICE_CAP_EUR_PER_MWH: float = 4000.0
"""SDAC harmonised maximum clearing price, EUR/MWh (ref. standards §6.2)."""

TICK_EUR_PER_MWH: float = 0.01
"""Price tick of day-ahead orders, EUR/MWh (ref. standards §6.2)."""

LOT_MW: float = 0.1
"""Minimum lot (volume granularity) of day-ahead orders, MW (ref. standards §6.2, Nord Pool)."""

MTU_15MIN_S: int = 900
"""15-min market time unit / imbalance settlement period, s (ref. standards §6.2–6.3)."""

MTU_60MIN_S: int = 3600
"""Hourly MTU (historical day-ahead until 30 Sep 2025; FCR products), s."""

GATE_CLOSURE_LOCAL_H: float = 12.0
"""Day-ahead gate closure, 12:00 CET/CEST on D-1 (ref. standards §6.2)."""

_GRID_REL_TOL = 1e-6


def finite_array(name: str, value: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a float64 array (fresh copy); ValueError naming ``name`` if not finite or if the
    shape (after broadcasting, when ``shape`` is given) does not fit."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not numeric: {exc}") from None
    if shape is not None:
        try:
            arr = np.broadcast_to(arr, shape).copy()
        except ValueError:
            raise ValueError(
                f"{name} has shape {arr.shape}; it must be a scalar or broadcast to {shape}"
            ) from None
    if not np.all(np.isfinite(arr)):
        bad = float(arr[~np.isfinite(arr)].ravel()[0])
        raise ValueError(f"{name} contains a non-finite value {bad!r}; all must be finite")
    return arr


def check_on_grid(name: str, values: np.ndarray, step: float) -> None:
    """ValueError if any of ``values`` is not a whole multiple of ``step`` (relative tol 1e-6)."""
    if values.size == 0 or step <= 0:
        return
    k = values / step
    off = np.abs(k - np.round(k)) > _GRID_REL_TOL * np.maximum(1.0, np.abs(k)) + 1e-9
    if np.any(off):
        bad = float(values[off].ravel()[0])
        raise ValueError(f"{name}={bad!r} is not a multiple of {step:g}")


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0), else ValueError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(
            f"{name}={value!r} is not allowed; it must be finite and "
            f"{'>= 0' if allow_zero else '> 0'}"
        )
    return v


def _as_date(day: date | datetime | str, name: str = "day") -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    try:
        return pd.Timestamp(day).date()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={day!r} is not a date: {exc}") from None


def delivery_mtus(
    day: date | datetime | str, mtu_s: int = MTU_15MIN_S, tz: str = LOCAL_TZ
) -> pd.DatetimeIndex:
    """UTC start times of the MTUs of delivery day ``day`` (00:00–24:00 local time in ``tz``).

    A normal day has 96 quarter-hours (24 hours); the spring DST day 92 (23), the autumn DST
    day 100 (25). ``mtu_s`` must divide 3600.
    """
    mtu = int(mtu_s)
    if mtu != mtu_s or mtu <= 0 or 3600 % mtu != 0:
        raise ValueError(f"mtu_s={mtu_s!r} is not allowed; use a divisor of 3600 (900 or 3600)")
    d = _as_date(day)
    t0 = pd.Timestamp(d).tz_localize(tz).tz_convert("UTC")
    t1 = (pd.Timestamp(d) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    n = int((t1 - t0) / pd.Timedelta(seconds=mtu))
    return pd.date_range(t0, periods=n, freq=pd.Timedelta(seconds=mtu), name="time")


def gate_closure_utc(
    day: date | datetime | str, tz: str = LOCAL_TZ, local_hour: float = GATE_CLOSURE_LOCAL_H
) -> pd.Timestamp:
    """UTC instant of the day-ahead gate closure for delivery day ``day``: ``local_hour``
    (default 12:00 CET/CEST) local time on D-1, i.e. 11:00 UTC in winter, 10:00 UTC in summer."""
    d = _as_date(day)
    local = pd.Timestamp(d) - pd.Timedelta(days=1) + pd.Timedelta(hours=float(local_hour))
    return local.tz_localize(tz, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC")


def delivery_day_of(t: datetime | pd.Timestamp | str, tz: str = LOCAL_TZ) -> date:
    """The local delivery day (``tz``) containing UTC instant ``t`` (naive = UTC)."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).date()


def names_index(names: Sequence[str]) -> dict[str, int]:
    """Position of each name (first occurrence order)."""
    out: dict[str, int] = {}
    for n in names:
        out.setdefault(n, len(out))
    return out

"""Nordic FCR-N / FCR-D controller for heat pumps (pure numpy, vectorised over N units).

Implements the provider side of *Technical Requirements for Frequency Containment Reserve
Provision in the Nordic Synchronous Area* (v1.1, 2025), summarised in
``shared/reference/standards-grid-markets-certification.md`` §1 (cited as *ref* below):

* FCR-N: linear droop around 50.0 Hz, full activation at ±100 mHz, optional dead band (§1.1);
* FCR-D up 49.9 → 49.5 Hz and FCR-D down 50.1 → 50.5 Hz, linear (§1.1) or *static* — relay-like
  per unit, stepwise for the fleet, latched until the deactivation rule of §1.6;
* maintained capacity from the unit's P_min/P_max, its baseline and the comfort/tank state (§1.10);
* measurement-equipment dynamics F_FME(s) = 1/(T_FME·s + 1) for an internal frequency signal
  (§1.2), discretised exactly for a frequency held constant over each step;
* LER energy management for tank-limited providers: NEM setpoint shift and AEM reference
  frequency, endurance reporting (§1.9).

Heat pumps are consumers: up-regulation (low frequency) means consuming LESS. ``activated_*_kW``
use the grid sense (+ = up-regulation = less consumption); ``P_set_kW`` is a consumption.
See ``docs/models/fcr-controller.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.fastpath import clip as _clip
from simulators.fastpath import fleet_size
from simulators.fastpath import logical_not as _not
from simulators.fastpath import maximum as _max
from simulators.fastpath import minimum as _min
from simulators.fastpath import ratio_or_zero as _ratio
from simulators.fastpath import sign as _sign
from simulators.fastpath import uniform as _uniform
from simulators.fastpath import where as _where

ArrayLike = float | int | Sequence[float] | np.ndarray

# --- Products and frequency bands (ref §1.1) ------------------------------------------------------
F_NOMINAL_HZ: float = 50.0
"""Nominal frequency and FCR-N reference, Hz."""
FCRN_FULL_DEVIATION_HZ: float = 0.1
"""FCR-N is fully activated at 50.0 ∓ 0.1 Hz."""
FCRD_UP_START_HZ: float = 49.9
NORMAL_BAND_TOL_HZ: float = 1e-4
"""A frequency within 0.1 mHz of the band edge counts as back in the normal band: the test
programme returns to exactly 49.9 / 50.1 Hz, which the FME-filtered signal only approaches
(the verdict evaluator uses the same tolerance)."""
"""FCR-D up: 0 % activation at and above this frequency, Hz."""
FCRD_DOWN_START_HZ: float = 50.1
"""FCR-D down: 0 % activation at and below this frequency, Hz."""
FCRD_FULL_DEVIATION_HZ: float = 0.4
"""FCR-D is fully activated 0.4 Hz beyond its start frequency (49.5 / 50.5 Hz)."""
FCRN_DEADBAND_MAX_HZ: float = 0.01
"""SOGL Annex V (Nordic): combined insensitivity + intentional dead band <= 10 mHz (ref §1.1)."""
T_FME_DEFAULT_S: float = 1.0
"""Default measurement-equipment time constant for an internal frequency signal (ref §1.2)."""

# --- Static FCR-D (ref §1.6) ----------------------------------------------------------------------
STATIC_DEACTIVATION_DELAY_S: float = 60.0
"""Deactivation starts after f has been continuously back in the normal band this long."""
STATIC_PAUSE_UP_HZ: float = 49.8
"""Deactivation of static FCR-D up pauses while f <= 49.8 Hz."""
STATIC_PAUSE_DOWN_HZ: float = 50.2
"""Deactivation of static FCR-D down pauses while f >= 50.2 Hz."""
STATIC_GRACE_S: float = 900.0
"""Deactivated and ready again within 15 min of the deactivation start (Req. 6)."""
STATIC_RELEASE_S_DEFAULT: float = 100.0
"""Default time over which a static fleet releases its units: 1 %/s of ΔP_theo, inside Req. 7's
2.5 %/s (10-s mean) and, for >= 5 units, its 20 % single-step limit; inside the 15-min grace."""
STATIC_BAND_BELOW: float = 0.05
"""Linearity band of static/stepwise units (ref §1.6 Table 9): ΔP may be 5 % of ΔP_theo below …"""
STATIC_BAND_ABOVE: float = 0.10
"""… and 10 % above the linear characteristic ΔP_theo·|Δf|/0.4 Hz."""
STATIC_MIN_TRIGGER_FRAC: float = 0.025
"""Lowest default trigger level (fraction of 0.4 Hz = 10 mHz, the frequency-measurement
accuracy of ref §1.2), so no unit trips on noise at the band edge 49.9/50.1 Hz."""

# --- LER energy management (ref §1.9) -------------------------------------------------------------
LER_WINDOW_S: int = 300
"""NEM_current and the AEM reference frequency are means over the last 300 s, sampled at 1 s."""
NEM_SHARE_FCRN_DEFAULT: float = 0.34
"""NEM setpoint shift of FCR-N, fraction of C_FCR-N (may be raised to 0.5)."""
NEM_SHARE_FCRN_MAX: float = 0.5
NEM_SHARE_FCRD: float = 0.20
"""NEM setpoint shift of FCR-D, fraction of C_FCR-D."""
NEM_FCRN_ENABLE_MIN: float = 30.0
NEM_FCRN_DISABLE_MIN: float = 57.5
NEM_FCRD_ENABLE_MIN: float = 20.0
NEM_FCRD_DISABLE_MIN: float = 20.0
AEM_ENABLE_MIN: float = 5.0
AEM_DISABLE_MIN: float = 10.0
"""Table 11 thresholds on the remaining endurance, minutes (enable below, disable at/above)."""

# --- Comfort (iPower comfort band 21.5 ± 1.5 °C, as scenarios.schema.ComfortConfig) --------------
T_ROOM_MIN_C_DEFAULT: float = 20.0
T_ROOM_MAX_C_DEFAULT: float = 23.0
COMFORT_MARGIN_K_DEFAULT: float = 0.5
"""Capacity tapers linearly to 0 over this margin inside the comfort band edge (assumption)."""
SOC_MARGIN_DEFAULT: float = 0.05
"""Capacity tapers linearly to 0 over this state-of-charge margin above/below the limits."""

_US_PER_S: int = 1_000_000
_FCRN_LO_HZ = F_NOMINAL_HZ - FCRN_FULL_DEVIATION_HZ
_FCRN_HI_HZ = F_NOMINAL_HZ + FCRN_FULL_DEVIATION_HZ
_FCRD_UP_FULL_HZ = FCRD_UP_START_HZ - FCRD_FULL_DEVIATION_HZ
_FCRD_DOWN_FULL_HZ = FCRD_DOWN_START_HZ + FCRD_FULL_DEVIATION_HZ


# ==================================================================================================
# Characteristics (pure functions, vectorised)
# ==================================================================================================
def fcrn_activation(f_Hz: ArrayLike, deadband_Hz: ArrayLike = 0.0) -> np.ndarray:
    """FCR-N activation in [−1, 1] (+ = up-regulation, f below 50 Hz).

    a = sign(Δf)·clip((|Δf| − db)/(0.1 Hz − db), 0, 1) with Δf = 50 − f: zero inside the dead
    band and full at ±100 mHz whatever the dead band (ref §1.1, Table 8 corners).
    """
    d = F_NOMINAL_HZ - np.asarray(f_Hz, dtype=float)
    db = np.asarray(deadband_Hz, dtype=float)
    return np.sign(d) * np.clip((np.abs(d) - db) / (FCRN_FULL_DEVIATION_HZ - db), 0.0, 1.0)


def fcrd_up_activation(f_Hz: ArrayLike) -> np.ndarray:
    """FCR-D up activation in [0, 1]: 0 at >= 49.9 Hz, linear to 1 at <= 49.5 Hz (ref §1.1)."""
    f = np.asarray(f_Hz, dtype=float)
    return np.clip((FCRD_UP_START_HZ - f) / FCRD_FULL_DEVIATION_HZ, 0.0, 1.0)


def fcrd_down_activation(f_Hz: ArrayLike) -> np.ndarray:
    """FCR-D down activation in [0, 1]: 0 at <= 50.1 Hz, linear to 1 at >= 50.5 Hz (ref §1.1)."""
    f = np.asarray(f_Hz, dtype=float)
    return np.clip((f - FCRD_DOWN_START_HZ) / FCRD_FULL_DEVIATION_HZ, 0.0, 1.0)


def static_trigger_levels(n_units: int) -> np.ndarray:
    """Trigger levels (fraction of the 0.4 Hz FCR-D band) of ``n_units`` equal relay units.

    The k-th unit (k = 1..n) switches at x_k = k/n − δ with δ = (1/n + 0.05)/2: the fleet's
    staircase then lies in the middle of the static linearity band [x − 5 %, x + 10 %] of
    ref §1.6 Table 9, which it can meet for n >= 7 (step 1/n <= 15 %). Levels are floored at
    ``STATIC_MIN_TRIGGER_FRAC``. One unit triggers at x = 0.475 (49.71 / 50.29 Hz).
    """
    if isinstance(n_units, bool) or not isinstance(n_units, int | np.integer) or n_units < 1:
        raise ValueError(f"n_units={n_units!r} must be a positive integer")
    k = np.arange(1, n_units + 1, dtype=float)
    delta = (1.0 / n_units + STATIC_BAND_BELOW) / 2.0
    return np.maximum(k / n_units - delta, STATIC_MIN_TRIGGER_FRAC)


def static_trigger_frequencies(n_units: int, direction: str) -> np.ndarray:
    """Trigger frequencies, Hz, of :func:`static_trigger_levels` for "up" or "down"."""
    x = static_trigger_levels(n_units)
    if direction == "up":
        return FCRD_UP_START_HZ - FCRD_FULL_DEVIATION_HZ * x
    if direction == "down":
        return FCRD_DOWN_START_HZ + FCRD_FULL_DEVIATION_HZ * x
    raise ValueError(f"direction={direction!r} is not allowed; use 'up' or 'down'")


def fme_step_factor(dt_s: float, T_FME_s: ArrayLike) -> Any:
    """Exact discretisation of F_FME(s) = 1/(T·s + 1) for an input held over ``dt_s``.

    f_meas ← f_meas + α·(f − f_meas), α = 1 − exp(−dt/T); T = 0 gives α = 1 (no filter).
    Returns a Python float for a scalar T, else an array.
    """
    if isinstance(T_FME_s, float | int):
        return 1.0 if T_FME_s == 0 else -math.expm1(-dt_s / float(T_FME_s))
    t = np.asarray(T_FME_s, dtype=float)
    with np.errstate(divide="ignore"):
        return -np.expm1(-dt_s / t)


# ==================================================================================================
# Helpers for Python floats (N = 1 fast path) and arrays alike
# ==================================================================================================
class _MovingMean:
    """Mean of the last ``window`` one-second samples; (window,) for N = 1, else (window, N).

    While only the base value has been pushed for a whole window the buffer is *clean*: pushing
    the base again is skipped and the mean is the base (the common case of no NEM/AEM).
    """

    def __init__(self, window: int, n: int, base: float) -> None:
        self.window = window
        self.base = base
        self.scalar = n == 1
        self.buf = np.full((window,) if self.scalar else (window, n), base)
        self.idx = 0
        self.total: Any = self._sum()
        self.clean = True
        self._base_run = window  # consecutive base samples pushed
        self._pushes = 0

    def _sum(self) -> Any:
        s = self.buf.sum(axis=0)
        return float(s) if self.scalar else s

    def push(self, value: Any, k: int) -> None:
        """Append ``k`` samples of ``value`` (k = number of whole seconds passed in the step)."""
        if k <= 0:
            return
        is_base = bool(np.all(value == self.base)) if isinstance(value, np.ndarray) else (
            value == self.base)
        if is_base:
            if self.clean:
                return
            self._base_run += k
        else:
            self._base_run = 0
            self.clean = False
        if k >= self.window:
            self.buf[...] = value
            self.idx = 0
            self.total = self._sum()
        elif k == 1:
            old = self.buf[self.idx]
            self.total = self.total + (value - (float(old) if self.scalar else old))
            self.buf[self.idx] = value
            self.idx = (self.idx + 1) % self.window
        else:
            rows = (self.idx + np.arange(k)) % self.window
            self.buf[rows] = value
            self.idx = int((self.idx + k) % self.window)
            self.total = self._sum()
        self._pushes += k
        if self._pushes >= self.window:  # refresh the running sum against rounding drift
            self._pushes = 0
            self.total = self._sum()
        if self._base_run >= self.window:
            self.buf[...] = self.base
            self.total = self._sum()
            self.clean = True

    @property
    def mean(self) -> Any:
        return self.base if self.clean else self.total / self.window


# ==================================================================================================
# Parameters
# ==================================================================================================
@dataclass(frozen=True)
class FcrParams:
    """FCR provision parameters; every field is a scalar (broadcast) or a length-N array.

    Capacities are the procured (prequalified) electric capacities per unit, kW; 0 = product not
    provided. Any combination may be provided together (combined FCR-N + FCR-D, ref §1.5).

    Attributes:
        C_fcrn_kW: FCR-N capacity (symmetric), kW.
        C_fcrd_up_kW: FCR-D up capacity (consume less at low f), kW.
        C_fcrd_down_kW: FCR-D down capacity (consume more at high f), kW.
        fcrn_deadband_Hz: FCR-N dead band, Hz, in [0, 0.01] (DK2 FCR-N: none, the default).
        fcrd_static: True → static (relay) FCR-D for that unit, else linear (dynamic) FCR-D.
        static_trigger_up_Hz / static_trigger_down_Hz: relay trigger frequencies, Hz, in
            [49.5, 49.9) / (50.1, 50.5]; NaN (default) → spread over the fleet by
            :func:`static_trigger_frequencies` (unit i gets the i-th level).
        static_release_s: a static fleet's units are released one after another over this time
            once deactivation starts (deepest trigger first); s, in [0, 900].
        T_FME_s: measurement-equipment time constant, s (>= 0; 1 s default per ref §1.2 for an
            internal signal; 0 when ``f_Hz`` is already a measured frequency).
        ler: limited energy reservoir → NEM/AEM energy management and endurance (ref §1.9).
        E_res_kWh: usable reservoir between soc 0 and 1, as electric-equivalent kWh (thermal
            storage / COP): the consumption shift the tank (or building) absorbs.
        soc_min_frac / soc_max_frac: reservoir limits of the usable range.
        nem_share_fcrn: NEM shift of FCR-N as a fraction of C (0.34; up to 0.5).
        T_room_min_C / T_room_max_C: comfort band; with ``T_room_C`` given, up (down) capacity
            tapers to 0 as the room reaches the lower (upper) edge over ``comfort_margin_K``.
        soc_margin_frac: the same taper for ``soc_frac`` at soc_min/soc_max.
    """

    C_fcrn_kW: ArrayLike = 0.0
    C_fcrd_up_kW: ArrayLike = 0.0
    C_fcrd_down_kW: ArrayLike = 0.0
    fcrn_deadband_Hz: ArrayLike = 0.0
    fcrd_static: bool | Sequence[bool] | np.ndarray = False
    static_trigger_up_Hz: ArrayLike = math.nan
    static_trigger_down_Hz: ArrayLike = math.nan
    static_release_s: ArrayLike = STATIC_RELEASE_S_DEFAULT
    T_FME_s: ArrayLike = T_FME_DEFAULT_S
    ler: bool | Sequence[bool] | np.ndarray = False
    E_res_kWh: ArrayLike = math.nan
    soc_min_frac: ArrayLike = 0.0
    soc_max_frac: ArrayLike = 1.0
    nem_share_fcrn: ArrayLike = NEM_SHARE_FCRN_DEFAULT
    T_room_min_C: ArrayLike = T_ROOM_MIN_C_DEFAULT
    T_room_max_C: ArrayLike = T_ROOM_MAX_C_DEFAULT
    comfort_margin_K: ArrayLike = COMFORT_MARGIN_K_DEFAULT
    soc_margin_frac: ArrayLike = SOC_MARGIN_DEFAULT

    def __post_init__(self) -> None:
        for name in ("C_fcrn_kW", "C_fcrd_up_kW", "C_fcrd_down_kW"):
            _check(name, getattr(self, name), 0.0, math.inf)
        _check("fcrn_deadband_Hz", self.fcrn_deadband_Hz, 0.0, FCRN_DEADBAND_MAX_HZ)
        _check_flags("fcrd_static", self.fcrd_static)
        _check_flags("ler", self.ler)
        up, down = FCRD_UP_START_HZ, FCRD_DOWN_START_HZ
        full = FCRD_FULL_DEVIATION_HZ
        _check("static_trigger_up_Hz", self.static_trigger_up_Hz, up - full, up, nan_ok=True,
               hi_open=True)
        _check("static_trigger_down_Hz", self.static_trigger_down_Hz, down, down + full,
               nan_ok=True, lo_open=True)
        _check("static_release_s", self.static_release_s, 0.0, STATIC_GRACE_S)
        _check("T_FME_s", self.T_FME_s, 0.0, 60.0)
        _check("E_res_kWh", self.E_res_kWh, 0.0, math.inf, nan_ok=True, lo_open=True)
        _check("soc_min_frac", self.soc_min_frac, 0.0, 1.0)
        _check("soc_max_frac", self.soc_max_frac, 0.0, 1.0)
        if np.any(np.asarray(self.soc_min_frac) >= np.asarray(self.soc_max_frac)):
            raise ValueError(f"soc_min_frac={self.soc_min_frac!r} must be below "
                             f"soc_max_frac={self.soc_max_frac!r}")
        _check("nem_share_fcrn", self.nem_share_fcrn, 0.0, NEM_SHARE_FCRN_MAX)
        _check("T_room_min_C", self.T_room_min_C, -50.0, 60.0)
        _check("T_room_max_C", self.T_room_max_C, -50.0, 60.0)
        if np.any(np.asarray(self.T_room_min_C) >= np.asarray(self.T_room_max_C)):
            raise ValueError(f"T_room_min_C={self.T_room_min_C!r} must be below "
                             f"T_room_max_C={self.T_room_max_C!r}")
        _check("comfort_margin_K", self.comfort_margin_K, 0.0, 10.0, lo_open=True)
        _check("soc_margin_frac", self.soc_margin_frac, 0.0, 1.0, lo_open=True)


def _check(name: str, value: ArrayLike, lo: float, hi: float, nan_ok: bool = False,
           lo_open: bool = False, hi_open: bool = False) -> None:
    """ValueError naming ``name`` unless every element lies in the range (NaN if ``nan_ok``)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    ok = (arr > lo if lo_open else arr >= lo) & (arr < hi if hi_open else arr <= hi)
    if nan_ok:
        ok |= np.isnan(arr)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0].item() if arr.ndim else float(arr)
        b0, b1 = "(" if lo_open else "[", ")" if hi_open else "]"
        extra = " or NaN" if nan_ok else ""
        raise ValueError(f"{name}={bad!r} is out of range; allowed {b0}{lo}, {hi}{b1}{extra}")


def _check_flags(name: str, value: Any) -> None:
    arr = np.asarray(value)
    if arr.ndim > 1 or arr.dtype.kind not in "bui" or not np.all(np.isin(arr, (0, 1))):
        raise ValueError(f"{name}={value!r} is not allowed; use True/False (scalar or per unit)")


_OUTPUTS: tuple[str, ...] = (
    "P_set_kW", "activation_frac", "capacity_kW", "f_meas_Hz",
    "capacity_fcrn_kW", "capacity_fcrd_up_kW", "capacity_fcrd_down_kW",
    "activated_fcrn_kW", "activated_fcrd_up_kW", "activated_fcrd_down_kW",
    "activation_fcrn_frac", "activation_fcrd_up_frac", "activation_fcrd_down_frac",
    "P_nem_kW", "nem_allowed", "aem_active", "endurance_up_min", "endurance_down_min",
)


# ==================================================================================================
# Controller
# ==================================================================================================
class FcrController:
    """FCR provision for a fleet of N heat pumps; ``step`` returns the compressor power setpoint.

    State: measured frequency (FME filter), static-FCR-D latches and deactivation clocks, LER
    NEM/AEM flags and 300-s moving means. A single unit (N = 1) runs on Python floats.
    """

    outputs: tuple[str, ...] = _OUTPUTS

    def __init__(self, params: FcrParams, n: int | None = None) -> None:
        fields = {name: np.asarray(getattr(params, name)) for name in params.__dataclass_fields__}
        self.n: int = fleet_size(params, n)
        self.params = params

        def per_unit(name: str, dtype: type = float) -> np.ndarray:
            return np.broadcast_to(fields[name].astype(dtype), (self.n,)).copy()

        u = _uniform
        self._c_n = u(per_unit("C_fcrn_kW"))
        self._c_du = u(per_unit("C_fcrd_up_kW"))
        self._c_dd = u(per_unit("C_fcrd_down_kW"))
        self._db = u(per_unit("fcrn_deadband_Hz"))
        self._t_fme = u(per_unit("T_FME_s"))
        static = per_unit("fcrd_static", bool)
        self._static = u(static)
        self._any_static = bool(static.any())
        self._all_static = bool(static.all())
        ler = per_unit("ler", bool)
        self._ler = u(ler)
        self._any_ler = bool(ler.any())
        e_res = per_unit("E_res_kWh")
        if np.any(ler & np.isnan(e_res)):
            raise ValueError("E_res_kWh=nan is not allowed where ler=True; give the usable "
                             "reservoir in electric-equivalent kWh (> 0)")
        self._e_res = u(np.where(ler, e_res, 0.0))
        self._soc_min, self._soc_max = u(per_unit("soc_min_frac")), u(per_unit("soc_max_frac"))
        self._nem_share = u(per_unit("nem_share_fcrn"))
        self._t_lo, self._t_hi = u(per_unit("T_room_min_C")), u(per_unit("T_room_max_C"))
        self._comfort_margin = u(per_unit("comfort_margin_K"))
        self._soc_margin = u(per_unit("soc_margin_frac"))

        # Static FCR-D: trigger frequencies and release offsets (deepest trigger released first).
        self.static_trigger_up_Hz: np.ndarray = self._triggers(per_unit("static_trigger_up_Hz"),
                                                               "up")
        """Trigger frequency of each unit's static FCR-D up relay, Hz."""
        self.static_trigger_down_Hz: np.ndarray = self._triggers(
            per_unit("static_trigger_down_Hz"), "down")
        """Trigger frequency of each unit's static FCR-D down relay, Hz."""
        release = per_unit("static_release_s")
        self._trig_up = u(self.static_trigger_up_Hz)
        self._trig_dn = u(self.static_trigger_down_Hz)
        self._off_up = u(self._release_offsets(FCRD_UP_START_HZ - self.static_trigger_up_Hz,
                                               release))
        self._off_dn = u(self._release_offsets(self.static_trigger_down_Hz - FCRD_DOWN_START_HZ,
                                               release))

        # State (Python scalars while uniform; arrays once units differ).
        self._t_us: int = 0
        self._f_meas: Any = math.nan
        self._latch_up: Any = False
        self._latch_dn: Any = False
        self._t_norm_up: Any = 0.0
        self._t_norm_dn: Any = 0.0
        self._clock_up: Any = math.nan  # NaN = not deactivating
        self._clock_dn: Any = math.nan
        self._nem_n_up: Any = False
        self._nem_n_dn: Any = False
        self._aem: Any = False
        self._nem_buf: _MovingMean | None = None
        self._fref_bufs: tuple[_MovingMean, _MovingMean, _MovingMean] | None = None
        if self._any_ler:
            self._nem_buf = _MovingMean(LER_WINDOW_S, self.n, 0.0)
            self._fref_bufs = (
                _MovingMean(LER_WINDOW_S, self.n, F_NOMINAL_HZ),
                _MovingMean(LER_WINDOW_S, self.n, FCRD_UP_START_HZ),
                _MovingMean(LER_WINDOW_S, self.n, FCRD_DOWN_START_HZ),
            )

    # ---------------------------------------------------------------------------------------------
    def _triggers(self, given: np.ndarray, direction: str) -> np.ndarray:
        default = static_trigger_frequencies(self.n, direction)
        return np.where(np.isnan(given), default, given)

    def _release_offsets(self, depth_Hz: np.ndarray, release_s: np.ndarray) -> np.ndarray:
        """Release time of each unit after deactivation starts: deepest trigger first, evenly."""
        order = np.argsort(-depth_Hz, kind="stable")
        rank = np.empty(self.n)
        rank[order] = np.arange(self.n)
        return rank * release_s / self.n

    def _input(self, name: str, value: Any, lo: float = -math.inf, hi: float = math.inf) -> Any:
        """A per-unit input as a Python float (scalar, or N = 1) or a float (N,) array."""
        if isinstance(value, float | int) and not isinstance(value, bool):
            x = float(value)
        else:
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0:
                x = float(arr)
            elif arr.shape != (self.n,):
                raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or ({self.n},)")
            elif self.n == 1:
                x = float(arr[0])
            else:
                if not (np.all(arr >= lo) and np.all(arr <= hi)):  # False for NaN too
                    bad = arr[~((arr >= lo) & (arr <= hi))][0].item()
                    raise ValueError(f"{name}={bad!r} is out of range; allowed [{lo}, {hi}]")
                return arr
        if not (lo <= x <= hi):
            raise ValueError(f"{name}={x!r} is out of range; allowed [{lo}, {hi}]")
        return x

    def _out(self, x: Any) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return x.astype(float) if x.dtype != np.float64 else x.copy()
        if self.n == 1:
            return np.array((float(x),))
        return np.full(self.n, float(x))

    # ---------------------------------------------------------------------------------------------
    def step(
        self,
        dt_s: float,
        f_Hz: ArrayLike,
        P_base_kW: ArrayLike,
        P_min_kW: ArrayLike = 0.0,
        P_max_kW: ArrayLike = math.inf,
        T_room_C: ArrayLike | None = None,
        soc_frac: ArrayLike | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``dt_s`` seconds with grid frequency ``f_Hz`` held over the step.

        Args:
            dt_s: step length, s (> 0; 0.1 s for FCR tests).
            f_Hz: grid (or applied test) frequency, Hz, in [40, 60].
            P_base_kW: baseline = the heat pump's own scheduled electric power, kW (>= 0).
            P_min_kW / P_max_kW: lowest / highest power the unit can be set to now, kW
                (0 if the unit may stop; see ``HeatPump.compressor_power_range_kW``).
            T_room_C: room temperature, °C (optional; comfort limit on the capacity).
            soc_frac: reservoir state of charge in [0, 1] (optional; required for LER units).

        Returns:
            Fresh (N,) arrays: ``P_set_kW`` (consumption setpoint), ``activation_frac`` (total
            activated power / maintained capacity in its direction, + = up), ``capacity_kW``
            (sum of the maintained capacities), ``f_meas_Hz``, per product ``capacity_*_kW``,
            ``activated_*_kW`` (grid sense, + = less consumption), ``activation_*_frac``, and
            LER ``P_nem_kW``, ``nem_allowed`` (−1/0/+1), ``aem_active``, ``endurance_up_min``,
            ``endurance_down_min`` (inf when the direction is not provided or not LER).
        """
        dt = float(dt_s) if isinstance(dt_s, float | int) else float(np.asarray(dt_s))
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f"dt_s={dt_s!r} must be a finite number > 0")
        f = self._input("f_Hz", f_Hz, 40.0, 60.0)
        p_base = self._input("P_base_kW", P_base_kW, 0.0, 1e6)
        p_min = self._input("P_min_kW", P_min_kW, 0.0, 1e6)
        p_max = self._input("P_max_kW", P_max_kW, 0.0, math.inf)
        if not (p_min <= p_max if isinstance(p_min <= p_max, bool) else np.all(p_min <= p_max)):
            raise ValueError(f"P_min_kW={P_min_kW!r} must not exceed P_max_kW={P_max_kW!r}")
        t_room = None if T_room_C is None else self._input("T_room_C", T_room_C, -50.0, 80.0)
        soc = None if soc_frac is None else self._input("soc_frac", soc_frac, 0.0, 1.0)
        if self._any_ler and soc is None:
            raise ValueError("soc_frac is required for LER units (ler=True); got None")

        t_old = self._t_us
        self._t_us = t_old + round(dt * _US_PER_S)
        k_samples = self._t_us // _US_PER_S - t_old // _US_PER_S

        # Measurement-equipment dynamics (exact for f held over the step).
        f_m = self._f_meas
        if isinstance(f_m, float) and math.isnan(f_m):
            f_m = f
        else:
            f_m = f_m + fme_step_factor(dt, self._t_fme) * (f - f_m)
        self._f_meas = f_m

        # Comfort / reservoir limits on the capacity in each direction (1 = unrestricted).
        up_ok: Any = 1.0
        dn_ok: Any = 1.0
        if t_room is not None:
            up_ok = _clip((t_room - self._t_lo) / self._comfort_margin, 0.0, 1.0)
            dn_ok = _clip((self._t_hi - t_room) / self._comfort_margin, 0.0, 1.0)
        if soc is not None:
            up_ok = up_ok * _clip((soc - self._soc_min) / self._soc_margin, 0.0, 1.0)
            dn_ok = dn_ok * _clip((self._soc_max - soc) / self._soc_margin, 0.0, 1.0)

        # LER energy management: NEM setpoint shift and AEM reference frequencies.
        p_nem: Any = 0.0
        nem_allowed: Any = 0.0
        f_ref = (F_NOMINAL_HZ, FCRD_UP_START_HZ, FCRD_DOWN_START_HZ)
        f_sat = (_clip(f_m, _FCRN_LO_HZ, _FCRN_HI_HZ),
                 _clip(f_m, _FCRD_UP_FULL_HZ, FCRD_UP_START_HZ),
                 _clip(f_m, FCRD_DOWN_START_HZ, _FCRD_DOWN_FULL_HZ))
        end_up: Any = math.inf
        end_dn: Any = math.inf
        if self._any_ler:
            p_nem, nem_allowed, f_ref, end_up, end_dn = self._ler_step(f_m, f_sat, soc, k_samples)

        # Maintained capacities (ref §1.10; consumer: up = P_base − P_min, down = P_max − P_base).
        p_op = p_base + p_nem
        head_up = _max(p_op - p_min, 0.0)
        head_dn = _max(p_max - p_op, 0.0)
        cap_n = _min(_min(self._c_n, head_up), head_dn) * _min(up_ok, dn_ok)
        cap_du = _max(_min(head_up - cap_n, self._c_du), 0.0) * up_ok
        cap_dd = _max(_min(head_dn - cap_n, self._c_dd), 0.0) * dn_ok

        # Activations (+ = up-regulation).
        d_n = f_ref[0] - f_sat[0]
        a_n = _sign(d_n) * _clip((abs(d_n) - self._db) / (FCRN_FULL_DEVIATION_HZ - self._db),
                                 0.0, 1.0)
        a_du = _clip((f_ref[1] - f_sat[1]) / FCRD_FULL_DEVIATION_HZ, 0.0, 1.0)
        a_dd = _clip((f_sat[2] - f_ref[2]) / FCRD_FULL_DEVIATION_HZ, 0.0, 1.0)
        if self._any_static:
            s_up, s_dn = self._static_step(f_m, dt)
            a_du = _where(self._static, s_up, a_du)
            a_dd = _where(self._static, s_dn, a_dd)

        act_n = cap_n * a_n
        act_du = cap_du * a_du
        act_dd = 0.0 - cap_dd * a_dd
        total = act_n + act_du + act_dd
        p_set = _clip(p_op - total, p_min, p_max)
        cap_up = cap_n + cap_du
        cap_dn = cap_n + cap_dd
        frac = _where(total >= 0.0, _ratio(total, cap_up), -_ratio(-total, cap_dn))
        if self._any_ler:
            end_up = _where(self._aem, 0.0, end_up)
            end_dn = _where(self._aem, 0.0, end_dn)

        return self._pack((
            p_set, frac, cap_n + cap_du + cap_dd, f_m, cap_n, cap_du, cap_dd, act_n, act_du,
            act_dd, a_n, a_du, a_dd, p_nem, nem_allowed, self._aem, end_up, end_dn))

    def _pack(self, values: tuple[Any, ...]) -> dict[str, np.ndarray]:
        """Outputs as fresh (N,) float arrays in ``_OUTPUTS`` order (N = 1: slices of one new
        array, which never overlap)."""
        if self.n == 1:
            flat = np.array([v.item() if isinstance(v, np.ndarray) else v for v in values],
                            dtype=float)
            return {name: flat[i:i + 1] for i, name in enumerate(_OUTPUTS)}
        return {name: self._out(v) for name, v in zip(_OUTPUTS, values, strict=True)}

    # ---------------------------------------------------------------------------------------------
    def _static_step(self, f_m: Any, dt: float) -> tuple[Any, Any]:
        """Relay latches with the §1.6 deactivation rule; returns (up, down) activations 0/1."""
        self._latch_up, self._t_norm_up, self._clock_up = _static_direction(
            self._latch_up, self._t_norm_up, self._clock_up, dt,
            triggered=f_m <= self._trig_up, normal=f_m > FCRD_UP_START_HZ - NORMAL_BAND_TOL_HZ,
            paused=f_m <= STATIC_PAUSE_UP_HZ, offset=self._off_up)
        self._latch_dn, self._t_norm_dn, self._clock_dn = _static_direction(
            self._latch_dn, self._t_norm_dn, self._clock_dn, dt,
            triggered=f_m >= self._trig_dn, normal=f_m < FCRD_DOWN_START_HZ + NORMAL_BAND_TOL_HZ,
            paused=f_m >= STATIC_PAUSE_DOWN_HZ, offset=self._off_dn)
        return self._latch_up + 0.0, self._latch_dn + 0.0

    def _ler_step(self, f_m: Any, f_sat: tuple[Any, Any, Any], soc: Any,
                  k: int) -> tuple[Any, Any, tuple[Any, Any, Any], Any, Any]:
        """NEM/AEM update (ref §1.9); returns (P_NEM, NEM_allowed sign, f_refs, L_up, L_down)."""
        assert self._nem_buf is not None and self._fref_bufs is not None
        c_n, c_du, c_dd = self._c_n, self._c_du, self._c_dd
        ler = self._ler
        # Endurance with the current NEM shift: L = stored energy / net drain at full activation.
        p_nem = self._nem_buf.mean
        e = self._e_res
        c_up, c_dn = c_n + c_du, c_n + c_dd
        end_up = _where((c_up > 0.0) & ler,
                        _endurance_min(_max(soc - self._soc_min, 0.0) * e, c_up - p_nem),
                        math.inf)
        end_dn = _where((c_dn > 0.0) & ler,
                        _endurance_min(_max(self._soc_max - soc, 0.0) * e, c_dn + p_nem),
                        math.inf)
        # NEM flags with the Table 11 hysteresis; NEM only while 49.9 < f < 50.1 Hz.
        self._nem_n_up = (end_up < NEM_FCRN_ENABLE_MIN) | (
            self._nem_n_up & (end_up < NEM_FCRN_DISABLE_MIN))
        self._nem_n_dn = (end_dn < NEM_FCRN_ENABLE_MIN) | (
            self._nem_n_dn & (end_dn < NEM_FCRN_DISABLE_MIN))
        nem_du = end_up < NEM_FCRD_ENABLE_MIN
        nem_dd = end_dn < NEM_FCRD_ENABLE_MIN
        in_band = (f_m > FCRD_UP_START_HZ) & (f_m < FCRD_DOWN_START_HZ)
        p_allowed = (self._nem_share * c_n * ((self._nem_n_up + 0.0) - (self._nem_n_dn + 0.0))
                     + NEM_SHARE_FCRD * (c_du * (nem_du + 0.0) - c_dd * (nem_dd + 0.0)))
        p_allowed = _where(in_band & ler, p_allowed, 0.0)
        self._nem_buf.push(p_allowed, k)
        p_nem = self._nem_buf.mean
        # AEM: on below 5 min of endurance in either direction, off again at >= 10 min in both.
        low = _min(end_up, end_dn)
        self._aem = ler & ((low < AEM_ENABLE_MIN) | (self._aem & (low < AEM_DISABLE_MIN)))
        f0 = (F_NOMINAL_HZ, FCRD_UP_START_HZ, FCRD_DOWN_START_HZ)
        refs = []
        for buf, sat, base in zip(self._fref_bufs, f_sat, f0, strict=True):
            buf.push(_where(self._aem, sat, base), k)
            refs.append(_where(ler, buf.mean, base))
        return p_nem, _sign(p_allowed), (refs[0], refs[1], refs[2]), end_up, end_dn


def _endurance_min(energy_kWh: Any, drain_kW: Any) -> Any:
    """Remaining endurance, min: 60·energy/drain; inf where nothing drains (drain <= 0).

    Ref §1.9: L = |(E_cur − E_min)/(P_sp + C − P_inflow)|·60 min, here with the reservoir drained
    (or filled) at the full-activation capacity less (plus) the NEM setpoint shift; at the
    baseline the heat pump's schedule keeps the reservoir balanced (P_inflow = 0).
    """
    if isinstance(energy_kWh, float) and isinstance(drain_kW, float):
        return 60.0 * energy_kWh / drain_kW if drain_kW > 0.0 else math.inf
    e = np.asarray(energy_kWh, dtype=float)
    d = np.asarray(drain_kW, dtype=float)
    out = np.full(np.broadcast_shapes(e.shape, d.shape), math.inf)
    np.divide(60.0 * e, d, out=out, where=d > 0.0)
    return out


def _static_direction(latched: Any, t_norm: Any, clock: Any, dt: float, *, triggered: Any,
                      normal: Any, paused: Any, offset: Any) -> tuple[Any, Any, Any]:
    """One direction of static FCR-D: (latched, time back in normal band, deactivation clock).

    A unit latches when f reaches its trigger. Deactivation starts once f has been continuously
    in the normal band for 60 s; the clock then runs (paused while f is beyond 49.8/50.2 Hz) and
    releases each unit at its offset. A unit that re-triggers latches again and its own
    deactivation restarts.
    """
    t_norm = _where(normal, t_norm + dt, 0.0)
    deact = clock == clock  # not NaN
    start = latched & _not(deact) & (t_norm >= STATIC_DEACTIVATION_DELAY_S)
    clock = _where(start, t_norm - STATIC_DEACTIVATION_DELAY_S,
                   _where(deact & _not(paused), clock + dt, clock))
    released = latched & (start | deact) & (clock >= offset)
    new_latch = triggered & _not(latched)
    latched = (latched & _not(released)) | triggered
    clock = _where(released | new_latch | _not(latched), math.nan, clock)
    return latched, t_norm, clock

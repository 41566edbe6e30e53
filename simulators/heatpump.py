"""Native heat-pump model core (pure numpy, vectorised over a fleet of N units).

The numeric twin of the bundled heat-pump FMU. The steady-state COP model, the supply-temperature
curves, the source temperatures and the sizing rule follow the iPower WP5.5 business-case report
(DEA 2014, §7.1.5–§7.2.1), summarised in ``shared/reference/ipower-residential-heat-pumps.md``
§3–§4; see ``docs/models/heatpump.md`` for equations, parameters and limits.

* COP: linear interpolation in supply temperature between a 35 °C and a 55 °C line, each linear in
  the source temperature, fitted by least squares (in this module, at import) to a data sheet:
  ground source = "Queen 9" brine/water data sheet (iPower Fig. 77), air source = a SUBSTITUTE
  air/water data set (the report's own A/W data sheet is an image that is missing).
* Corrections: ×0.95 (older units, start/stop and part-load losses) and a technology factor by
  installation year (1 / 1.067 / 1.133 for 2020 / 2025–2030 / 2035).
* Dynamics: inverter compressor with a minimum modulation, anti-short-cycle minimum on/off
  times, electric backup heater for the part of a request above compressor capacity, and the four
  SG-Ready states; optionally an electric-power setpoint for the compressor (FCR), a compressor
  ramp-rate limit (integrated exactly within a step) and a §14a EnWG power limit.

Powers are means over a step, in kW; consumption is positive. Temperatures in °C, times in s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from simulators.fastpath import clip as _clip
from simulators.fastpath import fleet_size
from simulators.fastpath import is_scalar as _is_scalar
from simulators.fastpath import logical_not as _not
from simulators.fastpath import maximum as _maximum
from simulators.fastpath import minimum as _minimum
from simulators.fastpath import uniform as _uniform
from simulators.fastpath import where as _where

ArrayLike = float | int | Sequence[float] | np.ndarray
LabelLike = str | Sequence[str] | np.ndarray

SOURCES: tuple[str, ...] = ("ground", "air")
"""Heat sources: brine/water (ground source) and air/water."""
EMITTERS: tuple[str, ...] = ("radiator", "floor")
"""Heat emitters, which set the heating (supply-temperature) curve."""

# --- COP model validity (iPower §4.2, L2243–2247) -------------------------------------------------
T_SUPPLY_LO_C: float = 35.0
"""Lower data-sheet supply temperature of the interpolation, °C."""
T_SUPPLY_HI_C: float = 55.0
"""Upper data-sheet supply temperature of the interpolation, °C."""
T_SUPPLY_MIN_C: float = 30.0
"""Lowest supply temperature of the model (30–35 °C is a linear extrapolation), °C."""
T_SOURCE_MIN_C: float = -20.0
"""Lowest source temperature of the model's validity range, °C."""
T_SOURCE_MAX_C: float = 20.0
"""Highest source temperature of the model's validity range, °C."""

# --- Source temperatures (iPower §4.3–4.4, L2284, L2298–2319) -------------------------------------
BRINE_INLET_BELOW_GROUND_K: float = 5.0
"""Brine inlet temperature = T_ground − 5 K (Heerup 2014)."""
T_GROUND_FLOOR_C: float = 0.0
"""Ground temperature = weekly mean outdoor temperature, floored at 0 °C (DTI 2012)."""

# --- Design point and sizing (iPower §3, L2197–2216) ----------------------------------------------
T_DESIGN_C: float = -12.0
"""Design outdoor temperature for the rated capacity (compressor + backup), °C."""
T_INDOOR_DESIGN_C: float = 21.5
"""Indoor set point of the non-flexible heat pump (iPower L645), °C."""
COMPRESSOR_SHARE_DEFAULT: float = 0.8
"""Compressor share of the −12 °C rated heat capacity (base case; scenario 9 uses 0.65)."""
BACKUP_EFFICIENCY_DEFAULT: float = 0.99
"""Efficiency of the electric backup heater (iPower L213, L2209)."""

# --- COP corrections (iPower §4.4, L2409–2422, Table 24) ------------------------------------------
COP_CORRECTION_DEFAULT: float = 0.95
"""Data sheet → field: older units, start/stop and part-load losses."""
SEASONAL_COP_NEW_UNITS: dict[int, float] = {2020: 3.0, 2025: 3.2, 2030: 3.2, 2035: 3.4}
"""Consumption-weighted seasonal COP of new heat pumps by installation year (Table 24)."""

# --- Supply-temperature curves (iPower §4.4, L2321–2340; linear shape is [DERIVED]) ---------------
_T_OUT_CURVE_C: tuple[float, float] = (-20.0, 20.0)
SUPPLY_CURVE_ENDPOINTS_C: dict[str, tuple[float, float]] = {
    "radiator": (55.0, 30.0),
    "floor": (42.5, 30.0),
}
"""Supply temperature at a 24-h mean outdoor temperature of −20 °C and +20 °C, per emitter."""

# --- Ground-source data sheet "Queen 5/7/9" (iPower Fig. 77, EN 14511; R407C, Copeland scroll) ---
# Columns: brine in, brine out, flow, return [°C]; then heat output [kW], electric input [kW], COP
# for Queen 5, Queen 7 and Queen 9.
_QUEEN_ROWS: tuple[tuple[float, ...], ...] = (
    (-5, -8, 35, 30, 4.7, 1.3, 3.6, 6.4, 1.7, 3.8, 8.0, 2.1, 3.8),
    (-5, -8, 45, 40, 4.6, 1.5, 3.0, 6.1, 1.9, 3.1, 7.6, 2.4, 3.2),
    (-5, -8, 55, 50, 3.7, 1.6, 2.4, 5.2, 2.1, 2.5, 6.5, 2.6, 2.5),
    (0, -3, 35, 30, 5.2, 1.2, 4.3, 7.3, 1.7, 4.3, 9.1, 2.1, 4.3),
    (0, -3, 45, 40, 4.9, 1.4, 3.4, 6.9, 2.0, 3.5, 8.6, 2.4, 3.5),
    (0, -3, 55, 50, 4.7, 1.8, 2.6, 6.6, 2.4, 2.7, 8.2, 3.0, 2.8),
    (5, 2, 35, 30, 6.4, 1.4, 4.6, 8.8, 1.8, 4.9, 11.1, 2.3, 4.8),
    (5, 2, 45, 40, 6.1, 1.6, 3.8, 8.2, 2.2, 3.7, 10.4, 2.7, 3.8),
    (5, 2, 55, 50, 5.7, 2.0, 2.9, 7.8, 2.6, 3.0, 9.7, 3.2, 3.0),
    (10, 7, 35, 30, 7.5, 1.5, 5.0, 10.4, 2.0, 5.2, 13.0, 2.4, 5.3),
    (10, 7, 45, 40, 7.1, 1.8, 3.9, 9.6, 2.3, 4.2, 12.2, 2.8, 4.3),
    (10, 7, 55, 50, 6.6, 2.1, 3.1, 9.1, 2.8, 3.2, 11.4, 3.4, 3.3),
)
DATASHEET_COLUMNS: tuple[str, ...] = (
    "T_brine_in_C", "T_brine_out_C", "T_flow_C", "T_return_C", "Q_out_kW", "P_in_kW", "COP",
)


def _build_ground_datasheet() -> dict[str, np.ndarray]:
    """Split the Queen table into one read-only (12, 7) array per model (columns above)."""
    rows = np.asarray(_QUEEN_ROWS, dtype=float)
    sheets: dict[str, np.ndarray] = {}
    for k, model in enumerate(("Queen5", "Queen7", "Queen9")):
        sheet = np.column_stack([rows[:, :4], rows[:, 4 + 3 * k: 7 + 3 * k]])
        sheet.setflags(write=False)
        sheets[model] = sheet
    return sheets


GROUND_DATASHEET: dict[str, np.ndarray] = _build_ground_datasheet()
"""Queen 5/7/9 data sheets, each (12, 7) with columns `DATASHEET_COLUMNS`."""

# --- SUBSTITUTE air/water data set ----------------------------------------------------------------
# The iPower A/W data sheet (Fig. 79) and its fits (Fig. 80) are images missing from the report.
# These points are SUBSTITUTES: typical EN 14511 rating-point COPs of an ~8 kW air/water unit of
# the 2011–2013 generation, anchored on A7/W35 ≈ 4.4 (standards reference §5) and shaped like
# common data sheets (A2/W35 ≈ 3.6, A−7/W35 ≈ 2.8, W55 ≈ 65 % of W35). Replace them with a real
# data sheet when one is available.
AIR_SUBSTITUTE_DATA: np.ndarray = np.array(
    [  # T_air_C, T_flow_C, COP
        (-15.0, 35.0, 2.3),
        (-7.0, 35.0, 2.8),
        (2.0, 35.0, 3.6),
        (7.0, 35.0, 4.4),
        (-15.0, 55.0, 1.6),
        (-7.0, 55.0, 1.9),
        (2.0, 55.0, 2.4),
        (7.0, 55.0, 2.9),
    ]
)
AIR_SUBSTITUTE_DATA.setflags(write=False)
AIR_SUBSTITUTE_MODEL: str = "EN14511-substitute"

# Air/water compressor heat capacity vs outdoor temperature (iPower Fig. 75 is a missing image).
# SUBSTITUTE: +2 %/K relative to the −12 °C design point (typical A/W data sheets give +2…3 %/K at
# fixed speed), capped at 1.3× (maximum inverter speed). At −7 °C this gives 1.10 × 0.8 = 0.88 of
# the rated capacity, enough for the −7 °C space-heating demand (28.5/33.5 = 0.85), which is what
# the iPower 80/20 split assumes (compressor alone covers −7 °C).
AIR_CAPACITY_SLOPE_PER_K_DEFAULT: float = 0.02
AIR_CAPACITY_MAX_FRAC_DEFAULT: float = 1.3

# --- Power control (FCR setpoint, ramp limit, §14a dimming) ---------------------------------------
RAMP_FRAC_PER_S_DEFAULT: float = math.inf
"""Default compressor ramp limit: none, so results at 60 s+ steps stay those of the plain model."""
RAMP_FRAC_PER_S_INVERTER: float = 0.02
"""Typical inverter air/water compressor ramp, modulation fraction per s (≈ 50 s from 0 to full).

[ASSUMPTION, not from a primary source] Inverter drives accelerate scroll/rotary compressors at a
few Hz/s over a ~20–120 Hz speed range to protect lubrication and the refrigerant circuit, i.e.
roughly 1–3 %/s of the range; 2 %/s is the middle. Use it for FCR studies of an unmodified unit;
a unit tuned for FCR (fast ramp) needs ≳ 10 %/s to deliver 86 % of 0.7·P_max within 7.5 s."""
P_LIMIT_MIN_KW_14A: float = 4.2
"""§14a EnWG guaranteed minimum grid draw while dimmed, kW (standards reference §3.3)."""


# ==================================================================================================
# Validation helpers
# ==================================================================================================
def _labels(value: LabelLike, allowed: tuple[str, ...], name: str) -> np.ndarray:
    """Validate a label or array of labels against ``allowed``; return a string array."""
    arr = np.atleast_1d(np.asarray(value, dtype=object))
    bad = [v.item() if isinstance(v, np.generic) else v for v in arr.ravel() if v not in allowed]
    if bad:
        raise ValueError(f"{name}={bad[0]!r} is not allowed; use one of {list(allowed)}")
    return arr.astype(str)


def _is(value: LabelLike, label: str, allowed: tuple[str, ...], name: str) -> np.ndarray | bool:
    """True where ``value`` equals ``label`` (scalar bool for a scalar label)."""
    if isinstance(value, str):
        _labels(value, allowed, name)
        return value == label
    return _labels(value, allowed, name) == label


def _check_range(
    name: str, value: ArrayLike, lo: float, hi: float, lo_open: bool = False
) -> np.ndarray:
    """Return ``value`` as a float array; raise ValueError unless every element lies in range."""
    arr = np.asarray(value, dtype=float)
    ok = np.isfinite(arr) & (arr > lo if lo_open else arr >= lo) & (arr <= hi)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0].item() if arr.ndim else float(arr)
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name}={bad!r} is out of range; allowed {bracket}{lo}, {hi}]")
    return arr


# ==================================================================================================
# COP model
# ==================================================================================================
def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = a + b·x; returns (a, b)."""
    design = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b)


def _fit_cop_lines(source: str, model: str) -> tuple[float, float, float, float]:
    """Fit the 35 °C and 55 °C COP lines for one source/model (see `cop_lines`)."""
    if source == "ground":
        sheet = GROUND_DATASHEET[model]
        t_src = sheet[:, 0] + BRINE_INLET_BELOW_GROUND_K  # T_ground = brine inlet + 5 K
        t_flow, cop_sheet = sheet[:, 2], sheet[:, 6]
    else:
        t_src, t_flow, cop_sheet = AIR_SUBSTITUTE_DATA.T
    lo, hi = t_flow == T_SUPPLY_LO_C, t_flow == T_SUPPLY_HI_C
    a35, b35 = _fit_line(t_src[lo], cop_sheet[lo])
    a55, b55 = _fit_line(t_src[hi], cop_sheet[hi])
    return a35, b35, a55, b55


_COP_LINES: dict[tuple[str, str], tuple[float, float, float, float]] = {
    **{("ground", m): _fit_cop_lines("ground", m) for m in GROUND_DATASHEET},
    ("air", AIR_SUBSTITUTE_MODEL): _fit_cop_lines("air", AIR_SUBSTITUTE_MODEL),
}
_DEFAULT_MODEL: dict[str, str] = {"ground": "Queen9", "air": AIR_SUBSTITUTE_MODEL}


def cop_lines(source: str, model: str | None = None) -> tuple[float, float, float, float]:
    """Fitted COP lines ``(a35, b35, a55, b55)``: COP_35 = a35 + b35·T_src, COP_55 likewise.

    Fitted by least squares at import time from the data sheet: ground source from the Queen data
    sheet with T_src = T_ground = brine inlet + 5 K (default model "Queen9", as iPower uses);
    air source from the SUBSTITUTE air/water set (T_src = outdoor air; model
    "EN14511-substitute", the only one). T_src in °C; the lines hold compressor-only COPs.
    """
    _labels(source, SOURCES, "source")
    model = _DEFAULT_MODEL[source] if model is None else model
    try:
        return _COP_LINES[(source, model)]
    except KeyError:
        allowed = [m for (s, m) in _COP_LINES if s == source]
        raise ValueError(
            f"model={model!r} is not available for source={source!r}; use one of {allowed}"
        ) from None


def _line_coefficients(source: LabelLike) -> tuple[Any, Any, Any, Any]:
    """COP-line coefficients for a source label or an array of labels (default models)."""
    g = np.asarray(cop_lines("ground"))
    a = np.asarray(cop_lines("air"))
    is_air = _is(source, "air", SOURCES, "source")
    return tuple(np.where(is_air, a[k], g[k]) for k in range(4))  # type: ignore[return-value]


# The helpers here and in simulators/fastpath.py accept Python scalars or numpy arrays. Uniform
# parameters, inputs shared by all units and the whole state of a single unit are Python scalars,
# for which plain Python arithmetic is ~20× cheaper than numpy operations on length-1 arrays.
def _ramp_mean(m0: Any, target: Any, reach: Any) -> tuple[Any, Any]:
    """(step mean, end value) of a path from ``m0`` toward ``target`` moving at most ``reach``.

    The path is linear at the ramp rate until it reaches the target (after the fraction
    φ = min(|target − m0|/reach, 1) of the step), then flat: end = m0 + clip(d, −reach, reach)
    and mean = end − (end − m0)·φ/2. ``reach`` = rate·dt > 0 (``inf`` = jump to the target).
    """
    d = target - m0
    end = m0 + _clip(d, -reach, reach)
    phi = _minimum(abs(d) / reach, 1.0)
    return end - (end - m0) * phi * 0.5, end


def _ratio_or_zero(num: Any, den: Any, n: int) -> Any:
    """num / den where den > 0, else 0 (scalars stay scalars; arrays give a new (n,) array)."""
    if isinstance(den, float):
        return num / den if den > 0.0 else 0.0
    return np.divide(num, den, out=np.zeros(n), where=den > 0.0)


def _cop_in_range(ts: Any, tp: Any, a35: Any, b35: Any, a55: Any, b55: Any) -> Any:
    """iPower interpolation for T_src and T_sup already inside the model range, °C.

    Written as COP_55 + (COP_35 − COP_55)/20 K · (55 − T_sup): with a scalar source temperature
    (one weather series) the per-kelvin slope is a scalar and an array T_sup costs three numpy
    operations.
    """
    cop55 = a55 + b55 * ts
    per_K = (a35 + b35 * ts - cop55) / (T_SUPPLY_HI_C - T_SUPPLY_LO_C)
    return cop55 + per_K * (T_SUPPLY_HI_C - tp)


def _interpolate_cop(t_src: Any, t_sup: Any, a35: Any, b35: Any, a55: Any, b55: Any) -> Any:
    """iPower interpolation with clipping of T_src to [−20, 20] and T_sup to [30, 55] °C."""
    ts = _clip(t_src, T_SOURCE_MIN_C, T_SOURCE_MAX_C)
    tp = _clip(t_sup, T_SUPPLY_MIN_C, T_SUPPLY_HI_C)
    return _cop_in_range(ts, tp, a35, b35, a55, b55)


def cop_raw(T_source_C: ArrayLike, T_supply_C: ArrayLike, source: LabelLike) -> np.ndarray:
    """Data-sheet compressor COP by the iPower interpolation (no corrections).

    COP = COP_55(T_src) + (COP_35(T_src) − COP_55(T_src))·(55 − T_sup)/20.
    The model is valid for 30 ≤ T_sup ≤ 55 °C (30–35 °C is a linear extrapolation) and
    −20 ≤ T_src ≤ 20 °C; inputs outside are CLIPPED to these ranges before evaluation.
    ``source`` is "ground" (T_source = ground temperature) or "air" (T_source = outdoor air),
    or an array of these labels (per unit).
    """
    a35, b35, a55, b55 = _line_coefficients(source)
    return _interpolate_cop(
        np.asarray(T_source_C, dtype=float), np.asarray(T_supply_C, dtype=float), a35, b35, a55, b55
    )


def cop_year_factor(year: ArrayLike) -> np.ndarray:
    """Technology factor COP_adjusted by installation year (iPower Table 24).

    Ratio of the seasonal COP of new units to that of 2020 units: 1 (2020), 3.2/3.0 = 1.067
    (2025–2030), 3.4/3.0 = 1.133 (2035). Linear between the table years (an assumption), held
    constant before 2020 and after 2035.
    """
    years = np.array(sorted(SEASONAL_COP_NEW_UNITS), dtype=float)
    scop = np.array([SEASONAL_COP_NEW_UNITS[int(y)] for y in years])
    y = _check_range("year", year, 1900.0, 2100.0)
    return np.interp(y, years, scop / SEASONAL_COP_NEW_UNITS[2020])


def cop(
    T_source_C: ArrayLike,
    T_supply_C: ArrayLike,
    source: LabelLike,
    year: ArrayLike = 2020,
    correction: ArrayLike = COP_CORRECTION_DEFAULT,
) -> np.ndarray:
    """Field compressor COP: ``cop_raw · correction · cop_year_factor(year)`` (iPower L2422)."""
    corr = _check_range("correction", correction, 0.0, 2.0, lo_open=True)
    return cop_raw(T_source_C, T_supply_C, source) * corr * cop_year_factor(year)


# ==================================================================================================
# Temperatures
# ==================================================================================================
def _supply_curve_coefficients(emitter: LabelLike) -> tuple[Any, Any, Any]:
    """(intercept, slope, upper limit) of the linear heating curve, per emitter label(s)."""
    t_lo, t_hi = _T_OUT_CURVE_C
    coef = {}
    for name, (sup_cold, sup_warm) in SUPPLY_CURVE_ENDPOINTS_C.items():
        slope = (sup_warm - sup_cold) / (t_hi - t_lo)
        coef[name] = (sup_cold - slope * t_lo, slope, sup_cold)
    is_floor = _is(emitter, "floor", EMITTERS, "emitter")
    return tuple(  # type: ignore[return-value]
        np.where(is_floor, coef["floor"][k], coef["radiator"][k]) for k in range(3)
    )


def supply_temperature_C(T_out_24h_C: ArrayLike, emitter: LabelLike) -> np.ndarray:
    """Supply temperature from the heating curve, °C, vs the 24-h mean outdoor temperature.

    Linear through the iPower endpoints ([DERIVED] shape; Fig. 83 is missing): radiator
    55 °C at −20 °C → 30 °C at +20 °C (T_sup = 42.5 − 0.625·T), floor 42.5 → 30 °C
    (T_sup = 36.25 − 0.3125·T); clipped to [30, 55] resp. [30, 42.5] °C outside −20..20 °C.
    """
    c0, c1, hi = _supply_curve_coefficients(emitter)
    return np.clip(c0 + c1 * np.asarray(T_out_24h_C, dtype=float), T_SUPPLY_MIN_C, hi)


def source_temperature_C(
    source: LabelLike, T_out_C: ArrayLike, T_out_168h_C: ArrayLike
) -> np.ndarray:
    """Source temperature, °C: outdoor air (air) or max(weekly mean outdoor, 0 °C) (ground)."""
    is_air = _is(source, "air", SOURCES, "source")
    t_ground = np.maximum(np.asarray(T_out_168h_C, dtype=float), T_GROUND_FLOOR_C)
    return np.where(is_air, np.asarray(T_out_C, dtype=float), t_ground)


# ==================================================================================================
# Sizing
# ==================================================================================================
def design_heat_load_kW(
    H_W_per_K: ArrayLike,
    T_design_C: float = T_DESIGN_C,
    T_indoor_C: float = T_INDOOR_DESIGN_C,
    Q_gains_W: ArrayLike = 0.0,
    Q_dhw_mean_kW: ArrayLike = 0.0,
) -> np.ndarray:
    """Design heat load, kW: H·(T_indoor − T_design) − gains, plus the mean DHW load.

    ``H_W_per_K`` is the building's total loss coefficient (ventilation + transmission), W/K.
    iPower sizes the rated capacity (compressor + backup) to cover space heating + DHW at −12 °C.
    """
    h = _check_range("H_W_per_K", H_W_per_K, 0.0, np.inf, lo_open=True)
    gains = _check_range("Q_gains_W", Q_gains_W, 0.0, np.inf)
    dhw = _check_range("Q_dhw_mean_kW", Q_dhw_mean_kW, 0.0, np.inf)
    if not T_indoor_C > T_design_C:
        raise ValueError(
            f"T_design_C={T_design_C!r} must be below T_indoor_C={T_indoor_C!r}"
        )
    q_sh_kW = np.maximum(h * (T_indoor_C - T_design_C) - gains, 0.0) / 1000.0
    return q_sh_kW + dhw


class HeatPumpSizing(NamedTuple):
    """Rated heat capacities at the design point, kW (arrays or scalars)."""

    Q_rated_kW: np.ndarray
    Q_compressor_kW: np.ndarray
    Q_backup_kW: np.ndarray


def size_heat_pump(
    design_load_kW: ArrayLike, compressor_share: ArrayLike = COMPRESSOR_SHARE_DEFAULT
) -> HeatPumpSizing:
    """iPower sizing: rated total = design load; compressor = share (0.8), backup = rest (0.2)."""
    q = _check_range("design_load_kW", design_load_kW, 0.0, np.inf, lo_open=True)
    share = _check_range("compressor_share", compressor_share, 0.0, 1.0, lo_open=True)
    return HeatPumpSizing(q * 1.0, q * share, q * (1.0 - share))


# ==================================================================================================
# Dynamic model
# ==================================================================================================
@dataclass(frozen=True)
class HeatPumpParams:
    """Parameters of a heat-pump fleet; every field is a scalar (broadcast) or a length-N array.

    Attributes:
        source: "ground" (brine/water) or "air" (air/water).
        emitter: "radiator" or "floor" — selects the heating curve.
        Q_rated_kW: rated heat capacity at −12 °C, compressor + backup together, kW (> 0).
        compressor_share: compressor share of ``Q_rated_kW`` (iPower base 0.8; 0.65 in scen. 9).
        backup_efficiency: electric backup heater efficiency (iPower 0.99).
        modulation_min_frac: lowest compressor heat output as a fraction of its current capacity.
            0.3 is typical of inverter units (about 30 %–100 % modulation range); use 1.0 for an
            on/off compressor such as the Queen's fixed-speed scroll.
        min_on_s: minimum compressor run time once started, s. Default 600 s.
        min_off_s: minimum compressor stop time before a restart, s. Default 600 s. Together at
            most 3 starts/h, the usual limit of compressor makers and grid-connection rules for
            heat pumps; 10 min also lets oil return and pressures equalise.
        cop_correction: field correction of the data-sheet COP (iPower 0.95).
        year: installation year for the COP technology factor (2020 → 1, 2035 → 1.133).
        T_dhw_supply_C: supply temperature while heating the DHW tank, °C (30–55; the COP model
            ends at 55 °C).
        air_capacity_slope_per_K: air source only — relative compressor capacity gain per K of
            outdoor temperature above −12 °C (SUBSTITUTE, see module constants).
        air_capacity_max_frac: air source only — cap of that relative capacity (SUBSTITUTE).
        ramp_frac_per_s: largest change of the compressor modulation (fraction of its current
            capacity) per second, up and down, including the run-up after a start; stops are
            instantaneous. ``inf`` (default) = no ramp limit. See ``RAMP_FRAC_PER_S_INVERTER``.
        P_limit_min_kW: guaranteed minimum grid draw under a ``P_limit_kW`` dimming command, kW
            (§14a EnWG: 4.2 kW).
    """

    source: LabelLike = "ground"
    emitter: LabelLike = "radiator"
    Q_rated_kW: ArrayLike = 7.0
    compressor_share: ArrayLike = COMPRESSOR_SHARE_DEFAULT
    backup_efficiency: ArrayLike = BACKUP_EFFICIENCY_DEFAULT
    modulation_min_frac: ArrayLike = 0.3
    min_on_s: ArrayLike = 600.0
    min_off_s: ArrayLike = 600.0
    cop_correction: ArrayLike = COP_CORRECTION_DEFAULT
    year: ArrayLike = 2020
    T_dhw_supply_C: ArrayLike = 55.0
    air_capacity_slope_per_K: ArrayLike = AIR_CAPACITY_SLOPE_PER_K_DEFAULT
    air_capacity_max_frac: ArrayLike = AIR_CAPACITY_MAX_FRAC_DEFAULT
    ramp_frac_per_s: ArrayLike = RAMP_FRAC_PER_S_DEFAULT
    P_limit_min_kW: ArrayLike = P_LIMIT_MIN_KW_14A

    def __post_init__(self) -> None:
        _labels(self.source, SOURCES, "source")
        _labels(self.emitter, EMITTERS, "emitter")
        _check_range("Q_rated_kW", self.Q_rated_kW, 0.0, np.inf, lo_open=True)
        _check_range("compressor_share", self.compressor_share, 0.0, 1.0, lo_open=True)
        _check_range("backup_efficiency", self.backup_efficiency, 0.0, 1.0, lo_open=True)
        _check_range("modulation_min_frac", self.modulation_min_frac, 0.0, 1.0, lo_open=True)
        _check_range("min_on_s", self.min_on_s, 0.0, np.inf)
        _check_range("min_off_s", self.min_off_s, 0.0, np.inf)
        _check_range("cop_correction", self.cop_correction, 0.0, 2.0, lo_open=True)
        _check_range("year", self.year, 1900.0, 2100.0)
        _check_range("T_dhw_supply_C", self.T_dhw_supply_C, T_SUPPLY_MIN_C, T_SUPPLY_HI_C)
        _check_range("air_capacity_slope_per_K", self.air_capacity_slope_per_K, 0.0, 0.2)
        _check_range("air_capacity_max_frac", self.air_capacity_max_frac, 1.0, 3.0)
        ramp = np.asarray(self.ramp_frac_per_s, dtype=float)
        if not np.all(ramp > 0.0):  # also rejects NaN; +inf (no limit) is allowed
            bad = ramp[~(ramp > 0.0)].ravel()[0].item() if ramp.ndim else float(ramp)
            raise ValueError(f"ramp_frac_per_s={bad!r} is out of range; allowed (0, inf]")
        _check_range("P_limit_min_kW", self.P_limit_min_kW, 0.0, np.inf)


_OUTPUTS: tuple[str, ...] = (
    "P_el_kW", "P_el_compressor_kW", "P_backup_kW", "Q_th_kW", "Q_sh_kW", "Q_dhw_kW",
    "Q_backup_kW", "COP", "T_supply_C", "on", "starts", "modulation_frac",
)


class HeatPump:
    """A fleet of N heat pumps (compressor + electric backup), stepped with variable ``dt_s``.

    State per unit: compressor on/off, time in the current on/off state, start count. Initially
    all compressors are off and free to start.

    Speed: parameters that are equal for all units, inputs given as scalars and the state while
    all units are still alike are kept as Python scalars, so a fleet sharing one weather series
    costs few array operations. A single unit (N = 1, the co-simulation case) therefore runs
    entirely on Python floats and bools; its (1,) input arrays are read as scalars.
    """

    outputs: tuple[str, ...] = _OUTPUTS

    def __init__(self, params: HeatPumpParams, n: int | None = None) -> None:
        labels = ("source", "emitter")
        fields = {
            name: np.asarray(getattr(params, name), dtype=object if name in labels else float)
            for name in params.__dataclass_fields__
        }
        self.n: int = fleet_size(params, n)
        self.params: HeatPumpParams = params

        def per_unit(name: str) -> np.ndarray:
            return np.broadcast_to(fields[name], (self.n,)).copy()

        self.source: np.ndarray = per_unit("source").astype(str)
        """Source label per unit."""
        self.emitter: np.ndarray = per_unit("emitter").astype(str)
        """Emitter label per unit."""
        q_rated = per_unit("Q_rated_kW")
        share = per_unit("compressor_share")
        self.Q_compressor_design_kW: np.ndarray = q_rated * share
        """Compressor heat capacity at −12 °C, kW (ground source: at every temperature)."""
        self.Q_backup_max_kW: np.ndarray = q_rated * (1.0 - share)
        """Backup heater heat capacity, kW."""

        u = _uniform
        is_air = self.source == "air"
        self._is_air = u(is_air)
        self._q_comp_design = u(self.Q_compressor_design_kW)
        self._q_bu_max = u(self.Q_backup_max_kW)
        self._inv_bu_eff = u(1.0 / per_unit("backup_efficiency"))
        self._mod_min = u(per_unit("modulation_min_frac"))
        self._min_on_s = u(per_unit("min_on_s"))
        self._min_off_s = u(per_unit("min_off_s"))
        self._T_dhw_C = u(per_unit("T_dhw_supply_C"))
        self._air_slope = u(per_unit("air_capacity_slope_per_K"))
        self._air_max = u(per_unit("air_capacity_max_frac"))
        # Field COP lines: the data-sheet lines times correction and technology factor.
        cop_factor = per_unit("cop_correction") * cop_year_factor(per_unit("year"))
        self._a35, self._b35, self._a55, self._b55 = (
            u(cop_factor * c) for c in _line_coefficients(self.source)
        )
        self._c0, self._c1, self._sup_hi = (
            u(np.broadcast_to(c, (self.n,))) for c in _supply_curve_coefficients(self.emitter)
        )
        self._any_air = bool(np.any(is_air))
        # Ground source: constant capacity, so the minimum-modulation output is a constant too.
        self._q_min_ground = self._mod_min * self._q_comp_design
        ramp = per_unit("ramp_frac_per_s")
        self._ramp = u(ramp)
        self._has_ramp = bool(np.any(np.isfinite(ramp)))
        self._p_limit_min = u(per_unit("P_limit_min_kW"))

        # State, uniform at the start (hence scalars); it becomes (N,) arrays once units differ.
        self._on: bool | np.ndarray = False
        self._t_state_s: float | np.ndarray = math.inf  # time in the current on/off state, s
        self._starts: float | np.ndarray = 0.0
        self._mod: float | np.ndarray = 0.0  # instantaneous modulation at the end of the step

    # ---------------------------------------------------------------------------------------------
    def compressor_capacity_kW(self, T_out_C: ArrayLike) -> np.ndarray:
        """Maximum compressor heat output, kW, shape (N,): constant (ground), derated (air).

        Air source (SUBSTITUTE): Q_design·clip(1 + slope·(T_out + 12), 0, max_frac).
        """
        t = np.asarray(T_out_C, dtype=float)
        return np.broadcast_to(self._capacity(t), (self.n,)).copy()

    def _capacity(self, t_out: Any) -> Any:
        if not self._any_air:
            return self._q_comp_design
        rel = _clip(1.0 + self._air_slope * (t_out - T_DESIGN_C), 0.0, self._air_max)
        if isinstance(self._is_air, bool):  # all units are air source
            return self._q_comp_design * rel
        return self._q_comp_design * np.where(self._is_air, rel, 1.0)

    def _per_unit_array(self, name: str, value: Any) -> np.ndarray | None:
        """``value`` as an array of shape (N,), or None for a scalar; ValueError for other shapes.

        Arrays pass without conversion (cheap type checks first); for a single unit the caller
        reads the one element as a scalar.
        """
        if isinstance(value, np.ndarray):
            arr = value
        elif isinstance(value, int | float | np.generic) or np.ndim(value) == 0:
            return None
        else:
            arr = np.asarray(value)
        if arr.ndim == 0:
            return None
        if arr.shape != (self.n,):
            raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or ({self.n},)")
        return arr

    def _input(self, name: str, value: Any) -> Any:
        """A per-unit input as a Python float (scalar, or N = 1) or a float array of shape (N,)."""
        arr = self._per_unit_array(name, value)
        if arr is None:
            x = float(value)
        elif self.n == 1:  # numbers read directly; other dtypes converted as numpy does
            x = float(arr.item() if arr.dtype.kind in "biuf" else arr.astype(float)[0])
        else:
            arr = arr if arr.dtype == np.float64 else arr.astype(float)
            if not math.isfinite(arr.sum()):  # one reduction: NaN or ±inf anywhere → not finite
                raise ValueError(f"{name} contains a non-finite value")
            return arr
        if not math.isfinite(x):
            raise ValueError(f"{name}={x!r} must be finite")
        return x

    def _optional_input(self, name: str, value: Any) -> tuple[Any, Any] | None:
        """An optional per-unit power input (NaN = absent for that unit), kW.

        Returns None when absent for every unit, else ``(value, given)`` with NaN replaced by 0
        and ``given`` a Python bool (scalar, or N = 1) or a bool (N,) array. Values must be >= 0.
        """
        if value is None:
            return None
        arr = self._per_unit_array(name, value)
        if arr is None or self.n == 1:
            x = float(value) if arr is None else float(np.asarray(arr, dtype=float)[0])
            if math.isnan(x):
                return None
            if not (math.isfinite(x) and x >= 0.0):
                raise ValueError(f"{name}={x!r} is not allowed; use a finite value >= 0 or NaN")
            return x, True
        arr = np.asarray(arr, dtype=float)
        given = ~np.isnan(arr)
        if not given.any():
            return None
        vals = arr[given]
        if not (np.all(np.isfinite(vals)) and vals.min() >= 0.0):
            bad = vals[~(np.isfinite(vals) & (vals >= 0.0))][0].item()
            raise ValueError(f"{name}={bad!r} is not allowed; use a finite value >= 0 or NaN")
        if given.all():
            return arr, True
        return np.where(given, arr, 0.0), given

    def _out(self, x: Any, copy: bool = False) -> np.ndarray:
        """(N,) float output, always a new array.

        A scalar is expanded; an array computed in this step is returned as it is, unless
        ``copy`` (it may be shared with state, parameters or another output) or it is not float
        (cast, which copies).
        """
        if isinstance(x, np.ndarray):
            return x.astype(float) if copy or x.dtype != np.float64 else x
        if self.n == 1:
            return np.array((float(x),))
        return np.full(self.n, float(x))

    def step(
        self,
        dt_s: float,
        Q_req_kW: ArrayLike,
        T_out_C: ArrayLike,
        T_out_24h_C: ArrayLike,
        T_out_168h_C: ArrayLike,
        dhw_mode: bool | Sequence[bool] | np.ndarray = False,
        sg_ready_state: int | Sequence[int] | np.ndarray = 2,
        P_el_set_kW: ArrayLike | None = None,
        P_limit_kW: ArrayLike | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance all units by ``dt_s`` seconds and return mean powers over the step.

        Args:
            dt_s: step length, s (> 0).
            Q_req_kW: heat requested for the current mode, kW (>= 0).
            T_out_C: outdoor air temperature, °C (air-source COP and capacity).
            T_out_24h_C: 24-h mean outdoor temperature, °C (heating curve).
            T_out_168h_C: weekly (168-h) mean outdoor temperature, °C (ground temperature).
            dhw_mode: True → heat goes to the DHW tank at ``T_dhw_supply_C``.
            sg_ready_state: 1 block (compressor and backup off, overrides min on time),
                2 normal, 3 increased operation (= 2 here; the controller raises set points),
                4 forced on (compressor at full capacity, min off time still respected).
            P_el_set_kW: electric-power setpoint of the compressor, kW (>= 0; None/NaN = follow
                ``Q_req_kW``). The compressor runs at it, clipped to [P_min, P_max] of the
                current operating point; below P_min/2 (nearest feasible power: 0) it is asked to
                stop (on/off units: run if >= P_max/2). Min on/off times still apply;
                SG-Ready 1 and 4 override it. The backup heater still follows ``Q_req_kW``.
            P_limit_kW: §14a dimming, kW (None/NaN = none): total draw incl. backup is kept
                <= max(P_limit_kW, ``P_limit_min_kW``); the backup heater is cut first, then the
                compressor modulates down; a compressor that cannot run that low stops at once.

        Returns:
            Fresh (N,) arrays: P_el_kW, P_el_compressor_kW, P_backup_kW, Q_th_kW, Q_sh_kW,
            Q_dhw_kW, Q_backup_kW, COP (Q_th/P_el incl. backup, 0 when off), T_supply_C, on,
            starts (cumulative), modulation_frac (compressor output / its capacity).
        """
        # Every quantity below is a Python scalar or an (N,) array; the helpers take both.
        dt = float(dt_s) if _is_scalar(dt_s) else math.nan
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f"dt_s={dt_s!r} must be a finite number > 0")
        n = self.n
        q_req = self._input("Q_req_kW", Q_req_kW)
        if not (q_req >= 0.0 if isinstance(q_req, float) else q_req.min() >= 0.0):
            bad = np.atleast_1d(q_req)[~(np.atleast_1d(q_req) >= 0.0)][0].item()
            raise ValueError(f"Q_req_kW={bad!r} is not allowed; requests must be >= 0")
        t_out = self._input("T_out_C", T_out_C)
        t_24 = self._input("T_out_24h_C", T_out_24h_C)
        t_168 = self._input("T_out_168h_C", T_out_168h_C)
        blocked, forced = self._sg_flags(sg_ready_state)
        dhw = self._flag("dhw_mode", dhw_mode)
        p_set = self._optional_input("P_el_set_kW", P_el_set_kW)
        p_lim = self._optional_input("P_limit_kW", P_limit_kW)

        # Temperatures and field COP of the compressor. T_sup needs no clipping for the COP
        # model: the heating curve is clipped to [30, 55] °C and T_dhw_supply_C validated so.
        # The source temperature is clipped to the COP model's range [−20, 20] °C; the ground
        # floor (0 °C) lies inside it, so one clip does both for ground source.
        t_sup, cop_c = self._compressor_cop(t_out, t_24, t_168, dhw)

        q_cap = self._capacity(t_out)
        q_min = self._q_min_ground if not self._any_air else self._mod_min * q_cap
        # §14a: allowed draw (inf where not dimmed); a compressor whose minimum is above it stops.
        lim_block: Any = False
        if p_lim is not None:
            p_allow = _where(p_lim[1], _maximum(p_lim[0], self._p_limit_min), math.inf)
            lim_block = q_min > p_allow * cop_c

        # On/off decision with anti-short-cycle times and SG-Ready overrides.
        on, t_state = self._on, self._t_state_s
        off = _not(on)
        want = q_req > 0.0
        if p_set is not None:  # the nearest feasible power: stop below half of P_min
            want = _where(p_set[1], p_set[0] * cop_c >= 0.5 * q_min, want)
        if forced is not False:
            want = want | forced
        keep = on & (want | (t_state < self._min_on_s))
        start = off & want & (t_state >= self._min_off_s)
        new_on = keep | start
        if blocked is not False:
            new_on = new_on & _not(blocked)
        if lim_block is not False:
            new_on = new_on & _not(lim_block)
        self._t_state_s = _where(new_on != on, dt, t_state + dt)
        self._starts = self._starts + (new_on & off)
        self._on = new_on

        # Heat split: compressor first (within [min modulation, capacity]), backup above capacity.
        q_comp_target = _clip(q_req, q_min, q_cap)
        if p_set is not None:
            q_comp_target = _where(p_set[1], _clip(p_set[0] * cop_c, q_min, q_cap), q_comp_target)
        if forced is not False:
            q_comp_target = _where(forced, q_cap, q_comp_target)
        if p_lim is not None:
            q_comp_target = _minimum(q_comp_target, p_allow * cop_c)
        if self._has_ramp:
            q_comp = self._ramped_heat(new_on, q_comp_target, q_cap, dt, n)
        else:
            q_comp = _where(new_on, q_comp_target, 0.0)
        q_bu = _clip(q_req - q_cap, 0.0, self._q_bu_max)
        if blocked is not False:
            q_bu = _where(blocked, 0.0, q_bu)
        p_comp = q_comp / cop_c
        p_bu = q_bu * self._inv_bu_eff
        if p_lim is not None:  # the backup heater gets what the compressor leaves of the limit
            p_bu = _minimum(p_bu, _maximum(p_allow - p_comp, 0.0))
            q_bu = p_bu / self._inv_bu_eff
        p_el = p_comp + p_bu
        q_th = q_comp + q_bu
        if self._any_air:  # the air-source capacity reaches 0 only far below any climate
            modulation = _ratio_or_zero(q_comp, q_cap, n)
        else:
            modulation = q_comp / q_cap
        q_sh = _where(dhw, 0.0, q_th)
        q_dhw = _where(dhw, q_th, 0.0)
        # Arrays computed above are new; those that may be shared (state, a parameter, another
        # output) are copied by `_out`, scalars are expanded to new arrays.
        out = self._out
        return {
            "P_el_kW": out(p_el),
            "P_el_compressor_kW": out(p_comp),
            "P_backup_kW": out(p_bu),
            "Q_th_kW": out(q_th),
            "Q_sh_kW": out(q_sh, copy=q_sh is q_th),
            "Q_dhw_kW": out(q_dhw, copy=q_dhw is q_th),
            "Q_backup_kW": out(q_bu),
            "COP": out(_ratio_or_zero(q_th, p_el, n)),
            "T_supply_C": out(t_sup, copy=t_sup is self._T_dhw_C),
            "on": out(new_on),
            "starts": out(self._starts, copy=True),
            "modulation_frac": out(modulation),
        }

    def _ramped_heat(self, new_on: Any, q_target: Any, q_cap: Any, dt: float, n: int) -> Any:
        """Step-mean compressor heat of a rate-limited modulation trajectory, kW.

        The modulation m (fraction of the current capacity) moves from its value at the end of
        the previous step (0 after a stop, so a start runs up from 0) toward the target at
        ``ramp_frac_per_s``; the step mean of that piecewise-linear path is exact. Stops are
        instantaneous.
        """
        m0 = self._mod
        m_target = _where(new_on, _ratio_or_zero(q_target, q_cap, n), 0.0)
        m_mean, m_end = _ramp_mean(m0, m_target, self._ramp * dt)
        self._mod = _where(new_on, m_end, 0.0)
        return _where(new_on, m_mean * q_cap, 0.0)

    def compressor_power_range_kW(
        self,
        T_out_C: ArrayLike,
        T_out_24h_C: ArrayLike,
        T_out_168h_C: ArrayLike,
        dhw_mode: bool | Sequence[bool] | np.ndarray = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Compressor electric power at minimum modulation and at capacity, kW, each (N,).

        The ``[P_min, P_max]`` range that ``P_el_set_kW`` is clipped to while the compressor
        runs (at the given temperatures and mode); an FCR controller uses it for the maintained
        capacity. Does not change the state.
        """
        t_out = self._input("T_out_C", T_out_C)
        cop_c = self._compressor_cop(
            t_out, self._input("T_out_24h_C", T_out_24h_C),
            self._input("T_out_168h_C", T_out_168h_C), self._flag("dhw_mode", dhw_mode))[1]
        q_cap = self._capacity(t_out)
        return self._out(self._mod_min * q_cap / cop_c), self._out(q_cap / cop_c)

    def _compressor_cop(self, t_out: Any, t_24: Any, t_168: Any, dhw: Any) -> tuple[Any, Any]:
        """(supply temperature °C, field compressor COP) for the step's inputs."""
        is_air = self._is_air
        if isinstance(is_air, bool):
            t_src_lo = T_SOURCE_MIN_C if is_air else T_GROUND_FLOOR_C
            t_src = _clip(t_out if is_air else t_168, t_src_lo, T_SOURCE_MAX_C)
        else:
            t_src = np.where(is_air, t_out, np.maximum(t_168, T_GROUND_FLOOR_C))
            t_src = _clip(t_src, T_SOURCE_MIN_C, T_SOURCE_MAX_C)
        t_curve = _clip(self._c0 + self._c1 * t_24, T_SUPPLY_MIN_C, self._sup_hi)
        t_sup = _where(dhw, self._T_dhw_C, t_curve)
        return t_sup, _cop_in_range(t_src, t_sup, self._a35, self._b35, self._a55, self._b55)

    def _flag(self, name: str, value: Any) -> bool | np.ndarray:
        """A per-unit boolean input as a Python bool (scalar, or N = 1) or a bool (N,) array."""
        if isinstance(value, bool | np.bool_):
            return bool(value)
        arr = self._per_unit_array(name, value)
        if arr is None:
            x = np.asarray(value).item()
            if x not in (0, 1):
                raise ValueError(f"{name}={x!r} is not allowed; use True or False")
            return bool(x)
        flags = arr if arr.dtype == np.bool_ else arr.astype(bool)
        return bool(flags[0]) if self.n == 1 else flags

    def _sg_flags(self, sg_ready_state: Any) -> tuple[Any, Any]:
        """(blocked, forced) from SG-Ready state(s) 1..4; Python bools or (N,) bool arrays."""
        sg = self._per_unit_array("sg_ready_state", sg_ready_state)
        if sg is None or self.n == 1:
            state = sg_ready_state if sg is None else sg.item()
            if isinstance(state, bool | np.bool_) or state not in (1, 2, 3, 4):
                raise ValueError(
                    f"sg_ready_state={state!r} is not allowed; use one of [1, 2, 3, 4]"
                )
            return bool(state == 1), bool(state == 4)
        if sg.dtype.kind in "iu":
            lo, hi = int(sg.min()), int(sg.max())
            valid_all = lo >= 1 and hi <= 4
        else:  # floats must hold whole numbers; bools and strings are rejected
            lo, hi = 1, 4
            valid_all = False
            if sg.dtype.kind == "f":
                valid_all = bool(np.all(np.isin(sg, (1.0, 2.0, 3.0, 4.0))))
        if not valid_all:
            bad = sg[~np.isin(sg, (1, 2, 3, 4))] if sg.dtype.kind in "iuf" else sg
            bad0 = np.asarray(bad[0]).item()
            raise ValueError(f"sg_ready_state={bad0!r} is not allowed; use one of [1, 2, 3, 4]")
        return (sg == 1 if lo == 1 else False), (sg == 4 if hi == 4 else False)

"""FlexHeat Nordhavn boundary data: heat demand, 2018-like DK2 prices, price composition, FCR-N.

A pure numpy/pandas core (no mosaik) for the EnergyLab Nordhavn WP5.3 FlexHeat study (issue #8):

* :func:`flexheat_demand` — hourly heat demand (kW) of the island grid (three cruise-ship
  terminals, the UNICEF warehouse, network loss / DHW base) synthesised from outdoor temperature
  and a documented usage pattern, calibrated to the report's annual energy and peak;
* :func:`dk2_2018_like_spot` — a seeded SYNTHETIC DK2 day-ahead series with 2018-like statistics
  and the report's 2018 mean 239 DKK/MWh, made with
  :func:`simulators.prices.synthetic_dk_day_ahead`;
* :class:`PriceComposition` — the report's electricity-price components (Table 6) per hour;
* :func:`fcrn_capacity_prices_2018_like` — a seeded FCR-N capacity price series, DKK/MW/h;
* :func:`load_demand_csv`, :func:`load_prices_csv`, :func:`load_energidataservice_fcr_csv`;
* :func:`write_bundled` — regenerates the bundled CSVs in ``scenarios/library/data``.

Time series carry a UTC DatetimeIndex whose stamps mark the START of each hour. Construction,
statistics and sources: ``docs/models/flexheat-data.md``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.signal import lfilter

from simulators.prices import (
    LOCAL_TZ,
    Tariff,
    _index_from_epoch,
    _parse_number,
    _parse_timestamp,
    _sniff_delimiter,
    synthetic_dk_day_ahead,
)
from simulators.weather import reference_weather

__all__ = [
    "REPORT_ANNUAL_MWH",
    "REPORT_COST_TABLE_MWH",
    "REPORT_MIN_KW",
    "REPORT_MEAN_KW",
    "REPORT_MAX_KW",
    "HOURS_FOR_REPORT_MEAN",
    "DemandParams",
    "flexheat_demand",
    "load_demand_csv",
    "SpotParams",
    "DK2_2018_LIKE_SPOT",
    "dk2_2018_like_spot",
    "PriceComposition",
    "FcrnParams",
    "fcrn_capacity_prices_2018_like",
    "load_energidataservice_fcr_csv",
    "load_prices_csv",
    "write_bundled",
    "BUNDLED_DEMAND_FILE",
    "BUNDLED_PRICES_FILE",
]

# ------------------------------------------------------------------------------------------------
# report figures (EnergyLab Nordhavn WP5.3, Table 1 and Table 2)
# ------------------------------------------------------------------------------------------------

REPORT_ANNUAL_MWH: float = 1950.0
"""Area heat demand, MWh/yr (report Table 1)."""
REPORT_COST_TABLE_MWH: float = 1925.0
"""Heat production in the cost table, MWh/yr (report Table 2)."""
REPORT_MIN_KW: float = 20.0
"""Minimum demand 0.02 MW (report Table 1)."""
REPORT_MEAN_KW: float = 270.0
"""'Average demand' 0.27 MW (report Table 1; inconsistent with 1950 MWh over 8760 h)."""
REPORT_MAX_KW: float = 710.0
"""Maximum demand 0.71 MW (report Table 1)."""
HOURS_FOR_REPORT_MEAN: float = REPORT_ANNUAL_MWH * 1000.0 / REPORT_MEAN_KW
"""1950 MWh / 0.27 MW = 7222 h: the number of hours over which 0.27 MW would be the mean."""

T_BALANCE_SEARCH_C: tuple[float, float] = (8.0, 24.0)
"""Bracket of the balance-temperature solve, °C."""


def _year_index(year: int) -> pd.DatetimeIndex:
    """Hourly UTC stamps of the UTC calendar year ``year``."""
    ok = isinstance(year, (int, np.integer)) and not isinstance(year, bool)
    if not ok or not 2000 <= year <= 2100:
        raise ValueError(f"year={year!r} is not allowed; use an integer 2000..2100")
    return pd.date_range(
        datetime(int(year), 1, 1, tzinfo=UTC),
        datetime(int(year) + 1, 1, 1, tzinfo=UTC),
        freq="h",
        inclusive="left",
        name="time",
    )


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed; use an integer >= 0")
    return int(seed)


def _check_range(name: str, value: float, lo: float, hi: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name}={value!r} is not allowed; it must be in [{lo:g}, {hi:g}]")
    return v


def _ar1(rng: np.random.Generator, n: int, tau_h: float) -> np.ndarray:
    """Unit-variance stationary AR(1) series of length n with e-folding time tau_h hours."""
    phi = math.exp(-1.0 / tau_h)
    e = rng.standard_normal(n)
    e[0] /= math.sqrt(1.0 - phi * phi)
    return lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], e)


# ------------------------------------------------------------------------------------------------
# heat demand
# ------------------------------------------------------------------------------------------------

DEFAULT_PORT_DAY_PROB: tuple[float, ...] = (
    0.0, 0.0, 0.0, 0.10, 0.45, 0.60, 0.70, 0.70, 0.50, 0.15, 0.0, 0.0,
)  # fmt: skip
"""Probability (per terminal and day, by month Jan..Dec) that a cruise ship is alongside.
Assumption: the Copenhagen cruise season runs ≈ May–September with shoulder calls in April and
October; 3 terminals × ≈ 0.6 in Jun–Aug gives the ≈ 1–3 ships a day typical of peak season."""


@dataclass(frozen=True)
class DemandParams:
    """Usage pattern of the FlexHeat island grid (all hours in Europe/Copenhagen local time).

    Three quantities are SOLVED, not set: the constant base load (kW, network loss + DHW
    circulation) from ``min_kW``, the total heat-loss coefficient ``UA`` (kW/K) from ``max_kW``
    and the balance temperature from ``annual_MWh`` (unless ``T_balance_C`` is given).
    """

    annual_MWh: float = REPORT_ANNUAL_MWH
    """Target annual heat demand, MWh (report Table 1)."""
    max_kW: float = REPORT_MAX_KW
    """Target peak hourly demand, kW (report Table 1)."""
    min_kW: float = REPORT_MIN_KW
    """Target minimum hourly demand, kW (report Table 1); used when ``T_balance_C`` is None."""
    T_balance_C: float | None = None
    """Heating limit (balance temperature), °C: below it space heating is ∝ (T_balance − T_eff).
    None (default): solved so that min, max and energy all meet their targets (it lands at
    ≈ 15–17 °C, the usual heating limit of buildings with internal gains; Danish degree days use
    17 °C). A number: fixed, and only energy and max are calibrated (min then follows)."""
    building_tau_h: float = 12.0
    """Thermal inertia: T_eff is an exponential mean of T_out with this time constant, h."""
    warehouse_share: float = 0.6
    """Share of the heat-loss coefficient in the UNICEF warehouse (rest: three terminals)."""
    office_hours: tuple[int, int] = (6, 18)
    """Warehouse occupied weekdays from/to these local hours."""
    warehouse_setback: float = 0.75
    """Warehouse heating factor outside office hours and at weekends (night setback)."""
    warmup_hours: int = 2
    """First office hours with morning warm-up after the setback."""
    warmup_factor: float = 1.15
    """Heating factor during warm-up."""
    office_dhw_kW: float = 10.0
    """Warehouse domestic hot water during office hours, kW."""
    n_terminals: int = 3
    """Cruise-ship terminals."""
    port_day_prob: tuple[float, ...] = DEFAULT_PORT_DAY_PROB
    """Per-terminal, per-day probability of a ship call, by month."""
    call_hours: tuple[int, int] = (6, 19)
    """Terminal halls heated from/to these local hours on a port day (arrival ≈ 07:00, departure
    17–18:00, one hour of pre-heating)."""
    terminal_call_factor: float = 1.2
    """Heating factor of an occupied hall (doors open for passengers, ventilation on)."""
    terminal_idle_factor: float = 0.5
    """Heating factor of an empty hall (frost protection / background heating)."""
    call_dhw_kW: float = 25.0
    """Temperature-independent load per terminal during call hours (DHW, ventilation reheat), kW."""
    noise_sigma: float = 0.05
    """Relative std of the multiplicative AR(1) noise on space heating (-)."""
    noise_tau_h: float = 3.0
    """E-folding time of that noise, h."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad parameter."""
        _check_range("annual_MWh", self.annual_MWh, 1e-3, 1e9)
        _check_range("max_kW", self.max_kW, 1e-3, 1e9)
        _check_range("min_kW", self.min_kW, 0.0, self.max_kW)
        if self.T_balance_C is not None:
            _check_range("T_balance_C", self.T_balance_C, -20.0, 30.0)
        _check_range("building_tau_h", self.building_tau_h, 0.0, 500.0)
        _check_range("warehouse_share", self.warehouse_share, 0.0, 1.0)
        for name in (
            "warehouse_setback",
            "warmup_factor",
            "terminal_call_factor",
            "terminal_idle_factor",
        ):
            _check_range(name, getattr(self, name), 0.0, 10.0)
        for name in ("office_dhw_kW", "call_dhw_kW"):
            _check_range(name, getattr(self, name), 0.0, 1e6)
        _check_range("noise_sigma", self.noise_sigma, 0.0, 0.5)
        _check_range("noise_tau_h", self.noise_tau_h, 1e-3, 1e4)
        for name in ("office_hours", "call_hours"):
            a, b = getattr(self, name)
            if not (0 <= a < b <= 24):
                raise ValueError(f"{name}={(a, b)!r} is not allowed; need 0 <= from < to <= 24")
        if not 0 <= int(self.warmup_hours) <= 24:
            raise ValueError(f"warmup_hours={self.warmup_hours!r} must be in 0..24")
        if not 0 <= int(self.n_terminals) <= 20:
            raise ValueError(f"n_terminals={self.n_terminals!r} must be in 0..20")
        p = np.asarray(self.port_day_prob, dtype=float)
        if p.shape != (12,) or not np.all((p >= 0) & (p <= 1)):
            raise ValueError(
                f"port_day_prob={self.port_day_prob!r} must be 12 probabilities in [0, 1]"
            )


def _hourly_weather(weather: pd.Series, first: pd.Timestamp, last: pd.Timestamp) -> pd.Series:
    """Weather interpolated (in time) onto the hourly stamps first..last (UTC)."""
    if not isinstance(weather, pd.Series) or not isinstance(weather.index, pd.DatetimeIndex):
        raise ValueError("weather must be a pandas Series (°C) with a DatetimeIndex")
    idx = weather.index
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    w = pd.Series(weather.to_numpy(dtype=float), index=idx).sort_index()
    if not np.all(np.isfinite(w.to_numpy())):
        raise ValueError("weather contains non-finite temperatures")
    if len(w) < 2 or w.index[0] > first or w.index[-1] < last:
        have = f"{w.index[0]} .. {w.index[-1]}" if len(w) else "nothing"
        raise ValueError(f"weather must cover {first} .. {last} (UTC); it covers {have}")
    t0 = max(w.index[0], first - pd.Timedelta(days=7)).ceil("h")
    grid = pd.date_range(t0, last, freq="h")
    x = (w.index - first).total_seconds().to_numpy()
    xg = (grid - first).total_seconds().to_numpy()
    return pd.Series(np.interp(xg, x, w.to_numpy()), index=grid)


def _ema(values: np.ndarray, tau_h: float) -> np.ndarray:
    """Exponential moving average with time constant tau_h (hours), hourly samples."""
    if tau_h <= 0:
        return values.copy()
    a = 1.0 - math.exp(-1.0 / tau_h)
    out = lfilter([a], [1.0, -(1.0 - a)], values - values[0]) + values[0]
    return out


def _demand_components(
    index: pd.DatetimeIndex, seed: int, p: DemandParams
) -> tuple[np.ndarray, np.ndarray]:
    """Heating weight W (occupancy factor × noise, (n,)) and fixed load F (kW, (n,)) on the
    hourly ``index``; space heating is then ``UA·max(0, T_balance − T_eff)·W``."""
    local = index.tz_convert(LOCAL_TZ)
    hour = np.asarray(local.hour)
    weekday = np.asarray(local.dayofweek) < 5
    month = np.asarray(local.month)
    day_code = np.asarray(local.normalize().tz_localize(None).asi8 // (86400 * 10**9))

    # warehouse: office hours on weekdays, morning warm-up, setback otherwise
    o0, o1 = p.office_hours
    office = weekday & (hour >= o0) & (hour < o1)
    warmup = office & (hour < o0 + int(p.warmup_hours))
    f_wh = np.where(office, np.where(warmup, p.warmup_factor, 1.0), p.warehouse_setback)

    # terminals: seeded port days (per terminal and local date), heated during call hours
    n_t = int(p.n_terminals)
    ss = np.random.SeedSequence([seed, 8, 1])
    g_call, g_noise = (np.random.default_rng(s) for s in ss.spawn(2))
    days, inv = np.unique(day_code, return_inverse=True)
    day_month = np.zeros(days.size, dtype=np.int64)
    day_month[inv] = month
    prob = np.asarray(p.port_day_prob, dtype=float)[day_month - 1]
    port_day = g_call.random((n_t, days.size)) < prob[None, :]  # (n_t, days)
    c0, c1 = p.call_hours
    in_call_hours = (hour >= c0) & (hour < c1)
    n_calls = port_day[:, inv].sum(axis=0) * in_call_hours
    if n_t:
        f_term = (n_calls * p.terminal_call_factor + (n_t - n_calls) * p.terminal_idle_factor) / n_t
    else:
        f_term = np.zeros(hour.size)

    noise = np.maximum(0.0, 1.0 + p.noise_sigma * _ar1(g_noise, hour.size, p.noise_tau_h))
    share = p.warehouse_share
    W = (share * f_wh + (1.0 - share) * f_term) * noise
    F = p.office_dhw_kW * office + p.call_dhw_kW * n_calls
    return W, F.astype(float)


def _solve_min_max(H: np.ndarray, F: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Base B and UA with min(B + UA·H + F) = lo and max(...) = hi (UA >= 0)."""
    j, k = int(np.argmin(H)), int(np.argmax(H))
    ua = base = 0.0
    for _ in range(50):
        dh = H[k] - H[j]
        if dh <= 0:
            raise ValueError("demand pattern has no heating driver; cannot calibrate")
        ua = (hi - lo - F[k] + F[j]) / dh
        base = lo - ua * H[j] - F[j]
        q = ua * H + F
        j2, k2 = int(np.argmin(q)), int(np.argmax(q))
        if (j2, k2) == (j, k):
            break
        j, k = j2, k2
    return float(base), float(ua)


def _solve_energy_max(H: np.ndarray, F: np.ndarray, E_kWh: float, hi: float) -> tuple[float, float]:
    """Base B and UA with sum(B + UA·H + F) = E_kWh and max(...) = hi."""
    n = H.size
    k = int(np.argmax(H))
    ua = base = 0.0
    for _ in range(50):
        denom = H.sum() - n * H[k]
        if denom >= 0:
            raise ValueError("demand pattern has no heating driver; cannot calibrate")
        ua = (E_kWh - F.sum() - n * (hi - F[k])) / denom
        base = hi - F[k] - ua * H[k]
        k2 = int(np.argmax(ua * H + F))
        if k2 == k:
            break
        k = k2
    return float(base), float(ua)


def _calibrate(
    T_eff: np.ndarray, W: np.ndarray, F: np.ndarray, p: DemandParams
) -> tuple[float, float, float]:
    """(T_balance_C, base_kW, UA_kW_per_K) meeting the targets of ``p`` (see DemandParams)."""
    E = p.annual_MWh * 1000.0

    def heat(tb: float) -> np.ndarray:
        return np.maximum(0.0, tb - T_eff) * W

    if p.T_balance_C is not None:
        tb = float(p.T_balance_C)
        base, ua = _solve_energy_max(heat(tb), F, E, p.max_kW)
    else:

        def energy_error(tb: float) -> float:
            b, u = _solve_min_max(heat(tb), F, p.min_kW, p.max_kW)
            return float(np.sum(b + u * heat(tb) + F)) - E

        lo, hi = T_BALANCE_SEARCH_C
        e_lo, e_hi = energy_error(lo), energy_error(hi)
        if not e_lo < 0 < e_hi:
            raise ValueError(
                f"annual_MWh={p.annual_MWh:g} is not reachable with min_kW={p.min_kW:g} and "
                f"max_kW={p.max_kW:g} for a balance temperature in {lo:g}..{hi:g} °C "
                f"(annual energy there: {(e_lo + E) / 1000:.0f}..{(e_hi + E) / 1000:.0f} MWh)"
            )
        tb = float(brentq(energy_error, lo, hi, xtol=1e-9))
        base, ua = _solve_min_max(heat(tb), F, p.min_kW, p.max_kW)
    if not (ua > 0 and base >= 0):
        raise ValueError(
            f"targets annual_MWh={p.annual_MWh:g}, max_kW={p.max_kW:g} cannot be met by this "
            f"usage pattern with T_balance_C={tb:.2f} (solved UA={ua:.3g} kW/K, "
            f"base={base:.3g} kW; both must be positive)"
        )
    return tb, base, ua


def flexheat_demand(
    year: int = 2018,
    seed: int = 0,
    weather: pd.Series | None = None,
    params: DemandParams | None = None,
) -> pd.Series:
    """Hourly heat demand of the FlexHeat island grid, kW, for the UTC calendar ``year``.

    ``Q(t) = base + UA·max(0, T_balance − T_eff(t))·W(t) + F(t)`` with ``T_eff`` the exponential
    mean (``building_tau_h``) of the outdoor temperature, ``W`` the occupancy-weighted heating
    factor of warehouse and terminals times a small AR(1) noise, ``F`` the temperature-independent
    DHW / ventilation loads (see :class:`DemandParams`). ``base``, ``UA`` and (unless
    ``params.T_balance_C`` is set) ``T_balance`` are solved so that the year's minimum, maximum
    and energy equal ``params.min_kW``, ``params.max_kW`` and ``params.annual_MWh``.

    Args:
        year: calendar year (UTC hours; 8760 or 8784 values).
        seed: seed of the ship-call schedule, the noise and (if ``weather`` is None) of the
            Danish reference year; the same seed gives the same series.
        weather: outdoor temperature, °C, Series with a DatetimeIndex covering the year
            (interpolated to the hours); default :func:`simulators.weather.reference_weather`.
        params: usage pattern and targets; default :class:`DemandParams`.

    Returns:
        Series ``Q_demand_kW`` (UTC index ``time``), attrs ``base_kW``, ``UA_kW_per_K``,
        ``T_balance_C``.
    """
    p = DemandParams() if params is None else params
    if not isinstance(p, DemandParams):
        raise ValueError(f"params={params!r} must be a DemandParams")
    p.validate()
    seed = _check_seed(seed)
    index = _year_index(year)
    first, last = index[0], index[-1]
    if weather is None:
        duration_s = (last - first).total_seconds()
        weather = reference_weather(first.to_pydatetime(), duration_s, seed=seed)
    w = _hourly_weather(weather, first, last)
    T_eff = pd.Series(_ema(w.to_numpy(), p.building_tau_h), index=w.index).loc[first:last]
    W, F = _demand_components(index, seed, p)
    tb, base, ua = _calibrate(T_eff.to_numpy(), W, F, p)
    q = base + ua * np.maximum(0.0, tb - T_eff.to_numpy()) * W + F
    out = pd.Series(q, index=index, name="Q_demand_kW")
    out.attrs.update(
        {"unit": "kW", "base_kW": base, "UA_kW_per_K": ua, "T_balance_C": tb, "seed": seed}
    )
    return out


def _read_table(path: str | PathLike[str], what: str) -> tuple[Path, list[str], list[tuple]]:
    """CSV rows (line number, fields) after '#' comment lines and the header."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r}: no such file")
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    body = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")]
    if not body:
        raise ValueError(f"{what} {p}: empty file; expected a header row")
    delim = _sniff_delimiter(body[0][1])
    header = [h.strip() for h in next(csv.reader([body[0][1]], delimiter=delim))]
    rows = [(n, next(csv.reader([ln], delimiter=delim))) for n, ln in body[1:]]
    return p, header, rows


def _parse_series(
    path: str | PathLike[str], what: str, columns: Sequence[str]
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Parse a 'time,<columns>' CSV (comment lines '#'), strictly increasing UTC times."""
    p, header, rows = _read_table(path, what)
    lower = [h.lower() for h in header]
    for col in ("time", *columns):
        if col.lower() not in lower:
            raise ValueError(f"{what} {p}:1: no column {col!r}; columns found: {header}")
    i_t = lower.index("time")
    i_c = [lower.index(c.lower()) for c in columns]
    times: list[float] = []
    vals: list[list[float]] = []
    lines: list[int] = []
    for n, row in rows:
        if len(row) != len(header):
            raise ValueError(f"{what} {p}:{n}: {len(row)} fields, expected {len(header)}")
        try:
            t = _parse_timestamp(row[i_t])
        except ValueError as exc:
            raise ValueError(f"{what} {p}:{n}: bad time {row[i_t]!r} ({exc})") from None
        rec = []
        for col, i in zip(columns, i_c, strict=True):
            try:
                rec.append(_parse_number(row[i]))
            except ValueError as exc:
                raise ValueError(f"{what} {p}:{n}: bad {col} value {row[i]!r} ({exc})") from None
        if times and t <= times[-1]:
            raise ValueError(
                f"{what} {p}:{n}: time {row[i_t].strip()!r} is not after the previous row "
                f"(line {lines[-1]}); times must strictly increase"
            )
        times.append(t)
        vals.append(rec)
        lines.append(n)
    if not times:
        raise ValueError(f"{what} {p}: no data rows")
    index = _index_from_epoch(np.asarray(times))
    index.name = "time"
    arr = np.asarray(vals, dtype=float)
    return index, {c: arr[:, j] for j, c in enumerate(columns)}


def load_demand_csv(path: str | PathLike[str]) -> pd.Series:
    """Read a heat-demand CSV: header ``time,kW`` (ISO-8601 UTC times, naive = UTC), lines
    starting with '#' are comments. Returns Series ``Q_demand_kW`` (kW, UTC index).

    Raises ValueError naming the file and line for a missing column, bad time, bad or negative
    value, or a time not strictly after the previous row.
    """
    index, cols = _parse_series(path, "demand CSV", ["kW"])
    q = cols["kW"]
    bad = np.nonzero(q < 0)[0]
    if bad.size:
        raise ValueError(
            f"demand CSV {path}: negative demand {q[bad[0]]:g} kW at {index[bad[0]]}; "
            "demand must be >= 0"
        )
    out = pd.Series(q, index=index, name="Q_demand_kW")
    out.attrs.update({"unit": "kW", "source": str(path)})
    return out


# ------------------------------------------------------------------------------------------------
# 2018-like DK2 spot prices
# ------------------------------------------------------------------------------------------------

DK2_2018_WEEKDAY_SHAPE: tuple[float, ...] = (
    0.79, 0.75, 0.73, 0.72, 0.73, 0.81, 0.97, 1.19, 1.27, 1.23, 1.18, 1.13,
    1.07, 1.05, 1.03, 1.03, 1.05, 1.14, 1.17, 1.15, 1.07, 1.00, 0.93, 0.83,
)  # fmt: skip
"""DK2 2018 weekday mean price by local hour / weekday mean (Energi Data Service Elspotprices)."""

DK2_2018_WEEKEND_SHAPE: tuple[float, ...] = (
    0.94, 0.87, 0.84, 0.83, 0.83, 0.86, 0.92, 0.98, 1.04, 1.08, 1.09, 1.06,
    1.04, 1.00, 0.98, 0.99, 1.03, 1.12, 1.18, 1.18, 1.13, 1.07, 1.03, 0.94,
)  # fmt: skip
"""DK2 2018 weekend mean price by local hour / weekend mean (same source)."""

DK2_2018_MONTHLY_LEVEL: tuple[float, ...] = (
    0.683, 0.867, 0.929, 0.782, 0.821, 1.054, 1.156, 1.231, 1.122, 1.103, 1.185, 1.065,
)  # fmt: skip
"""DK2 2018 monthly mean price / annual mean (same source): the dry, hot summer of 2018 made
Jul–Nov dear and January cheap — unlike the generator's default winter-high cosine."""


@dataclass(frozen=True)
class SpotParams:
    """Parameters of :func:`dk2_2018_like_spot` (passed to
    :func:`simulators.prices.synthetic_dk_day_ahead`; see docs/models/prices.md).

    The defaults (``DK2_2018_LIKE_SPOT``) were chosen so that the RELATIVE statistics (std /
    mean, daily spread / mean, max / mean, lag-1 autocorrelation, P5 / P95) of seeds 0–5 match
    those of the real DK2 2018 series; see docs/models/flexheat-data.md. They were NOT tuned to
    the report's cost table. Raise ``wind_sigma`` for more volatility.
    """

    mean_DKK_per_MWh: float = 239.0
    """Annual mean, the report's '2018 average reference' (Table 6)."""
    wind_sigma: float = 0.27
    """Std of the weather term relative to the mean (-)."""
    wind_persistence_h: float = 42.0
    """E-folding time of the weather term, h."""
    spike_hours_per_year: float = 12.0
    """Expected spike hours per year."""
    spike_scale: float = 1.6
    """Median spike height relative to the mean (-)."""
    negative_damping: float = 0.3
    """Factor on negative raw prices (-)."""
    weekend_factor: float = 0.84
    """Weekend level relative to weekdays (DK2 2018: 0.883 / 1.047)."""
    weekday_shape: tuple[float, ...] = DK2_2018_WEEKDAY_SHAPE
    weekend_shape: tuple[float, ...] = DK2_2018_WEEKEND_SHAPE
    monthly_level: tuple[float, ...] | None = DK2_2018_MONTHLY_LEVEL
    """12 relative monthly levels (local months) applied after the generator; None: none."""
    seasonal_amplitude: float = 0.0
    """The generator's winter-high cosine amplitude (0: seasonality from ``monthly_level``)."""


DK2_2018_LIKE_SPOT = SpotParams()
"""The documented 2018-like DK2 parameter set."""


def dk2_2018_like_spot(seed: int = 0, params: SpotParams = DK2_2018_LIKE_SPOT) -> pd.Series:
    """SYNTHETIC 2018-like DK2 day-ahead prices, DKK/MWh, hourly for the UTC year 2018.

    ``p = synthetic_dk_day_ahead(2018, seed, ...)·m(local month)``, rescaled so that the year
    averages exactly ``params.mean_DKK_per_MWh``. Not market data.

    Returns:
        Series ``price_spot_DKK_per_MWh`` (8760 values, UTC index ``time``).
    """
    seed = _check_seed(seed)
    if not isinstance(params, SpotParams):
        raise ValueError(f"params={params!r} must be a SpotParams")
    mean = params.mean_DKK_per_MWh
    raw = synthetic_dk_day_ahead(
        datetime(2018, 1, 1),
        datetime(2019, 1, 1),
        seed=seed,
        mean_DKK_per_MWh=mean,
        seasonal_amplitude=params.seasonal_amplitude,
        weekend_factor=params.weekend_factor,
        weekday_shape=params.weekday_shape,
        weekend_shape=params.weekend_shape,
        wind_sigma=params.wind_sigma,
        wind_persistence_h=params.wind_persistence_h,
        spike_hours_per_year=params.spike_hours_per_year,
        spike_scale=params.spike_scale,
        negative_damping=params.negative_damping,
    )
    v = raw.to_numpy(dtype=float).copy()
    if params.monthly_level is not None:
        ml = np.asarray(params.monthly_level, dtype=float)
        if ml.shape != (12,) or not np.all(np.isfinite(ml)) or np.any(ml <= 0):
            raise ValueError(
                f"monthly_level={params.monthly_level!r} must be 12 finite positive values"
            )
        month = np.asarray(raw.index.tz_convert(LOCAL_TZ).month)
        v *= ml[month - 1]
        v *= mean / v.mean()
    out = pd.Series(v, index=raw.index, name="price_spot_DKK_per_MWh")
    out.index.name = "time"
    out.attrs.update(
        {
            "currency": "DKK",
            "resolution_s": 3600,
            "dataset": "synthetic-dk2-2018-like",
            "seed": seed,
        }
    )
    return out


# ------------------------------------------------------------------------------------------------
# price composition (report Table 6)
# ------------------------------------------------------------------------------------------------

COMPONENTS: tuple[str, ...] = (
    "pso", "tso_tariff", "system_tariff", "el_heat_tax", "balance_tariff", "distribution",
)  # fmt: skip
"""Non-spot components of the electricity price, in the order of the report's Table 6."""

_WINTER_DAYS = 182  # Jan+Feb+Mar+Oct+Nov+Dec of a non-leap year (Tarifmodel 3.0 winter)
_SUMMER_DAYS = 183


@dataclass(frozen=True)
class PriceComposition:
    """Electricity price components paid by the heat pump, all DKK/MWh (report Table 6).

    ``total(t) = (spot(t) + pso + tso_tariff + system_tariff + el_heat_tax + balance_tariff +
    distribution(t))·(1 + vat_frac)``. The distribution price is flat (``distribution``) or, with
    ``distribution_tou``, follows the shape of that :class:`simulators.prices.Tariff` scaled to
    the same time-average over a year (182 winter + 183 summer days).
    """

    pso: float = 101.0
    """PSO tariff, DKK/MWh."""
    tso_tariff: float = 38.0
    """Energinet net (TSO) tariff, DKK/MWh."""
    system_tariff: float = 42.0
    """Energinet system tariff, DKK/MWh."""
    el_heat_tax: float = 257.0
    """Electricity-to-heat tax (elvarmeafgift), DKK/MWh."""
    balance_tariff: float = 1.0
    """Balance tariff, DKK/MWh."""
    distribution: float = 117.0
    """Distribution (DSO) price, time-average, DKK/MWh (report: 2018 mean)."""
    distribution_tou: Tariff | None = field(default=None, compare=False)
    """Optional time-of-use shape for the distribution price (mean preserved)."""
    vat_frac: float = 0.0
    """VAT fraction on the sum (0: a utility deducts VAT)."""

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            v = getattr(self, name)
            if not math.isfinite(float(v)):
                raise ValueError(f"{name}={v!r} is not allowed; it must be finite (DKK/MWh)")
        _check_range("vat_frac", self.vat_frac, 0.0, 1.0)
        if self.distribution_tou is not None and not isinstance(self.distribution_tou, Tariff):
            raise ValueError(
                f"distribution_tou={self.distribution_tou!r} must be a simulators.prices.Tariff"
            )

    @classmethod
    def report_2019(cls, **overrides: object) -> PriceComposition:
        """The 2019 column of Table 6 (the one used with 2018 prices): with the 239 DKK/MWh
        energy price the total is 795 DKK/MWh."""
        return cls(**overrides)  # type: ignore[arg-type]

    @classmethod
    def report_2022(cls, **overrides: object) -> PriceComposition:
        """The 2022 column of Table 6: PSO phased out, electricity-to-heat tax 155 DKK/MWh
        (total 592 DKK/MWh with 239 energy)."""
        kw: dict[str, object] = {"pso": 0.0, "el_heat_tax": 155.0}
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]

    @property
    def fixed_DKK_per_MWh(self) -> float:
        """Mean of all non-spot components before VAT, DKK/MWh."""
        return float(sum(getattr(self, c) for c in COMPONENTS))

    def mean_total(self, spot_mean_DKK_per_MWh: float) -> float:
        """Time-average total price for a given mean spot price, DKK/MWh (incl. VAT)."""
        return (float(spot_mean_DKK_per_MWh) + self.fixed_DKK_per_MWh) * (1.0 + self.vat_frac)

    def _distribution_at(self, times: pd.DatetimeIndex) -> np.ndarray:
        if self.distribution_tou is None:
            return np.full(len(times), float(self.distribution))
        table = self.distribution_tou.table_DKK_per_MWh
        year_mean = (_WINTER_DAYS * table[0].mean() + _SUMMER_DAYS * table[1].mean()) / (
            _WINTER_DAYS + _SUMMER_DAYS
        )
        if not year_mean > 0:
            raise ValueError(
                f"distribution_tou has a non-positive time-average ({year_mean:g} DKK/MWh)"
            )
        return self.distribution * self.distribution_tou.at(times) / year_mean

    def components_at(
        self, times: pd.DatetimeIndex, spot: pd.Series | np.ndarray | Sequence[float]
    ) -> pd.DataFrame:
        """Per-interval components, DKK/MWh: columns ``spot``, ``pso``, ``tso_tariff``,
        ``system_tariff``, ``el_heat_tax``, ``balance_tariff``, ``distribution``, ``vat`` and
        ``total`` (their sum), index ``times``.

        Args:
            times: UTC interval starts (naive = UTC), any resolution.
            spot: DKK/MWh; a Series is aligned on ``times`` (each time must be in its index),
                an array must have ``len(times)`` values.
        """
        if not isinstance(times, pd.DatetimeIndex):
            raise ValueError(f"times must be a pandas DatetimeIndex, got {type(times).__name__}")
        idx = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
        if isinstance(spot, pd.Series):
            s_idx = spot.index
            if not isinstance(s_idx, pd.DatetimeIndex):
                raise ValueError("spot Series must have a DatetimeIndex")
            s_idx = s_idx.tz_localize("UTC") if s_idx.tz is None else s_idx.tz_convert("UTC")
            s = pd.Series(spot.to_numpy(dtype=float), index=s_idx)
            missing = idx.difference(s_idx)
            if len(missing):
                raise ValueError(
                    f"spot has no value for {len(missing)} of the times, first {missing[0]}"
                )
            sp = s.reindex(idx).to_numpy(dtype=float)
        else:
            sp = np.asarray(spot, dtype=float)
            if sp.shape != (len(idx),):
                raise ValueError(
                    f"spot has shape {sp.shape}; it must have len(times) = {len(idx)} values"
                )
        if not np.all(np.isfinite(sp)):
            raise ValueError("spot contains non-finite prices")
        cols: dict[str, np.ndarray] = {"spot": sp}
        for c in COMPONENTS[:-1]:
            cols[c] = np.full(len(idx), float(getattr(self, c)))
        cols["distribution"] = self._distribution_at(idx)
        net = np.sum(np.vstack(list(cols.values())), axis=0)
        cols["vat"] = self.vat_frac * net
        cols["total"] = net + cols["vat"]
        df = pd.DataFrame(cols, index=idx)
        df.index.name = "time"
        df.attrs["unit"] = "DKK/MWh"
        return df


# ------------------------------------------------------------------------------------------------
# FCR-N capacity prices
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FcrnParams:
    """Parameters of :func:`fcrn_capacity_prices_2018_like` (see docs for the reasoning)."""

    mean_DKK_per_MW_h: float = 150.0
    """Annual mean capacity price, DKK per MW per hour. ESTIMATE (no published 2018 DK2 value
    found): between Energinet's DK-E FNR 2013–14 average (70 000–100 000 DKK/MW/month ≈
    96–137 DKK/MW/h, iPower App. 7.4.1) and DK2 2021 (275 DKK/MW/h, Energi Data Service
    FcrReservesDK2), scaled with the spot level (DK2 2018 ≈ 0.53 × 2021)."""
    seasonal_amplitude: float = 0.2
    """Relative amplitude of a cosine peaking ``seasonal_peak_doy`` (DK2 2021: May–Jul high,
    Mar–Apr low)."""
    seasonal_peak_doy: float = 182.0
    """Day of year of the seasonal maximum."""
    diurnal_amplitude: float = 0.06
    """Relative amplitude of the daily cosine, maximum at ``diurnal_peak_local_h`` (DK2 2021:
    night ≈ +6 %, early afternoon ≈ −6 %)."""
    diurnal_peak_local_h: float = 1.0
    """Local hour of the daily maximum."""
    sigma_log: float = 0.4
    """Std of the log-normal AR(1) variation (-)."""
    persistence_h: float = 36.0
    """E-folding time of that variation, h."""


def fcrn_capacity_prices_2018_like(
    seed: int = 0, params: FcrnParams | None = None, *, mean_DKK_per_MW_h: float | None = None
) -> pd.Series:
    """SYNTHETIC DK2 FCR-N capacity prices for the UTC year 2018, DKK per MW per hour.

    ``c(t) = M·s(doy)·d(h_local)·exp(σ z(t))``, rescaled to the exact annual mean ``M``;
    ``s = 1 + A_s cos(2π(doy − doy_peak)/365)``, ``d = 1 + A_d cos(2π(h − h_peak)/24)``, ``z`` a
    unit AR(1) process. The price a provider is paid per MW of symmetric capacity per hour.

    Args:
        seed: random seed (independent streams from the spot prices).
        params: :class:`FcrnParams`; ``mean_DKK_per_MW_h`` overrides its mean.
    """
    seed = _check_seed(seed)
    p = FcrnParams() if params is None else params
    mean = p.mean_DKK_per_MW_h if mean_DKK_per_MW_h is None else mean_DKK_per_MW_h
    mean = _check_range("mean_DKK_per_MW_h", mean, 0.0, 1e6)
    _check_range("seasonal_amplitude", p.seasonal_amplitude, 0.0, 0.99)
    _check_range("diurnal_amplitude", p.diurnal_amplitude, 0.0, 0.99)
    _check_range("sigma_log", p.sigma_log, 0.0, 3.0)
    _check_range("persistence_h", p.persistence_h, 1e-3, 1e4)
    index = _year_index(2018)
    doy = np.asarray(index.dayofyear, dtype=float) - 1.0 + np.asarray(index.hour) / 24.0
    hour = np.asarray(index.tz_convert(LOCAL_TZ).hour, dtype=float)
    season = 1.0 + p.seasonal_amplitude * np.cos(2 * np.pi * (doy - p.seasonal_peak_doy) / 365.0)
    daily = 1.0 + p.diurnal_amplitude * np.cos(2 * np.pi * (hour - p.diurnal_peak_local_h) / 24.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8, 2]))
    z = _ar1(rng, len(index), p.persistence_h)
    v = season * daily * np.exp(p.sigma_log * z)
    v *= mean / v.mean() if v.mean() > 0 else 0.0
    out = pd.Series(v, index=index, name="price_fcr_n_DKK_per_MW_h")
    out.attrs.update(
        {
            "currency": "DKK",
            "unit": "DKK/MW/h",
            "dataset": "synthetic-fcr-n-2018-like",
            "seed": seed,
        }
    )
    return out


def load_energidataservice_fcr_csv(path: str | PathLike[str], currency: str = "DKK") -> pd.Series:
    """Read an Energi Data Service ``FcrReservesDK2`` CSV download (DK2 primary reserves, hourly;
    columns HourUTC, HourDK, FCR_N_PriceDKK, FCR_N_PriceEUR, FCR_D_UpPriceDKK, ...).

    ',' or ';' delimiter, decimal point or comma, rows in any order (downloads are newest-first).
    Returns the FCR-N capacity price ``price_fcr_n_<cur>_per_MW_h`` (per MW per hour), UTC index
    sorted ascending. Raises ValueError naming file and line for a malformed row, and for
    duplicate hours or spacing other than 1 h.
    """
    cur = str(currency).upper()
    if cur not in ("DKK", "EUR"):
        raise ValueError(f"currency={currency!r} is not allowed; use 'DKK' or 'EUR'")
    p, header, rows = _read_table(path, "FCR CSV")
    lower = [h.lower() for h in header]
    col = f"FCR_N_Price{cur}"
    for need in ("HourUTC", col):
        if need.lower() not in lower:
            raise ValueError(
                f"FCR CSV {p}: not an Energi Data Service FcrReservesDK2 file; no column "
                f"{need!r} in {header}"
            )
    i_t, i_p = lower.index("hourutc"), lower.index(col.lower())
    t_list: list[float] = []
    v_list: list[float] = []
    n_list: list[int] = []
    for n, row in rows:
        if len(row) != len(header):
            raise ValueError(f"FCR CSV {p}:{n}: {len(row)} fields, expected {len(header)}")
        try:
            t = _parse_timestamp(row[i_t])
        except ValueError as exc:
            raise ValueError(f"FCR CSV {p}:{n}: bad HourUTC value {row[i_t]!r} ({exc})") from None
        try:
            v = _parse_number(row[i_p])
        except ValueError as exc:
            raise ValueError(f"FCR CSV {p}:{n}: bad {col} value {row[i_p]!r} ({exc})") from None
        t_list.append(t)
        v_list.append(v)
        n_list.append(n)
    if not t_list:
        raise ValueError(f"FCR CSV {p}: no data rows")
    t = np.asarray(t_list)
    order = np.argsort(t, kind="stable")
    t, v, ln = t[order], np.asarray(v_list)[order], np.asarray(n_list)[order]
    d = np.diff(t)
    bad = np.nonzero(d != 3600.0)[0]
    if bad.size:
        k = int(bad[0])
        what = "duplicate hour" if d[k] == 0 else f"spacing {d[k]:g} s (expected 3600 s)"
        raise ValueError(f"FCR CSV {p}: {what} between lines {ln[k]} and {ln[k + 1]}")
    out = pd.Series(v, index=_index_from_epoch(t), name=f"price_fcr_n_{cur}_per_MW_h")
    out.index.name = "time"
    out.attrs.update({"dataset": "FcrReservesDK2", "currency": cur, "source": str(p)})
    return out


# ------------------------------------------------------------------------------------------------
# bundled files
# ------------------------------------------------------------------------------------------------

BUNDLED_DEMAND_FILE = "flexheat_demand_2018.csv"
BUNDLED_PRICES_FILE = "flexheat_prices_2018.csv"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "library" / "data"
"""Where the bundled files live (scenarios/library/data)."""


def _fmt_time(index: pd.DatetimeIndex) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in index]


def write_bundled(directory: str | PathLike[str] = BUNDLED_DIR, seed: int = 0) -> list[Path]:
    """(Re)generate the bundled CSVs in ``directory`` and return their paths.

    * ``flexheat_demand_2018.csv``: ``time,kW`` — :func:`flexheat_demand` (2018, ``seed``,
      reference weather), kW with 3 decimals;
    * ``flexheat_prices_2018.csv``: ``time,price_spot_DKK_per_MWh,price_fcr_n_DKK_per_MW_h`` —
      :func:`dk2_2018_like_spot` and :func:`fcrn_capacity_prices_2018_like` (``seed``),
      2 decimals.

    Each file starts with one '#' comment line naming how it was made.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    q = flexheat_demand(2018, seed)
    spot = dk2_2018_like_spot(seed)
    fcr = fcrn_capacity_prices_2018_like(seed)
    demand_path = d / BUNDLED_DEMAND_FILE
    with demand_path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(
            f"# SYNTHETIC FlexHeat Nordhavn heat demand 2018 (kW, hour-start UTC): "
            f"simulators.flexheat_data.flexheat_demand(2018, seed={seed}) via write_bundled; "
            "see docs/models/flexheat-data.md\n"
        )
        fh.write("time,kW\n")
        for t, v in zip(_fmt_time(q.index), q.to_numpy(), strict=True):
            fh.write(f"{t},{v:.3f}\n")
    prices_path = d / BUNDLED_PRICES_FILE
    with prices_path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(
            f"# SYNTHETIC 2018-like DK2 prices (hour-start UTC): "
            f"simulators.flexheat_data.dk2_2018_like_spot(seed={seed}) and "
            f"fcrn_capacity_prices_2018_like(seed={seed}) via write_bundled; "
            "see docs/models/flexheat-data.md\n"
        )
        fh.write("time,price_spot_DKK_per_MWh,price_fcr_n_DKK_per_MW_h\n")
        for t, a, b in zip(_fmt_time(spot.index), spot.to_numpy(), fcr.to_numpy(), strict=True):
            fh.write(f"{t},{a:.2f},{b:.2f}\n")
    return [demand_path, prices_path]


def load_prices_csv(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a bundled price CSV (``time,price_spot_DKK_per_MWh,price_fcr_n_DKK_per_MW_h``,
    '#' comment lines). Returns a DataFrame with a UTC index; errors name file and line."""
    cols = ["price_spot_DKK_per_MWh", "price_fcr_n_DKK_per_MW_h"]
    index, data = _parse_series(path, "prices CSV", cols)
    return pd.DataFrame(data, index=index)

"""Weather core: outdoor temperature (bundled Danish reference year + CSV import).

Pure numpy/pandas core, no co-simulation imports.

* :func:`danish_reference_year` synthesises a reproducible hourly typical year (8760 h, non-leap,
  hour 0 = 1 January 00:00 UTC) from Danish monthly climate normals: a smooth mean-preserving curve
  through the monthly normals + a diurnal cycle + seeded synoptic noise (AR(1)); every month's mean
  equals its normal (to round-off).
* :func:`reference_weather` maps any calendar period onto that typical year (UTC, hourly), with a
  week of history before ``start`` so trailing means are defined from t = 0.
* :func:`load_weather_csv` reads a user's series (one clear error per bad line).
* :class:`Weather` answers ``at(t_s)``: interpolated temperature and its trailing 24 h / 7 day means
  (used for the supply-temperature curve and the ground-source temperature, iPower §7.1.6).
"""

from __future__ import annotations

import csv
import functools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from simulators.timeutil import as_utc

__all__ = [
    "DK_MONTHLY_NORMALS_C",
    "DK_DIURNAL_RANGE_K",
    "HOURS_PER_YEAR",
    "danish_reference_year",
    "reference_weather",
    "load_weather_csv",
    "Weather",
]

HOURS_PER_YEAR: int = 8760
DAYS_IN_MONTH: tuple[int, ...] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_START_H = np.concatenate([[0], np.cumsum(DAYS_IN_MONTH)[:-1]]) * 24
_MONTH_END_H = _MONTH_START_H + np.array(DAYS_IN_MONTH) * 24

DK_MONTHLY_NORMALS_C: tuple[float, ...] = (
    1.6, 1.6, 3.4, 7.2, 11.1, 14.5, 16.8, 16.7, 13.6, 9.5, 5.4, 2.5,
)
"""Monthly mean air temperature, Denmark as a whole, DMI climate normals 1991–2020, °C (Jan..Dec).

[R] recalled from DMI's national normals (DMI report series "Climate normals for Denmark
1991–2020"), not checked against the publication; annual mean 8.7 °C. Cross-check: autumn
(SON) mean 9.5 °C = DMI's autumn-2021 figure 10.6 °C minus its stated anomaly of 1.1 K vs 1991–2020.
Replace by the published values if they differ (the test derives its targets from this tuple)."""

DK_DIURNAL_RANGE_K: tuple[float, ...] = (
    4.0, 4.6, 6.3, 8.3, 9.0, 8.9, 8.6, 8.3, 7.2, 5.6, 4.2, 3.7,
)
"""Mean daily range (mean max − mean min), Denmark, K (Jan..Dec). [R] recalled order of magnitude
of DMI normals (≈ 4 K in winter, ≈ 9 K in early summer)."""

T_MIN_LOCAL_H: float = 5.5
T_MAX_LOCAL_H: float = 14.5
"""Local standard time (CET = UTC+1, no daylight saving: the cycle follows the sun, not clocks) of
the daily minimum and maximum."""

NOISE_CORRELATION_TIME_H: float = 60.0
"""Synoptic noise: AR(1) correlation time, h (2.5 days — passage time of a weather system)."""

NOISE_STD_WINTER_K: float = 3.75
NOISE_STD_SUMMER_K: float = 1.75
"""Std of the synoptic anomaly of hourly temperature in mid-January / mid-July, K. [R] Danish
day-to-day anomalies are ≈ 3–4 K in winter and ≈ 2 K in summer."""


# ------------------------------------------------------------------------------------------------
# Typical year
# ------------------------------------------------------------------------------------------------


@functools.cache
def _spline_basis() -> np.ndarray:
    """Hourly values (12, 8760) of the periodic cubic spline through month midpoints for each unit
    knot vector e_j, and the knot values that make the monthly means exact: returns B such that
    ``curve = targets @ B`` has monthly means equal to ``targets``."""
    mid = (_MONTH_START_H + _MONTH_END_H) / 2.0
    x = np.concatenate([mid, [mid[0] + HOURS_PER_YEAR]])
    h = np.arange(HOURS_PER_YEAR, dtype=float)
    h = np.where(h < mid[0], h + HOURS_PER_YEAR, h)  # evaluate inside [mid0, mid0 + 8760)
    raw = np.empty((12, HOURS_PER_YEAR))
    for j in range(12):
        y = np.zeros(13)
        y[j] = 1.0
        y[12] = y[0]
        raw[j] = CubicSpline(x, y, bc_type="periodic")(h)
    # means[j, k]: mean over month k of the spline through unit knot j
    means = np.stack([_monthly_means(raw[j]) for j in range(12)])
    # knots v with v @ means = targets  =>  v = targets @ inv(means);  curve = v @ raw
    basis = np.linalg.solve(means, raw)
    basis.setflags(write=False)
    return basis


def _monthly_means(hourly: np.ndarray) -> np.ndarray:
    """Means over the 12 months of an 8760-h series, shape (12,)."""
    c = np.concatenate([[0.0], np.cumsum(hourly)])
    return (c[_MONTH_END_H] - c[_MONTH_START_H]) / (_MONTH_END_H - _MONTH_START_H)


def _mean_preserving_curve(monthly: np.ndarray) -> np.ndarray:
    """Smooth periodic hourly curve (8760,) whose monthly means equal ``monthly`` (12,)."""
    return np.asarray(monthly, dtype=float) @ _spline_basis()


def _diurnal_shape() -> np.ndarray:
    """Zero-mean daily shape (24,) over UTC hours: −1..+1 before mean removal, minimum at
    T_MIN_LOCAL_H, maximum at T_MAX_LOCAL_H (local = UTC+1); half-cosine rise and fall."""
    h_loc = (np.arange(24) + 1.0) % 24.0
    rise = T_MAX_LOCAL_H - T_MIN_LOCAL_H
    fall = 24.0 - rise
    since_min = (h_loc - T_MIN_LOCAL_H) % 24.0
    shape = np.where(
        since_min <= rise,
        -np.cos(np.pi * since_min / rise),
        np.cos(np.pi * (since_min - rise) / fall),
    )
    return shape - shape.mean()


def _synoptic_noise(seed: int) -> np.ndarray:
    """Periodic unit-variance Gaussian noise (8760,) with an AR(1) spectrum (correlation time
    NOISE_CORRELATION_TIME_H), made in the frequency domain so the year wraps without a jump."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(HOURS_PER_YEAR)
    phi = math.exp(-1.0 / NOISE_CORRELATION_TIME_H)
    omega = 2.0 * np.pi * np.fft.rfftfreq(HOURS_PER_YEAR)
    shaped = np.fft.irfft(np.fft.rfft(white) / (1.0 - phi * np.exp(-1j * omega)), HOURS_PER_YEAR)
    shaped -= shaped.mean()
    return shaped / shaped.std()


def danish_reference_year(seed: int = 0) -> np.ndarray:
    """Hourly outdoor temperature of a synthetic Danish typical year, °C, shape (8760,).

    Hour 0 is 1 January 00:00 UTC of a non-leap year. Same seed -> identical series; every
    monthly mean equals ``DK_MONTHLY_NORMALS_C`` to round-off.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"weather seed {seed!r}: allowed: an integer >= 0")
    base = _mean_preserving_curve(np.array(DK_MONTHLY_NORMALS_C))
    amplitude = _mean_preserving_curve(np.array(DK_DIURNAL_RANGE_K)) / 2.0
    diurnal = amplitude * np.tile(_diurnal_shape(), 365)
    day = np.arange(HOURS_PER_YEAR) / 24.0
    mean_std = (NOISE_STD_WINTER_K + NOISE_STD_SUMMER_K) / 2.0
    half_swing = (NOISE_STD_WINTER_K - NOISE_STD_SUMMER_K) / 2.0
    std = mean_std + half_swing * np.cos(2.0 * np.pi * (day - 15.0) / 365.0)
    anomaly = diurnal + std * _synoptic_noise(int(seed))
    # remove the anomalies' monthly means with a smooth curve (no steps at month boundaries)
    anomaly -= _mean_preserving_curve(_monthly_means(anomaly))
    out = base + anomaly
    out.setflags(write=False)
    return out


def reference_weather(start: datetime, duration_s: float, seed: int = 0) -> pd.Series:
    """The typical year mapped onto calendar time: hourly, UTC-indexed, °C.

    Covers at least [start − 7 days, start + duration_s + 1 h]. Each timestamp takes the value of
    the same month/day/hour of the typical year (29 February repeats 28 February), so a run may
    start on any date and cross year ends.
    """
    d = float(duration_s)
    if not math.isfinite(d) or d < 0:
        raise ValueError(f"weather duration_s: bad value {duration_s!r}; allowed: finite >= 0")
    t0 = as_utc(start, "weather start")
    first = (t0 - pd.Timedelta(days=7)).floor("h")
    last = (t0 + pd.Timedelta(seconds=d)).ceil("h") + pd.Timedelta(hours=1)
    index = pd.date_range(first, last, freq="h")
    month = index.month.to_numpy()
    day = np.minimum(index.day.to_numpy(), np.array(DAYS_IN_MONTH)[month - 1])
    hour_of_year = _MONTH_START_H[month - 1] + (day - 1) * 24 + index.hour.to_numpy()
    values = danish_reference_year(seed)[hour_of_year]
    return pd.Series(values, index=index, name="T_out_C")


# ------------------------------------------------------------------------------------------------
# CSV import
# ------------------------------------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    """ISO-8601-like timestamp -> aware UTC datetime (naive = UTC)."""
    s = text.strip()
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        ts = pd.Timestamp(s)  # raises ValueError on garbage
        if ts is pd.NaT:
            raise ValueError("empty time") from None
        t = ts.to_pydatetime()
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def load_weather_csv(
    path: str | Path, time_column: str = "time", temperature_column: str = "T_out_C"
) -> pd.Series:
    """Read an outdoor-temperature series from CSV (header row, comma separated).

    Returns a float Series named ``T_out_C`` with a UTC DatetimeIndex (naive timestamps are UTC).
    A malformed row, a non-finite temperature, or a timestamp not strictly after the previous one
    raises ``ValueError`` naming the file and the line number.
    """
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"weather CSV {p}: cannot open ({exc.strerror})") from exc
    times: list[datetime] = []
    temps: list[float] = []
    lines: list[int] = []
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"weather CSV {p}: empty file; expected a header row")
        header = [h.strip() for h in header]
        for col in (time_column, temperature_column):
            if col not in header:
                raise ValueError(
                    f"weather CSV {p}:1: no column {col!r}; columns found: {', '.join(header)}"
                )
        i_t, i_v = header.index(time_column), header.index(temperature_column)
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"weather CSV {p}:{line}: {len(row)} fields, expected {len(header)} "
                    f"({', '.join(header)})"
                )
            try:
                t = _parse_time(row[i_t])
            except (ValueError, TypeError, OverflowError):
                raise ValueError(
                    f"weather CSV {p}:{line}: cannot parse time {row[i_t]!r} "
                    "(expected ISO 8601, e.g. 2024-01-01T00:00:00Z)"
                ) from None
            try:
                v = float(row[i_v])
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise ValueError(
                    f"weather CSV {p}:{line}: bad {temperature_column} value {row[i_v]!r} "
                    "(expected a finite number, °C)"
                )
            if times and t <= times[-1]:
                what = "duplicate" if t == times[-1] else "non-monotonic"
                raise ValueError(
                    f"weather CSV {p}:{line}: {what} timestamp {row[i_t].strip()!r} "
                    f"(previous {times[-1].isoformat()} on line {lines[-1]}); "
                    "timestamps must strictly increase"
                )
            times.append(t)
            temps.append(v)
            lines.append(line)
    if not times:
        raise ValueError(f"weather CSV {p}: no data rows")
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time")
    return pd.Series(np.array(temps), index=index, name="T_out_C")


# ------------------------------------------------------------------------------------------------
# Weather core
# ------------------------------------------------------------------------------------------------

_WINDOWS_S: tuple[tuple[str, float], ...] = (
    ("T_out_24h_C", 24 * 3600.0),
    ("T_out_168h_C", 168 * 3600.0),
)


class Weather:
    """Outdoor temperature at simulation time ``t_s`` (seconds after ``start``).

    ``T_out_C`` interpolates linearly between the series' points; the trailing means are exact
    means of that piecewise-linear curve over the last 24 h / 168 h, from a precomputed cumulative
    integral, so a query costs one binary search.
    """

    def __init__(
        self, series: pd.Series, start: datetime, allow_partial_history: bool = False
    ) -> None:
        """Args:
        series: temperatures, °C, on a DatetimeIndex (naive = UTC), strictly increasing.
        start: the UTC instant of t_s = 0 (naive = UTC).
        allow_partial_history: if True, a trailing window reaching before the series' first
            point averages over the covered part; otherwise such a query raises ValueError.
        """
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise ValueError("weather series: expected a pandas Series with a DatetimeIndex")
        if len(series) < 2:
            raise ValueError(f"weather series: {len(series)} points; at least 2 needed")
        index = series.index
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        values = series.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            bad = index[~np.isfinite(values)][0]
            raise ValueError(f"weather series: non-finite temperature at {bad}")
        self._start = as_utc(start, "weather start")
        t = (index - self._start).total_seconds().to_numpy(dtype=float)
        if np.any(np.diff(t) <= 0):
            k = int(np.argmax(np.diff(t) <= 0)) + 1
            raise ValueError(
                f"weather series: timestamps must strictly increase; {index[k]} follows "
                f"{index[k - 1]}"
            )
        self._t = t
        self._v = values
        seg = np.diff(t) * (values[1:] + values[:-1]) / 2.0
        self._cum = np.concatenate([[0.0], np.cumsum(seg)])  # ∫ T dt from the first point, K·s
        self._partial = bool(allow_partial_history)

    @property
    def start(self) -> pd.Timestamp:
        """UTC instant of t_s = 0."""
        return self._start

    @property
    def covered_s(self) -> tuple[float, float]:
        """First and last covered simulation time, s."""
        return float(self._t[0]), float(self._t[-1])

    def _range_text(self) -> str:
        t0, t1 = self.covered_s
        a = self._start + timedelta(seconds=t0)
        b = self._start + timedelta(seconds=t1)
        return f"covered: t_s {t0:g} .. {t1:g} ({a.isoformat()} .. {b.isoformat()})"

    def _value_and_integral(self, t: float) -> tuple[float, float]:
        """Interpolated temperature and ∫ T dt from the first point to ``t`` (inside range)."""
        tk = self._t
        i = int(np.searchsorted(tk, t, side="right")) - 1
        i = min(max(i, 0), tk.shape[0] - 2)
        dt = t - tk[i]
        v0 = self._v[i]
        v = v0 + (self._v[i + 1] - v0) * dt / (tk[i + 1] - tk[i])
        return float(v), float(self._cum[i] + dt * (v0 + v) / 2.0)

    def at(self, t_s: float) -> dict[str, float]:
        """``T_out_C``, ``T_out_24h_C``, ``T_out_168h_C`` (°C, python floats) at ``t_s`` seconds."""
        t = float(t_s)
        t_first, t_last = self._t[0], self._t[-1]
        if not (t_first <= t <= t_last):
            raise ValueError(f"weather: t_s = {t_s!r} is outside the series; {self._range_text()}")
        v, integral = self._value_and_integral(t)
        out = {"T_out_C": v}
        for name, window in _WINDOWS_S:
            t_from = t - window
            if t_from < t_first:
                if not self._partial:
                    raise ValueError(
                        f"weather: {name} at t_s = {t_s!r} needs data from t_s = {t_from:g}; "
                        f"{self._range_text()}"
                    )
                out[name] = integral / (t - t_first) if t > t_first else v
                continue
            _, integral_from = self._value_and_integral(t_from)
            out[name] = (integral - integral_from) / window
        return out

"""Electricity prices for the heat-pump owner: day-ahead spot, grid tariff, electricity tax.

A pure numpy/pandas model core (no mosaik). It provides

* :func:`synthetic_dk_day_ahead` — a bundled, seeded, *synthetic* DK-like hourly day-ahead series;
* :func:`load_energidataservice_csv` — import of Energi Data Service ``Elspotprices`` (hourly,
  until 2025-09-30) and ``DayAheadPrices`` (15 min, from 2025-10-01) CSV downloads;
* :func:`to_resolution` — hourly -> 15 min (hold) and finer -> coarser (mean) resampling;
* :class:`Tariff` — flat (iPower 244 DKK/MWh) or Tarifmodel 3.0 time-of-use grid tariff;
* :class:`PriceSignal` — the total price at a simulation time and the day-ahead forecast that is
  published at that moment (results ~13:00 Europe/Copenhagen on D-1).

All prices are currency per MWh (``DKK/MWh`` unless a name says ``EUR``). Time series carry a UTC
:class:`pandas.DatetimeIndex` whose stamps mark the START of each interval. Naive datetimes are
taken as UTC. Equations, parameters and sources: ``docs/models/prices.md``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from simulators.timeutil import as_utc

LOCAL_TZ: str = "Europe/Copenhagen"
"""Time zone of Danish tariff windows, day-ahead delivery days and the daily price shape."""

EUR_TO_DKK: float = 7.45
"""DKK per EUR used by iPower (ref. iPower §7); the DKK peg is ~7.46."""

SPOT_NONFLEX_HP_EUR_PER_MWH: float = 71.0
"""Average spot price paid by a non-flexible heat pump, EUR/MWh (iPower §7.2, 2035 case)."""

FLAT_TARIFF_DKK_PER_MWH: float = 244.0
"""Consumption-weighted average Danish grid tariff 2013, DKK/MWh (iPower §7.1, 'fixed tariff')."""

ELECTRICITY_TAX_DKK_PER_MWH: float = 412.0
"""Electricity tax on heat-pump electricity, DKK/MWh (iPower §7.1, L1270/L1278)."""

SECONDS_PER_HOUR: int = 3600

_EPOCH = pd.Timestamp(0, tz="UTC")
_SYNTH_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Anchor of the synthetic generator's random streams: the value of a given hour depends only
on the seed (and the shape parameters), not on the requested range."""

# --------------------------------------------------------------------------------------------
# time helpers
# --------------------------------------------------------------------------------------------


def _epoch_s(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC epoch seconds (float64) of a DatetimeIndex (naive = UTC), independent of its unit."""
    idx = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return np.asarray((idx - _EPOCH).total_seconds(), dtype=np.float64)


def _index_from_epoch(epoch_s: np.ndarray) -> pd.DatetimeIndex:
    """A UTC DatetimeIndex from epoch seconds (rounded to whole microseconds)."""
    us = np.round(np.asarray(epoch_s, dtype=np.float64) * 1e6).astype("int64")
    return pd.DatetimeIndex(us.astype("datetime64[us]")).tz_localize("UTC")


def _local_hour_month_weekday(
    epoch_s: np.ndarray, tz: str = LOCAL_TZ
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour (0..23), month (1..12) and weekday (Mon=0) of UTC epoch seconds."""
    local = _index_from_epoch(epoch_s).tz_convert(tz)
    return (
        np.asarray(local.hour, dtype=np.int64),
        np.asarray(local.month, dtype=np.int64),
        np.asarray(local.day_of_week, dtype=np.int64),
    )


def _fmt_epoch(x: float) -> str:
    """ISO text of an epoch second, for messages."""
    return _index_from_epoch(np.array([x]))[0].strftime("%Y-%m-%d %H:%M:%S UTC")


def _regular_step_s(index: pd.DatetimeIndex, what: str) -> float:
    """The constant spacing of ``index`` in seconds, or ValueError."""
    if len(index) < 2:
        raise ValueError(
            f"{what}: need at least 2 time stamps to know the resolution, got {len(index)}"
        )
    t = _epoch_s(index)
    d = np.diff(t)
    step = float(d[0])
    if step <= 0 or not np.all(d == step):
        bad = int(np.nonzero(d != step)[0][0]) if np.any(d != step) else 0
        raise ValueError(
            f"{what}: time stamps must be strictly increasing and regular; spacing {step:g} s "
            f"then {d[bad]:g} s at {_fmt_epoch(t[bad])}"
        )
    return step


# --------------------------------------------------------------------------------------------
# synthetic day-ahead prices
# --------------------------------------------------------------------------------------------

DEFAULT_WEEKDAY_SHAPE: tuple[float, ...] = (
    0.82, 0.78, 0.75, 0.74, 0.76, 0.85, 1.00, 1.18, 1.22, 1.12, 1.04, 1.00,
    0.96, 0.93, 0.94, 0.99, 1.08, 1.24, 1.30, 1.22, 1.10, 1.00, 0.94, 0.86,
)  # fmt: skip
"""Relative weekday price by LOCAL hour 0..23 (normalised to mean 1): night trough 02–04,
morning peak 07–09, midday solar dip, evening peak 17–19. Assumption shaped after typical
DK1/DK2 day-ahead profiles; not fitted to a particular year."""

DEFAULT_WEEKEND_SHAPE: tuple[float, ...] = (
    0.88, 0.84, 0.81, 0.80, 0.80, 0.82, 0.87, 0.93, 0.99, 1.02, 1.02, 1.00,
    0.96, 0.93, 0.93, 0.98, 1.06, 1.18, 1.24, 1.19, 1.10, 1.03, 0.98, 0.92,
)  # fmt: skip
"""Relative weekend price by LOCAL hour (flatter: no commuting morning peak)."""


def _shape24(values: Sequence[float], name: str) -> np.ndarray:
    """A length-24 positive shape normalised to mean 1."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (24,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"{name} must be 24 finite positive values (local hours 0..23), got {values!r}"
        )
    return arr / arr.mean()


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is not allowed; it must be a finite number {rel}")
    return v


def synthetic_dk_day_ahead(
    start: datetime,
    end: datetime,
    seed: int = 0,
    mean_DKK_per_MWh: float = SPOT_NONFLEX_HP_EUR_PER_MWH * EUR_TO_DKK,
    *,
    seasonal_amplitude: float = 0.15,
    weekend_factor: float = 0.88,
    weekday_shape: Sequence[float] = DEFAULT_WEEKDAY_SHAPE,
    weekend_shape: Sequence[float] = DEFAULT_WEEKEND_SHAPE,
    wind_sigma: float = 0.40,
    wind_persistence_h: float = 30.0,
    spike_hours_per_year: float = 40.0,
    spike_scale: float = 1.5,
    negative_damping: float = 0.3,
) -> pd.Series:
    """A SYNTHETIC DK-like hourly day-ahead price series, DKK/MWh, UTC index.

    This is not market data: it is a seeded stochastic model with the features a flexibility
    controller reacts to (see ``docs/models/prices.md``)::

        p_raw(t) = M * ( s(t) * d(h_local, weekday) + wind_sigma * z(t) )  + spikes(t)
        p_raw    <- negative_damping * p_raw   where p_raw < 0
        p(t)     = p_raw(t) * M / mean_{UTC calendar year of t}(p_raw)

    with ``s(t) = 1 + seasonal_amplitude * cos(2 pi (doy - 15) / 365.25)`` (winter high),
    ``d`` the weekday/weekend daily shape in Europe/Copenhagen time (weekend level
    ``weekend_factor`` relative to weekdays, week mean 1), ``z`` a unit-variance AR(1) process
    with e-folding time ``wind_persistence_h`` (calm, windless weather -> z > 0 -> dear), and
    spikes = ``spike_hours_per_year`` expected hours per year of
    ``+ M * spike_scale * LogN(0, 0.5)`` concentrated in peak hours of calm weather. Negative
    prices arise in windy, low-demand hours.
    The yearly rescaling makes every full UTC calendar year average exactly ``M``; any 365-day
    window averages ``M`` within a few per cent.

    Args:
        start, end: interval covered; the series has every hour h with ``h < end`` and
            ``h + 1 h > start`` (naive = UTC; from 2000-01-01).
        seed: random seed; the same seed gives the same price for a given hour whatever range
            is requested.
        mean_DKK_per_MWh: yearly mean ``M`` (default iPower 71 EUR/MWh x 7.45 = 528.95 DKK/MWh).
        seasonal_amplitude: relative winter/summer amplitude of ``s`` (-).
        weekend_factor: weekend level relative to weekdays (-).
        weekday_shape, weekend_shape: 24 relative hourly levels in local time (normalised).
        wind_sigma: std of the weather component relative to ``M`` (-).
        wind_persistence_h: AR(1) e-folding time of the weather component, h.
        spike_hours_per_year: expected number of spike hours per year.
        spike_scale: median spike height relative to ``M`` (-).
        negative_damping: factor applied to negative raw prices (they cluster just below zero).

    Returns:
        Series ``price_spot_DKK_per_MWh`` with attrs ``currency='DKK'``, ``resolution_s=3600``,
        ``dataset='synthetic'``.
    """
    t0 = as_utc(start, "start")
    t1 = as_utc(end, "end")
    if t1 <= t0:
        raise ValueError(f"end={t1} must be after start={t0}")
    if t0 < pd.Timestamp(_SYNTH_EPOCH):
        raise ValueError(f"start={t0} is before {_SYNTH_EPOCH:%Y-%m-%d}, the generator's anchor")
    mean = _check_positive("mean_DKK_per_MWh", mean_DKK_per_MWh)
    _check_positive("seasonal_amplitude", seasonal_amplitude, allow_zero=True)
    if seasonal_amplitude >= 1:
        raise ValueError(f"seasonal_amplitude={seasonal_amplitude!r} must be in [0, 1)")
    wf = _check_positive("weekend_factor", weekend_factor)
    if wf >= 3.5:
        raise ValueError(f"weekend_factor={weekend_factor!r} must be in (0, 3.5)")
    wsig = _check_positive("wind_sigma", wind_sigma, allow_zero=True)
    tau = _check_positive("wind_persistence_h", wind_persistence_h)
    n_spike = _check_positive("spike_hours_per_year", spike_hours_per_year, allow_zero=True)
    sscale = _check_positive("spike_scale", spike_scale, allow_zero=True)
    damp = _check_positive("negative_damping", negative_damping, allow_zero=True)
    wd = _shape24(weekday_shape, "weekday_shape")
    we = _shape24(weekend_shape, "weekend_shape")
    wd_level = (7.0 - 2.0 * wf) / 5.0  # weekly mean of the level = 1

    # Whole UTC calendar years overlapping [start, end): the normalisation unit.
    y0, y1 = t0.year, (t1 - pd.Timedelta(microseconds=1)).year
    gen_start = pd.Timestamp(datetime(y0, 1, 1, tzinfo=UTC))
    gen_end = pd.Timestamp(datetime(y1 + 1, 1, 1, tzinfo=UTC))
    anchor = pd.Timestamp(_SYNTH_EPOCH)
    k0 = int((gen_start - anchor) // pd.Timedelta(hours=1))
    k1 = int((gen_end - anchor) // pd.Timedelta(hours=1))

    # Random streams from the anchor (prefix-stable per stream), then sliced.
    ss = np.random.SeedSequence(int(seed))
    g_wind, g_spike_u, g_spike_m = (np.random.default_rng(s) for s in ss.spawn(3))
    phi = math.exp(-1.0 / tau)
    e = g_wind.standard_normal(k1)
    e[0] /= math.sqrt(1.0 - phi * phi)  # start the AR(1) in its stationary distribution
    z = lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], e)[k0:k1]
    u = g_spike_u.random(k1)[k0:k1]
    mag = g_spike_m.lognormal(0.0, 0.5, k1)[k0:k1]

    epoch = _epoch_s(pd.DatetimeIndex([gen_start]))[0] + SECONDS_PER_HOUR * np.arange(k1 - k0)
    hour, _month, weekday = _local_hour_month_weekday(epoch)
    idx = _index_from_epoch(epoch)
    doy = idx.day_of_year.to_numpy() - 1.0 + idx.hour.to_numpy() / 24.0
    season = 1.0 + seasonal_amplitude * np.cos(2.0 * np.pi * (doy - 15.0) / 365.25)
    weekend = weekday >= 5
    daily = np.where(weekend, wf * we[hour], wd_level * wd[hour])
    base = season * daily
    p = mean * (base + wsig * z)

    # Spikes: expected n_spike hours per year, weighted to peak hours in calm weather.
    years = idx.year.to_numpy()
    for yr in np.unique(years):
        sel = years == yr
        w = base[sel] ** 4 * np.exp(1.5 * z[sel])
        prob = np.minimum(1.0, n_spike * w / w.sum() * (sel.sum() / 8766.0))
        spike = u[sel] < prob
        p_sel = p[sel]
        p_sel[spike] += mean * sscale * mag[sel][spike]
        p[sel] = p_sel
    p = np.where(p < 0.0, damp * p, p)
    for yr in np.unique(years):
        sel = years == yr
        m = p[sel].mean()
        if m <= 0:
            raise ValueError(
                f"synthetic prices for {yr} average {m:.1f} <= 0; reduce wind_sigma={wsig!r}"
            )
        p[sel] *= mean / m

    keep = (idx < t1) & (idx + pd.Timedelta(hours=1) > t0)
    out = pd.Series(p[keep], index=idx[keep], name="price_spot_DKK_per_MWh")
    out.index.name = "time"
    out.attrs.update(
        {
            "currency": "DKK",
            "resolution_s": SECONDS_PER_HOUR,
            "dataset": "synthetic",
            "seed": int(seed),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# Energi Data Service CSV import
# --------------------------------------------------------------------------------------------

_EDS_FORMATS: dict[str, dict] = {
    "Elspotprices": {
        "time": "HourUTC",
        "price": {"DKK": "SpotPriceDKK", "EUR": "SpotPriceEUR"},
        "step_s": 3600,
    },
    "DayAheadPrices": {
        "time": "TimeUTC",
        "price": {"DKK": "DayAheadPriceDKK", "EUR": "DayAheadPriceEUR"},
        "step_s": 900,
    },
}

_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_EPOCH_DT = datetime(1970, 1, 1)


def _parse_timestamp(raw: str) -> float:
    """UTC epoch seconds of an EDS timestamp ('2017-07-14T08:00Z', '2017-07-14 08:00:00', ...)."""
    m = _TS_RE.match(raw.strip())
    if m is None:
        raise ValueError("expected YYYY-MM-DD[T ]HH:MM[:SS][Z]")
    y, mo, d, hh, mi = (int(m.group(i)) for i in range(1, 6))
    sec = int(m.group(6) or 0)
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    dt = datetime(y, mo, d, hh, mi, sec)  # raises ValueError on impossible dates
    tz = m.group(8)
    offset = 0.0
    if tz and tz != "Z":
        sign = -1.0 if tz[0] == "-" else 1.0
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return (dt - _EPOCH_DT).total_seconds() + frac - offset


def _parse_number(raw: str) -> float:
    """A float written with decimal point or decimal comma ('1.234,56', '-12,5', '84.33')."""
    s = raw.strip().replace("\u00a0", "").replace(" ", "")
    if not s:
        raise ValueError("empty value")
    if "," in s:
        s = s.replace(".", "").replace(",", ".")  # '.' then is a thousands separator
    v = float(s)
    if not math.isfinite(v):
        raise ValueError("not a finite number")
    return v


def _sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def load_energidataservice_csv(
    path: str | PathLike[str],
    price_area: str = "DK1",
    currency: str = "DKK",
    *,
    allow_gaps: bool = False,
) -> pd.Series:
    """Read an Energi Data Service day-ahead price CSV download.

    Accepted: ``Elspotprices`` (hourly; HourUTC, HourDK, PriceArea, SpotPriceDKK, SpotPriceEUR)
    and ``DayAheadPrices`` (15 min; TimeUTC, TimeDK, PriceArea, DayAheadPriceDKK,
    DayAheadPriceEUR), detected by the columns; ',' or ';' delimiter; decimal point or comma;
    timestamps with or without 'T'/'Z'. Only the UTC time column is used; stamps mark the start
    of each interval.

    Args:
        path: CSV file.
        price_area: bidding zone to keep (e.g. 'DK1', 'DK2').
        currency: 'DKK' or 'EUR'.
        allow_gaps: if False (default) a missing interval is an error listing the gaps; if True
            the gaps stay (irregular index; :class:`PriceSignal` will refuse it).

    Returns:
        Series ``price_spot_<currency>_per_MWh`` (currency/MWh), UTC index sorted ascending;
        attrs ``dataset``, ``price_area``, ``currency``, ``resolution_s``, ``source``.

    Raises:
        ValueError: unknown columns, absent price area (lists the areas present), malformed row
            (file, line, column and bad value), duplicate interval, gaps.
    """
    p = Path(path)
    cur = str(currency).upper()
    if cur not in ("DKK", "EUR"):
        raise ValueError(f"currency={currency!r} is not allowed; use 'DKK' or 'EUR'")
    if not p.is_file():
        raise ValueError(f"path={str(p)!r}: no such file")
    with p.open(encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise ValueError(f"{p}: the file is empty")
    delim = _sniff_delimiter(lines[first])
    reader = csv.reader(lines[first:], delimiter=delim)
    header = [h.strip() for h in next(reader)]
    cols = {h.lower(): i for i, h in enumerate(header)}
    dataset = next((k for k, f in _EDS_FORMATS.items() if f["time"].lower() in cols), None)
    if dataset is None:
        raise ValueError(
            f"{p}: not an Energi Data Service price file; columns {header} contain neither "
            "'HourUTC' (Elspotprices) nor 'TimeUTC' (DayAheadPrices)"
        )
    fmt = _EDS_FORMATS[dataset]
    price_col = fmt["price"][cur]
    for need in (price_col, "PriceArea"):
        if need.lower() not in cols:
            raise ValueError(f"{p}: {dataset} file without column {need!r}; columns are {header}")
    i_time, i_price, i_area = cols[fmt["time"].lower()], cols[price_col.lower()], cols["pricearea"]

    times: list[float] = []
    values: list[float] = []
    line_nos: list[int] = []
    areas: set[str] = set()
    for offset, row in enumerate(reader, start=1):
        lineno = first + 1 + offset
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{p}, line {lineno}: {len(row)} fields, the header has {len(header)} "
                f"(delimiter {delim!r}): {delim.join(row)!r}"
            )
        area = row[i_area].strip()
        areas.add(area)
        if area != price_area:
            continue
        raw_t, raw_p = row[i_time], row[i_price]
        try:
            t = _parse_timestamp(raw_t)
        except ValueError as exc:
            raise ValueError(
                f"{p}, line {lineno}: bad {fmt['time']} value {raw_t!r} ({exc})"
            ) from None
        try:
            v = _parse_number(raw_p)
        except ValueError as exc:
            raise ValueError(
                f"{p}, line {lineno}: bad {price_col} value {raw_p!r} ({exc})"
            ) from None
        times.append(t)
        values.append(v)
        line_nos.append(lineno)
    if not times:
        raise ValueError(
            f"{p}: price_area={price_area!r} not in the file; areas present: "
            f"{sorted(areas) if areas else 'none (no data rows)'}"
        )

    t_arr = np.asarray(times)
    order = np.argsort(t_arr, kind="stable")
    t_arr = t_arr[order]
    v_arr = np.asarray(values)[order]
    ln_arr = np.asarray(line_nos)[order]
    d = np.diff(t_arr)
    dup = np.nonzero(d == 0)[0]
    if dup.size:
        k = int(dup[0])
        raise ValueError(
            f"{p}: duplicate {price_area} interval {_fmt_epoch(t_arr[k])} on lines "
            f"{ln_arr[k]} and {ln_arr[k + 1]} ({dup.size} duplicate(s) in total)"
        )
    step = fmt["step_s"]
    bad = np.nonzero(d != step)[0]
    if bad.size:
        irregular = [k for k in bad if d[k] % step != 0]
        if irregular:
            k = int(irregular[0])
            raise ValueError(
                f"{p}: {dataset} must be spaced {step} s; found {d[k]:g} s between "
                f"{_fmt_epoch(t_arr[k])} (line {ln_arr[k]}) and {_fmt_epoch(t_arr[k + 1])} "
                f"(line {ln_arr[k + 1]})"
            )
        if not allow_gaps:
            desc = "; ".join(
                f"{int(d[k] // step) - 1} interval(s) missing after {_fmt_epoch(t_arr[k])} "
                f"(line {ln_arr[k]})"
                for k in bad[:5]
            )
            more = f" and {bad.size - 5} more gap(s)" if bad.size > 5 else ""
            raise ValueError(
                f"{p}: {bad.size} gap(s) in the {price_area} series: {desc}{more}. "
                "Download the missing period or pass allow_gaps=True."
            )
    out = pd.Series(v_arr, index=_index_from_epoch(t_arr), name=f"price_spot_{cur}_per_MWh")
    out.index.name = "time"
    out.attrs.update(
        {
            "dataset": dataset,
            "price_area": price_area,
            "currency": cur,
            "resolution_s": step,
            "source": str(p),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------


def to_resolution(series: pd.Series, step_s: int) -> pd.Series:
    """Resample a regular price series to ``step_s`` seconds.

    Finer target (e.g. hourly -> 900 s): each value is held over its whole interval (the
    hourly price applies to each of its quarter hours). Coarser target (e.g. 900 s -> 3600 s):
    the mean of the values whose interval start falls into each target interval, target
    intervals aligned to multiples of ``step_s`` since 1970-01-01 UTC (whole UTC hours); a
    partial target interval at either end is the mean of the values present. Equal step: a copy.
    """
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError("series must be a pandas Series with a DatetimeIndex")
    step = int(step_s)
    if step <= 0 or step != step_s:
        raise ValueError(f"step_s={step_s!r} must be a positive whole number of seconds")
    src = _regular_step_s(series.index, "to_resolution(series)")
    t = _epoch_s(series.index)
    vals = series.to_numpy(dtype=np.float64)
    if step == src:
        out = series.copy()
    elif step < src:
        k = src / step
        if k != int(k):
            raise ValueError(f"step_s={step} must divide the series resolution {src:g} s")
        k = int(k)
        tt = (t[:, None] + step * np.arange(k)[None, :]).ravel()
        out = pd.Series(np.repeat(vals, k), index=_index_from_epoch(tt), name=series.name)
    else:
        if step % src != 0:
            raise ValueError(f"step_s={step} must be a multiple of the series resolution {src:g} s")
        bins = np.floor(t / step) * step
        uniq, inv = np.unique(bins, return_inverse=True)
        sums = np.bincount(inv, weights=vals)
        counts = np.bincount(inv)
        out = pd.Series(sums / counts, index=_index_from_epoch(uniq), name=series.name)
    out.index.name = series.index.name
    out.attrs = dict(series.attrs)
    out.attrs["resolution_s"] = step
    return out


# --------------------------------------------------------------------------------------------
# grid tariff
# --------------------------------------------------------------------------------------------

TOU_PERIOD_OF_HOUR: tuple[str, ...] = tuple(
    "lavlast" if h < 6 else "spidslast" if 17 <= h < 21 else "højlast" for h in range(24)
)
"""Tarifmodel 3.0 C-customer period of each local hour: lavlast 00–06, højlast 06–17 and
21–24, spidslast 17–21 (Green Power Denmark guideline, ref. standards §6.4)."""

WINTER_MONTHS: frozenset[int] = frozenset({10, 11, 12, 1, 2, 3})
"""Tarifmodel 3.0 winter tariff: 1 Oct – 31 Mar (summer 1 Apr – 30 Sep)."""

DEFAULT_TOU_DKK_PER_MWH: dict[str, dict[str, float]] = {
    "winter": {"lavlast": 90.0, "højlast": 270.0, "spidslast": 810.0},
    "summer": {"lavlast": 90.0, "højlast": 135.0, "spidslast": 405.0},
}
"""ILLUSTRATIVE Tarifmodel 3.0 levels, DKK/MWh. Ratios 1:3:9 in winter (the order of 2023–24
C-customer tariffs of large DSOs), summer peak = half the winter peak (ref. §6.4), scaled so the
annual time-average is ~242 DKK/MWh, i.e. the iPower 244 DKK/MWh flat tariff (winter average
315, summer 169). Real values are per DSO in Energi Data Service ``DatahubPricelist``."""

_PERIODS = ("lavlast", "højlast", "spidslast")
_SEASONS = ("winter", "summer")


class Tariff:
    """Grid tariff, DKK/MWh, as a function of UTC time (windows in Europe/Copenhagen time).

    Kinds:

    * ``"flat"``: ``flat_DKK_per_MWh`` at all times (default 244, iPower 2013 average);
    * ``"tou"``: Tarifmodel 3.0 C-customer windows with levels ``tou_DKK_per_MWh[season][period]``
      (seasons 'winter' Oct–Mar and 'summer' Apr–Sep; periods 'lavlast', 'højlast',
      'spidslast'); defaults :data:`DEFAULT_TOU_DKK_PER_MWH` are illustrative;
    * ``"hourly"``: 24 values per season (local hour), e.g. from a DSO's DatahubPricelist, see
      :meth:`from_csv`.
    """

    def __init__(
        self,
        kind: str = "flat",
        *,
        flat_DKK_per_MWh: float = FLAT_TARIFF_DKK_PER_MWH,
        tou_DKK_per_MWh: Mapping[str, Mapping[str, float]] | None = None,
        hourly_DKK_per_MWh: Mapping[str, Sequence[float]] | None = None,
        tz: str = LOCAL_TZ,
    ) -> None:
        self.kind = kind
        self.tz = tz
        table = np.empty((2, 24), dtype=np.float64)  # [season (0 winter, 1 summer), local hour]
        if kind == "flat":
            v = float(flat_DKK_per_MWh)
            if not math.isfinite(v):
                raise ValueError(f"flat_DKK_per_MWh={flat_DKK_per_MWh!r} must be finite")
            table[:] = v
        elif kind == "tou":
            levels = DEFAULT_TOU_DKK_PER_MWH if tou_DKK_per_MWh is None else tou_DKK_per_MWh
            for s, season in enumerate(_SEASONS):
                if season not in levels:
                    raise ValueError(
                        f"tou_DKK_per_MWh has no season {season!r}; it needs {list(_SEASONS)}"
                    )
                for period in _PERIODS:
                    if period not in levels[season]:
                        raise ValueError(
                            f"tou_DKK_per_MWh[{season!r}] has no period {period!r}; "
                            f"it needs {list(_PERIODS)}"
                        )
                    v = float(levels[season][period])
                    if not math.isfinite(v):
                        raise ValueError(
                            f"tou_DKK_per_MWh[{season!r}][{period!r}]={v!r} is not finite"
                        )
                table[s] = [float(levels[season][TOU_PERIOD_OF_HOUR[h]]) for h in range(24)]
        elif kind == "hourly":
            if hourly_DKK_per_MWh is None:
                raise ValueError(
                    "kind='hourly' needs hourly_DKK_per_MWh={'winter': [24], 'summer': [24]}"
                )
            for s, season in enumerate(_SEASONS):
                vals = np.asarray(hourly_DKK_per_MWh.get(season, ()), dtype=np.float64)
                if vals.shape != (24,) or not np.all(np.isfinite(vals)):
                    raise ValueError(
                        f"hourly_DKK_per_MWh[{season!r}] must be 24 finite values, got {vals!r}"
                    )
                table[s] = vals
        else:
            raise ValueError(f"kind={kind!r} is not allowed; use 'flat', 'tou' or 'hourly'")
        self._table = table

    @property
    def table_DKK_per_MWh(self) -> np.ndarray:
        """Copy of the (2, 24) table [winter/summer, local hour] in DKK/MWh."""
        return self._table.copy()

    @classmethod
    def from_csv(cls, path: str | PathLike[str], tz: str = LOCAL_TZ) -> Tariff:
        """An hourly tariff from a CSV with columns ``hour`` (0..23), ``price_DKK_per_kWh`` and
        optionally ``season`` ('winter'/'summer'; without it the values apply all year).

        This is the simple form of a DSO's ``DatahubPricelist`` entry (Price1..Price24 per
        validity period). Delimiter ',' or ';', decimal point or comma.
        """
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"path={str(p)!r}: no such file")
        lines = p.read_text(encoding="utf-8-sig").splitlines()
        first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
        if first is None:
            raise ValueError(f"{p}: the file is empty")
        reader = csv.reader(lines[first:], delimiter=_sniff_delimiter(lines[first]))
        header = [h.strip().lower() for h in next(reader)]
        for need in ("hour", "price_dkk_per_kwh"):
            if need not in header:
                raise ValueError(f"{p}: missing column {need!r}; columns are {header}")
        i_h, i_p = header.index("hour"), header.index("price_dkk_per_kwh")
        i_s = header.index("season") if "season" in header else None
        got: dict[str, dict[int, float]] = {"winter": {}, "summer": {}}
        for off, row in enumerate(reader, start=1):
            lineno = first + 1 + off
            if not row or all(not c.strip() for c in row):
                continue
            try:
                hour = int(row[i_h].strip())
                if not 0 <= hour <= 23:
                    raise ValueError("hour must be 0..23")
                price = _parse_number(row[i_p]) * 1000.0
                seasons = _SEASONS if i_s is None else (row[i_s].strip().lower(),)
                if seasons[0] not in _SEASONS:
                    raise ValueError("season must be 'winter' or 'summer'")
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{p}, line {lineno}: bad row {row!r} ({exc})") from None
            for s in seasons:
                if hour in got[s]:
                    raise ValueError(f"{p}, line {lineno}: hour {hour} given twice for {s}")
                got[s][hour] = price
        for s in _SEASONS:
            missing = sorted(set(range(24)) - set(got[s]))
            if missing:
                raise ValueError(f"{p}: season {s!r} lacks hours {missing}")
        hourly = {s: [got[s][h] for h in range(24)] for s in _SEASONS}
        return cls("hourly", hourly_DKK_per_MWh=hourly, tz=tz)

    def at(self, times: pd.DatetimeIndex | np.ndarray | Sequence[float]) -> np.ndarray:
        """Tariff in DKK/MWh at UTC ``times`` (DatetimeIndex, naive = UTC, or epoch seconds)."""
        if isinstance(times, pd.DatetimeIndex):
            epoch = _epoch_s(times)
        else:
            epoch = np.asarray(times, dtype=np.float64)
            if epoch.ndim != 1 or not np.all(np.isfinite(epoch)):
                raise ValueError(
                    "times must be a DatetimeIndex or a 1-D array of finite epoch seconds"
                )
        hour, month, _ = _local_hour_month_weekday(epoch, self.tz)
        season = np.where(np.isin(month, list(WINTER_MONTHS)), 0, 1)
        return self._table[season, hour]


# --------------------------------------------------------------------------------------------
# price signal
# --------------------------------------------------------------------------------------------


class PriceSignal:
    """Spot + tariff + tax at simulation time ``t_s`` (seconds after ``start``), and the day-ahead
    forecast known at that moment.

    Day-ahead results for delivery day D are published at ``publish_local_h`` (default 13:00,
    ~1 h after the 12:00 CET/CEST gate closure) Europe/Copenhagen time on D-1. Hence before
    13:00 local the forecast runs to local midnight ending today, from 13:00 to the midnight
    ending tomorrow. The forecast is truncated at the end of the spot data.

    All look-ups are ``searchsorted`` on arrays precomputed in ``__init__``.
    """

    def __init__(
        self,
        spot: pd.Series,
        start: datetime,
        tariff: Tariff | None = None,
        tax_DKK_per_MWh: float = ELECTRICITY_TAX_DKK_PER_MWH,
        *,
        forecast_step_s: int = SECONDS_PER_HOUR,
        publish_local_h: float = 13.0,
        tz: str = LOCAL_TZ,
    ) -> None:
        """
        Args:
            spot: regular day-ahead series in DKK/MWh, UTC index of interval starts, no NaN.
            start: UTC time of simulation t = 0 (naive = UTC).
            tariff: grid tariff (default flat 244 DKK/MWh).
            tax_DKK_per_MWh: electricity tax (default 412, iPower).
            forecast_step_s: resolution of :meth:`forecast` (default hourly; 15-min spot is
                averaged per hour, hourly spot is held for a 900 s step).
            publish_local_h: local hour of day at which next day's prices become known.
        """
        if not isinstance(spot, pd.Series) or not isinstance(spot.index, pd.DatetimeIndex):
            raise ValueError("spot must be a pandas Series with a DatetimeIndex (UTC)")
        if spot.attrs.get("currency", "DKK") != "DKK":
            raise ValueError(
                f"spot is in {spot.attrs['currency']}/MWh; PriceSignal needs DKK/MWh "
                f"(load with currency='DKK' or multiply by the exchange rate)"
            )
        self.step_s = _regular_step_s(spot.index, "spot")
        vals = spot.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            k = int(np.nonzero(~np.isfinite(vals))[0][0])
            raise ValueError(f"spot has a non-finite value {vals[k]!r} at {spot.index[k]}")
        tax = float(tax_DKK_per_MWh)
        if not math.isfinite(tax):
            raise ValueError(f"tax_DKK_per_MWh={tax_DKK_per_MWh!r} must be finite")
        if not 0.0 <= publish_local_h < 24.0:
            raise ValueError(f"publish_local_h={publish_local_h!r} must be in [0, 24)")
        self.tariff = Tariff() if tariff is None else tariff
        self.tax_DKK_per_MWh = tax
        self.tz = tz
        self.start = as_utc(start, "start")
        self._t0 = float(_epoch_s(pd.DatetimeIndex([self.start]))[0])

        self._edges = _epoch_s(spot.index)
        self._end = float(self._edges[-1] + self.step_s)
        self._spot = vals.copy()
        self._tariff = self.tariff.at(self._edges)
        self._total = self._spot + self._tariff + tax

        total = pd.Series(self._total, index=spot.index)
        f = to_resolution(total, int(forecast_step_s))
        self.forecast_step_s = int(forecast_step_s)
        self._f_edges = _epoch_s(f.index)
        self._f_total = f.to_numpy(dtype=np.float64)

        # Local midnights and publication instants, one per local day (DST-correct).
        first_local = _index_from_epoch(self._edges[:1]).tz_convert(tz)[0]
        last_local = _index_from_epoch(np.array([self._end])).tz_convert(tz)[0]
        days = pd.date_range(
            first_local.tz_localize(None).normalize() - pd.Timedelta(days=1),
            last_local.tz_localize(None).normalize() + pd.Timedelta(days=3),
            freq="D",
        )
        pub = days + pd.Timedelta(hours=publish_local_h)
        kw = {"nonexistent": "shift_forward", "ambiguous": True}
        self._midnights = _epoch_s(days.tz_localize(tz, **kw))
        self._publish = _epoch_s(pub.tz_localize(tz, **kw))

    # -- helpers ---------------------------------------------------------------------------
    @property
    def covered_t_s(self) -> tuple[float, float]:
        """Simulation-time range [t_first, t_end) covered by the spot data, s."""
        return (self._edges[0] - self._t0, self._end - self._t0)

    def _abs(self, t_s: float) -> float:
        x = self._t0 + float(t_s)
        if not (self._edges[0] <= x < self._end) or not math.isfinite(x):
            a, b = self.covered_t_s
            raise ValueError(
                f"t_s={t_s!r} ({_fmt_epoch(x) if math.isfinite(x) else x}) is outside the price "
                f"data, which covers t_s in [{a:g}, {b:g}) = [{_fmt_epoch(self._edges[0])}, "
                f"{_fmt_epoch(self._end)})"
            )
        return x

    def _forecast_slice(self, t_s: float) -> slice:
        x = self._abs(t_s)
        d = int(np.searchsorted(self._midnights, x, side="right")) - 1
        horizon = self._midnights[d + 1] if x < self._publish[d] else self._midnights[d + 2]
        horizon = min(horizon, self._end)
        i0 = max(int(np.searchsorted(self._f_edges, x, side="right")) - 1, 0)
        i1 = int(np.searchsorted(self._f_edges, horizon, side="left"))
        return slice(i0, i1)

    # -- public ----------------------------------------------------------------------------
    def at(self, t_s: float) -> dict[str, float]:
        """Prices (DKK/MWh) of the interval containing ``start + t_s``."""
        i = int(np.searchsorted(self._edges, self._abs(t_s), side="right")) - 1
        return {
            "price_spot_DKK_per_MWh": float(self._spot[i]),
            "tariff_DKK_per_MWh": float(self._tariff[i]),
            "tax_DKK_per_MWh": self.tax_DKK_per_MWh,
            "price_total_DKK_per_MWh": float(self._total[i]),
        }

    def forecast(self, t_s: float) -> np.ndarray:
        """TOTAL price (DKK/MWh) per ``forecast_step_s`` interval, from the one containing
        ``start + t_s`` to the end of the last delivery day published at that moment."""
        return self._f_total[self._forecast_slice(t_s)].copy()

    def forecast_times(self, t_s: float) -> np.ndarray:
        """Start times (s since ``start``) of the intervals returned by :meth:`forecast`; the
        first may be < ``t_s`` (the current interval began earlier)."""
        return self._f_edges[self._forecast_slice(t_s)] - self._t0


__all__ = [
    "DEFAULT_TOU_DKK_PER_MWH",
    "ELECTRICITY_TAX_DKK_PER_MWH",
    "EUR_TO_DKK",
    "FLAT_TARIFF_DKK_PER_MWH",
    "LOCAL_TZ",
    "PriceSignal",
    "Tariff",
    "load_energidataservice_csv",
    "synthetic_dk_day_ahead",
    "to_resolution",
]

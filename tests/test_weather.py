"""Tests of the weather core: bundled Danish reference year, calendar mapping, CSV import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.weather import (
    DAYS_IN_MONTH,
    DK_MONTHLY_NORMALS_C,
    NOISE_CORRELATION_TIME_H,
    Weather,
    danish_reference_year,
    load_weather_csv,
    reference_weather,
)

MONTH_EDGES_H = np.concatenate([[0], np.cumsum(DAYS_IN_MONTH)]) * 24


def _monthly(y: np.ndarray) -> np.ndarray:
    return np.array([y[a:b].mean() for a, b in zip(MONTH_EDGES_H[:-1], MONTH_EDGES_H[1:],
                                                      strict=True)])


# ------------------------------------------------------------------ reference year


def test_reference_year_is_reproducible_per_seed() -> None:
    a, b, c = danish_reference_year(7), danish_reference_year(7), danish_reference_year(8)
    assert a.shape == (8760,)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_monthly_means_match_dmi_normals(seed: int) -> None:
    y = danish_reference_year(seed)
    np.testing.assert_allclose(_monthly(y), DK_MONTHLY_NORMALS_C, atol=0.1)
    assert y.mean() == pytest.approx(np.average(DK_MONTHLY_NORMALS_C, weights=DAYS_IN_MONTH),
                                     abs=0.01)


def test_diurnal_cycle_timing_and_size() -> None:
    y = np.mean([danish_reference_year(s) for s in range(3)], axis=0).reshape(365, 24)
    for first_day, n_days, min_range, max_range in ((0, 31, 3.0, 5.0), (181, 31, 7.0, 10.0)):
        cycle = y[first_day:first_day + n_days].mean(axis=0)
        local_hour = (np.arange(24) + 1) % 24  # CET
        assert local_hour[np.argmin(cycle)] in (4, 5, 6)
        assert local_hour[np.argmax(cycle)] in (13, 14, 15)
        assert min_range <= cycle.max() - cycle.min() <= max_range


def test_synoptic_noise_statistics() -> None:
    """Day-mean anomalies: winter std 2–5 K, summer smaller; lag-1-day autocorrelation near
    exp(−24 h/τ) for τ = 60 h (0.67), loosened for the monthly-mean removal and sampling."""
    stds_winter, stds_summer, rho = [], [], []
    for seed in range(6):
        d = danish_reference_year(seed).reshape(365, 24).mean(axis=1)
        smooth = np.convolve(np.concatenate([d[-15:], d, d[:15]]), np.ones(31) / 31, "valid")
        anom = d - smooth
        winter = np.r_[0:59, 334:365]
        stds_winter.append(anom[winter].std())
        stds_summer.append(anom[151:243].std())
        rho.append(np.corrcoef(anom[:-1], anom[1:])[0, 1])
    assert 2.0 <= np.mean(stds_winter) <= 5.0
    assert np.mean(stds_summer) < np.mean(stds_winter)
    expected = np.exp(-24.0 / NOISE_CORRELATION_TIME_H)
    assert np.mean(rho) == pytest.approx(expected, abs=0.2)


def test_year_wraps_without_jump() -> None:
    y = danish_reference_year(3)
    steps = np.abs(np.diff(np.concatenate([y, y[:1]])))
    assert steps[-1] <= np.quantile(steps, 0.999)


def test_reference_weather_maps_calendar_to_typical_year() -> None:
    y = danish_reference_year(0)
    start = datetime(2023, 12, 30, 18, 30, tzinfo=UTC)
    s = reference_weather(start, 5 * 86400.0, seed=0)
    assert str(s.index.tz) == "UTC"
    assert s.index[0] <= pd.Timestamp(start) - pd.Timedelta(days=7)
    assert s.index[-1] >= pd.Timestamp(start) + pd.Timedelta(days=5)
    assert (s.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    assert s[pd.Timestamp("2023-12-31 23:00", tz="UTC")] == y[8759]
    assert s[pd.Timestamp("2024-01-02 05:00", tz="UTC")] == y[24 + 5]
    # naive start = UTC; leap day repeats 28 February
    leap = reference_weather(datetime(2024, 3, 1), 3600.0)
    feb28 = (31 + 27) * 24
    assert leap[pd.Timestamp("2024-02-29 10:00", tz="UTC")] == y[feb28 + 10]
    assert leap[pd.Timestamp("2024-03-01 00:00", tz="UTC")] == y[feb28 + 24]


# ------------------------------------------------------------------ Weather core


def _brute_mean(series: pd.Series, start: datetime, t_s: float, window_s: float) -> float:
    t = (series.index - pd.Timestamp(start)).total_seconds().to_numpy()
    grid = np.linspace(t_s - window_s, t_s, 200_001)
    return float(np.trapezoid(np.interp(grid, t, series.to_numpy()), grid) / window_s)


def test_weather_interpolates_and_trailing_means_are_exact() -> None:
    start = datetime(2024, 1, 10, tzinfo=UTC)
    s = reference_weather(start, 3 * 86400.0, seed=4)
    w = Weather(s, start)
    out = w.at(1800.0)
    t0 = pd.Timestamp(start)
    assert out["T_out_C"] == pytest.approx((s[t0] + s[t0 + pd.Timedelta(hours=1)]) / 2, abs=1e-12)
    assert all(type(v) is float for v in out.values())
    for t_s in (0.0, 1234.5, 2 * 86400.0 + 7.0):
        out = w.at(t_s)
        assert out["T_out_24h_C"] == pytest.approx(_brute_mean(s, start, t_s, 86400.0), abs=1e-6)
        assert out["T_out_168h_C"] == pytest.approx(_brute_mean(s, start, t_s, 604800.0),
                                                    abs=1e-6)


def test_weather_range_errors() -> None:
    start = datetime(2024, 1, 10, tzinfo=UTC)
    w = Weather(reference_weather(start, 86400.0), start)
    with pytest.raises(ValueError, match=r"outside the series; covered: t_s -604800"):
        w.at(10 * 86400.0)
    short = pd.Series([1.0, 2.0, 3.0], index=pd.date_range("2024-01-10", periods=3, freq="h"))
    with pytest.raises(ValueError, match=r"T_out_24h_C.*needs data"):
        Weather(short, datetime(2024, 1, 10)).at(3600.0)
    partial = Weather(short, datetime(2024, 1, 10), allow_partial_history=True).at(3600.0)
    assert partial["T_out_24h_C"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="strictly increase"):
        Weather(short.iloc[[0, 2, 1]], datetime(2024, 1, 10))


# ------------------------------------------------------------------ CSV import


def test_load_weather_csv_good_file(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text(
        "time,T_out_C,wind\n"
        "2024-01-01T00:00:00,1.5,3\n"
        "2024-01-01T02:00:00+01:00,2.0,3\n"  # = 01:00 UTC
        "\n"
        "2024-01-01T02:00:00Z,-0.5,4\n"
    )
    s = load_weather_csv(f)
    assert s.name == "T_out_C"
    assert str(s.index.tz) == "UTC"
    assert list(s.index.hour) == [0, 1, 2]
    assert s.tolist() == [1.5, 2.0, -0.5]
    w = Weather(s, datetime(2024, 1, 1), allow_partial_history=True)
    assert w.at(5400.0)["T_out_C"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("2024-01-01T00:00,1\n2024-01-01T01:00,x\n", r"w\.csv:3: bad T_out_C value 'x'"),
        ("2024-01-01T00:00,1\nnot-a-time,2\n", r"w\.csv:3: cannot parse time 'not-a-time'"),
        ("2024-01-01T00:00,1\n2024-01-01T01:00,2,9\n", r"w\.csv:3: 3 fields, expected 2"),
        ("2024-01-01T00:00,1\n2024-01-01T01:00,nan\n", r"w\.csv:3: bad T_out_C value"),
        ("2024-01-01T01:00,1\n2024-01-01T01:00,2\n", r"w\.csv:3: duplicate timestamp"),
        ("2024-01-01T01:00,1\n2024-01-01T00:00,2\n", r"w\.csv:3: non-monotonic timestamp"),
    ],
)
def test_load_weather_csv_errors_name_the_line(tmp_path: Path, body: str, match: str) -> None:
    f = tmp_path / "w.csv"
    f.write_text("time,T_out_C\n" + body)
    with pytest.raises(ValueError, match=match):
        load_weather_csv(f)


def test_load_weather_csv_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text("timestamp,temp\n2024-01-01,1\n")
    with pytest.raises(ValueError, match=r"no column 'time'; columns found: timestamp, temp"):
        load_weather_csv(f)
    assert load_weather_csv(f, "timestamp", "temp").tolist() == [1.0]


def test_bad_seed_and_duration() -> None:
    with pytest.raises(ValueError, match="seed"):
        danish_reference_year(-1)
    with pytest.raises(ValueError, match="duration_s"):
        reference_weather(datetime(2024, 1, 1), -5.0)

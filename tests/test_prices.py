"""Tests of simulators/prices.py: synthetic prices, Energi Data Service import, resampling,
Tarifmodel 3.0 tariff windows and the day-ahead forecast horizon."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.prices import (
    DEFAULT_TOU_DKK_PER_MWH,
    ELECTRICITY_TAX_DKK_PER_MWH,
    PriceSignal,
    Tariff,
    load_energidataservice_csv,
    synthetic_dk_day_ahead,
    to_resolution,
)

MEAN_IPOWER_DKK = 71.0 * 7.45  # iPower §7: non-flex HP spot 71 EUR/MWh at 7.45 DKK/EUR


# ---------------------------------------------------------------------------------------------
# synthetic series
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def year2025() -> pd.Series:
    return synthetic_dk_day_ahead(datetime(2025, 1, 1), datetime(2026, 1, 1), seed=3)


def test_synthetic_reproducible_and_range_independent(year2025: pd.Series) -> None:
    again = synthetic_dk_day_ahead(datetime(2025, 1, 1), datetime(2026, 1, 1), seed=3)
    pd.testing.assert_series_equal(year2025, again)
    other = synthetic_dk_day_ahead(datetime(2025, 1, 1), datetime(2026, 1, 1), seed=4)
    assert np.abs(other.to_numpy() - year2025.to_numpy()).mean() > 50.0
    # a sub-range is the same numbers as the slice of the longer series
    part = synthetic_dk_day_ahead(datetime(2025, 3, 28), datetime(2025, 4, 2, 12), seed=3)
    np.testing.assert_array_equal(part.to_numpy(), year2025.loc[part.index].to_numpy())
    assert len(year2025) == 8760
    assert str(year2025.index.tz) == "UTC"
    assert (np.diff(year2025.index.asi8) > 0).all()


def test_synthetic_mean_and_shape(year2025: pd.Series) -> None:
    # calendar year: mean equals the target; an unaligned 365-day window within a few %
    assert year2025.mean() == pytest.approx(MEAN_IPOWER_DKK, rel=1e-9)
    for seed in range(4):
        w = synthetic_dk_day_ahead(datetime(2025, 7, 1, 5), datetime(2026, 7, 1, 5), seed=seed)
        assert w.mean() == pytest.approx(MEAN_IPOWER_DKK, rel=0.05)
    local = year2025.index.tz_convert("Europe/Copenhagen")
    by_hour = year2025.groupby(local.hour).mean()
    trough = by_hour.loc[2:4].mean()
    assert by_hour.loc[17:19].mean() > 1.3 * trough  # evening peak
    assert by_hour.loc[7:8].mean() > 1.2 * trough  # morning peak
    weekend = local.day_of_week >= 5
    assert year2025[~weekend].mean() > 1.1 * year2025[weekend].mean()
    month = local.month
    winter = year2025[np.isin(month, [11, 12, 1, 2])].mean()
    summer = year2025[np.isin(month, [5, 6, 7, 8])].mean()
    assert winter > summer
    n_neg = int((year2025 < 0).sum())
    assert 0 < n_neg < 0.05 * len(year2025)  # a few negative hours
    assert year2025.max() > 3.0 * MEAN_IPOWER_DKK  # occasional spikes


def test_synthetic_bad_input() -> None:
    with pytest.raises(ValueError, match="mean_DKK_per_MWh"):
        synthetic_dk_day_ahead(datetime(2025, 1, 1), datetime(2025, 1, 2), mean_DKK_per_MWh=-1)
    with pytest.raises(ValueError, match="end="):
        synthetic_dk_day_ahead(datetime(2025, 1, 2), datetime(2025, 1, 1))


# ---------------------------------------------------------------------------------------------
# Energi Data Service import
# ---------------------------------------------------------------------------------------------

DAYAHEAD_CSV = """TimeUTC,TimeDK,PriceArea,DayAheadPriceDKK,DayAheadPriceEUR
2025-10-01 00:45:00,2025-10-01 02:45:00,DK1,640.12,85.80
2025-10-01 00:45:00,2025-10-01 02:45:00,DK2,700.00,93.83
2025-10-01 00:30:00,2025-10-01 02:30:00,DK1,620.5,83.17
2025-10-01 00:30:00,2025-10-01 02:30:00,DK2,690.00,92.49
2025-10-01 00:15:00,2025-10-01 02:15:00,DK1,-10.25,-1.37
2025-10-01 00:15:00,2025-10-01 02:15:00,DK2,680.00,91.15
2025-10-01 00:00:00,2025-10-01 02:00:00,DK1,600.00,80.43
2025-10-01 00:00:00,2025-10-01 02:00:00,DK2,670.00,89.81
"""

ELSPOT_CSV = """HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR
2024-03-31T03:00Z;2024-03-31T05:00;DK1;1.234,56;165,52
2024-03-31T03:00Z;2024-03-31T05:00;SE3;300,00;40,22
2024-03-31T02:00Z;2024-03-31T04:00;DK1;-12,5;-1,68
2024-03-31T02:00Z;2024-03-31T04:00;SE3;290,00;38,88
2024-03-31T01:00Z;2024-03-31T03:00;DK1;450,75;60,43
2024-03-31T00:00Z;2024-03-31T01:00;DK1;470,25;63,04
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_load_dayahead_15min(tmp_path: Path) -> None:
    p = _write(tmp_path, "DayAheadPrices.csv", DAYAHEAD_CSV)
    s = load_energidataservice_csv(p, "DK1")
    assert s.attrs["dataset"] == "DayAheadPrices"
    assert s.attrs["resolution_s"] == 900
    assert list(s.index) == list(pd.date_range("2025-10-01", periods=4, freq="15min", tz="UTC"))
    np.testing.assert_allclose(s.to_numpy(), [600.0, -10.25, 620.5, 640.12])
    e = load_energidataservice_csv(p, "DK2", currency="EUR")
    assert e.name == "price_spot_EUR_per_MWh"
    np.testing.assert_allclose(e.to_numpy(), [89.81, 91.15, 92.49, 93.83])


def test_load_elspot_semicolon_decimal_comma(tmp_path: Path) -> None:
    p = _write(tmp_path, "Elspotprices.csv", ELSPOT_CSV)
    s = load_energidataservice_csv(p, "DK1")
    assert s.attrs["dataset"] == "Elspotprices"
    assert s.attrs["resolution_s"] == 3600
    # UTC stamps: the DST night of 2024-03-31 has no gap in UTC
    assert list(s.index) == list(pd.date_range("2024-03-31", periods=4, freq="h", tz="UTC"))
    np.testing.assert_allclose(s.to_numpy(), [470.25, 450.75, -12.5, 1234.56])


def test_load_area_missing_lists_areas(tmp_path: Path) -> None:
    p = _write(tmp_path, "Elspotprices.csv", ELSPOT_CSV)
    with pytest.raises(ValueError, match=r"'DK2' not in the file.*\['DK1', 'SE3'\]"):
        load_energidataservice_csv(p, "DK2")


def test_load_malformed_names_file_line_value(tmp_path: Path) -> None:
    bad = ELSPOT_CSV.replace("-12,5;", "-12,5x;")
    p = _write(tmp_path, "bad.csv", bad)
    with pytest.raises(ValueError, match=r"bad\.csv, line 4: bad SpotPriceDKK value '-12,5x'"):
        load_energidataservice_csv(p, "DK1")
    bad_t = DAYAHEAD_CSV.replace(
        "2025-10-01 00:30:00,2025-10-01 02:30:00,DK1", "2025-13-01 00:30,x,DK1"
    )
    p2 = _write(tmp_path, "bad_t.csv", bad_t)
    with pytest.raises(
        ValueError, match=r"bad_t\.csv, line 4: bad TimeUTC value '2025-13-01 00:30'"
    ):
        load_energidataservice_csv(p2, "DK1")


def test_load_duplicates_and_gaps(tmp_path: Path) -> None:
    lines = DAYAHEAD_CSV.splitlines()
    dup = "\n".join([*lines, lines[1]]) + "\n"
    with pytest.raises(ValueError, match="duplicate DK1 interval 2025-10-01 00:45:00 UTC"):
        load_energidataservice_csv(_write(tmp_path, "dup.csv", dup), "DK1")
    gap = "\n".join(ln for ln in lines if "00:15:00,2025-10-01 02:15:00,DK1" not in ln) + "\n"
    with pytest.raises(ValueError, match=r"1 interval\(s\) missing after 2025-10-01 00:00:00 UTC"):
        load_energidataservice_csv(_write(tmp_path, "gap.csv", gap), "DK1")
    s = load_energidataservice_csv(_write(tmp_path, "gap2.csv", gap), "DK1", allow_gaps=True)
    assert len(s) == 3


def test_load_unknown_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="neither 'HourUTC'"):
        load_energidataservice_csv(p)


# ---------------------------------------------------------------------------------------------
# resampling
# ---------------------------------------------------------------------------------------------


def test_upsample_preserves_energy_weighted_mean(year2025: pd.Series) -> None:
    hourly = year2025.iloc[: 24 * 14]
    q = to_resolution(hourly, 900)
    assert len(q) == 4 * len(hourly)
    assert q.attrs["resolution_s"] == 900
    rng = np.random.default_rng(7)
    load_kWh = rng.uniform(0.0, 2.0, len(q))  # energy per quarter hour
    cost_q = float(np.sum(load_kWh * q.to_numpy()))
    cost_h = float(np.sum(load_kWh.reshape(-1, 4).sum(axis=1) * hourly.to_numpy()))
    assert cost_q == pytest.approx(cost_h, rel=1e-12)
    back = to_resolution(q, 3600)
    np.testing.assert_allclose(back.to_numpy(), hourly.to_numpy(), rtol=1e-12)
    assert (back.index == hourly.index).all()
    with pytest.raises(ValueError, match="step_s=1000"):
        to_resolution(hourly, 1000)


# ---------------------------------------------------------------------------------------------
# tariff
# ---------------------------------------------------------------------------------------------


def _utc(*local_parts: str) -> pd.DatetimeIndex:
    """UTC instants of Copenhagen wall-clock strings."""
    return pd.DatetimeIndex(list(local_parts)).tz_localize("Europe/Copenhagen").tz_convert("UTC")


def test_tariff_flat_default_ipower() -> None:
    t = Tariff()
    v = t.at(pd.date_range("2025-01-01", periods=48, freq="h", tz="UTC"))
    np.testing.assert_array_equal(v, 244.0)


def test_tou_windows_winter_summer() -> None:
    tou = Tariff("tou")
    w, s = DEFAULT_TOU_DKK_PER_MWH["winter"], DEFAULT_TOU_DKK_PER_MWH["summer"]
    got = tou.at(
        _utc(
            "2025-01-15 03:00", "2025-01-15 05:59", "2025-01-15 06:00", "2025-01-15 16:59",
            "2025-01-15 17:00", "2025-01-15 20:59", "2025-01-15 21:00", "2025-01-15 23:30",
        )
    )  # fmt: skip
    exp = [w["lavlast"]] * 2 + [w["højlast"]] * 2 + [w["spidslast"]] * 2 + [w["højlast"]] * 2
    np.testing.assert_array_equal(got, exp)
    got_s = tou.at(_utc("2025-07-15 02:00", "2025-07-15 12:00", "2025-07-15 18:00"))
    np.testing.assert_array_equal(got_s, [s["lavlast"], s["højlast"], s["spidslast"]])
    assert got_s[2] == pytest.approx(0.5 * got[4])  # summer peak = half the winter peak
    # Season boundaries in LOCAL time: 31 Mar 23:59 winter, 1 Apr 00:00 summer (CEST)
    edge = tou.at(
        _utc("2025-03-31 23:59", "2025-04-01 00:00", "2025-09-30 18:00", "2025-10-01 18:00")
    )
    np.testing.assert_array_equal(
        edge, [w["højlast"], s["lavlast"], s["spidslast"], w["spidslast"]]
    )


def test_tou_windows_on_dst_days() -> None:
    tou = Tariff("tou")
    w = DEFAULT_TOU_DKK_PER_MWH["winter"]
    # 2025-03-30: clocks 02:00 CET -> 03:00 CEST. UTC 04:00 is 06:00 local (not 05:00).
    spring = pd.DatetimeIndex(
        ["2025-03-30 00:30", "2025-03-30 03:59", "2025-03-30 04:00", "2025-03-30 15:00"], tz="UTC"
    )
    np.testing.assert_array_equal(
        tou.at(spring), [w["lavlast"], w["lavlast"], w["højlast"], w["spidslast"]]
    )
    # 2025-10-26: clocks 03:00 CEST -> 02:00 CET. UTC 05:00 is 06:00 local; UTC 16:00 is 17:00.
    autumn = pd.DatetimeIndex(
        ["2025-10-26 00:30", "2025-10-26 01:30", "2025-10-26 04:59", "2025-10-26 05:00",
         "2025-10-26 15:59", "2025-10-26 16:00"], tz="UTC",
    )  # fmt: skip
    np.testing.assert_array_equal(
        tou.at(autumn),
        [w["lavlast"], w["lavlast"], w["lavlast"], w["højlast"], w["højlast"], w["spidslast"]],
    )
    # epoch seconds are accepted too
    np.testing.assert_array_equal(
        tou.at((spring - pd.Timestamp(0, tz="UTC")).total_seconds()), tou.at(spring)
    )


def test_tariff_from_csv(tmp_path: Path) -> None:
    rows = ["season;hour;price_DKK_per_kWh"]
    for season, k in (("winter", 1.0), ("summer", 0.5)):
        rows += [f"{season};{h};{k * (0.1 + 0.01 * h):.4f}".replace(".", ",") for h in range(24)]
    p = _write(tmp_path, "pricelist.csv", "\n".join(rows) + "\n")
    t = Tariff.from_csv(p)
    got = t.at(_utc("2025-01-10 18:00", "2025-06-10 18:00"))
    np.testing.assert_allclose(got, [1000.0 * 0.28, 1000.0 * 0.5 * 0.28])
    p2 = _write(tmp_path, "short.csv", "\n".join(rows[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"season 'summer' lacks hours \[23\]"):
        Tariff.from_csv(p2)
    with pytest.raises(ValueError, match="kind='weird'"):
        Tariff("weird")


# ---------------------------------------------------------------------------------------------
# PriceSignal
# ---------------------------------------------------------------------------------------------


def _signal(start: str, days: int = 4, tariff: Tariff | None = None) -> PriceSignal:
    t0 = pd.Timestamp(start, tz="UTC")
    spot = synthetic_dk_day_ahead(t0, t0 + pd.Timedelta(days=days), seed=1)
    return PriceSignal(spot, t0.to_pydatetime(), tariff if tariff is not None else Tariff("tou"))


def test_signal_at_components() -> None:
    sig = _signal("2025-01-14")
    t_s = 17 * 3600 + 1800.0  # 17:30 UTC = 18:30 CET: spidslast
    got = sig.at(t_s)
    assert set(got) == {
        "price_spot_DKK_per_MWh",
        "tariff_DKK_per_MWh",
        "tax_DKK_per_MWh",
        "price_total_DKK_per_MWh",
    }
    assert all(isinstance(v, float) for v in got.values())
    assert got["tax_DKK_per_MWh"] == ELECTRICITY_TAX_DKK_PER_MWH == 412.0
    assert got["tariff_DKK_per_MWh"] == DEFAULT_TOU_DKK_PER_MWH["winter"]["spidslast"]
    assert got["price_total_DKK_per_MWh"] == pytest.approx(
        got["price_spot_DKK_per_MWh"] + got["tariff_DKK_per_MWh"] + 412.0
    )
    with pytest.raises(
        ValueError, match=r"outside the price data, which covers t_s in \[0, 345600\)"
    ):
        sig.at(4 * 86400.0)


@pytest.mark.parametrize(
    ("start", "t_local_before", "n_before", "n_after"),
    [
        ("2025-01-14", "2025-01-15 12:59", 12, 35),  # CET: 11:00Z..22:00Z, then + 24 h
        ("2025-07-14", "2025-07-15 12:59", 12, 35),  # CEST
        ("2025-03-28", "2025-03-29 12:59", 12, 34),  # tomorrow is the 23-hour DST day
    ],
)
def test_forecast_horizon_before_after_publication(
    start: str, t_local_before: str, n_before: int, n_after: int
) -> None:
    sig = _signal(start)
    t0 = pd.Timestamp(start, tz="UTC")
    before = _utc(t_local_before)[0]
    after = before + pd.Timedelta(minutes=1)  # 13:00 local: next day's prices are known
    tb, ta = (before - t0).total_seconds(), (after - t0).total_seconds()
    fb, fa = sig.forecast(tb), sig.forecast(ta)
    assert len(fb) == n_before
    assert len(fa) == n_after
    times_b = sig.forecast_times(tb)
    assert times_b[0] <= tb < times_b[0] + 3600
    end_local = (t0 + pd.to_timedelta(times_b[-1] + 3600, unit="s")).tz_convert("Europe/Copenhagen")
    assert (end_local.hour, end_local.minute) == (0, 0)  # ends at local midnight
    assert end_local.day == before.tz_convert("Europe/Copenhagen").day + 1
    times_a = sig.forecast_times(ta)
    end_a = (t0 + pd.to_timedelta(times_a[-1] + 3600, unit="s")).tz_convert("Europe/Copenhagen")
    assert (end_a.hour, end_a.day) == (0, end_local.day + 1)
    # values are the total price of those hours
    for k in (0, len(fa) - 1):
        assert fa[k] == pytest.approx(sig.at(times_a[k])["price_total_DKK_per_MWh"])


def test_forecast_15min_spot_is_hourly_mean(tmp_path: Path) -> None:
    t0 = pd.Timestamp("2025-10-02", tz="UTC")
    idx = pd.date_range(t0, periods=4 * 48, freq="15min", tz="UTC")
    spot = pd.Series(np.arange(idx.size, dtype=float), index=idx)
    sig = PriceSignal(spot, t0.to_pydatetime(), Tariff(), 0.0)
    f = sig.forecast(0.0)  # 00:00Z = 02:00 CEST on 2 Oct: horizon to 22:00Z
    assert len(f) == 22
    np.testing.assert_allclose(f[:2], [1.5 + 244.0, 5.5 + 244.0])
    assert sig.at(900.0)["price_spot_DKK_per_MWh"] == 1.0
    eur = spot.copy()
    eur.attrs["currency"] = "EUR"
    with pytest.raises(ValueError, match="DKK/MWh"):
        PriceSignal(eur, t0.to_pydatetime(), Tariff(), 0.0)

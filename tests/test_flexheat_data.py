"""Tests of simulators/flexheat_data.py: FlexHeat demand vs the report's Table 1, the 2018-like
DK2 spot statistics, the report's price composition (Table 6), FCR-N prices, bundled CSVs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.flexheat_data import (
    BUNDLED_DEMAND_FILE,
    BUNDLED_DIR,
    BUNDLED_PRICES_FILE,
    HOURS_FOR_REPORT_MEAN,
    DemandParams,
    FcrnParams,
    PriceComposition,
    SpotParams,
    dk2_2018_like_spot,
    fcrn_capacity_prices_2018_like,
    flexheat_demand,
    load_demand_csv,
    load_energidataservice_fcr_csv,
    load_prices_csv,
    write_bundled,
)
from simulators.prices import Tariff, load_energidataservice_csv
from simulators.weather import reference_weather

# report Table 1 (FlexHeat area) and Table 6 (2019 / 2022 composition), DKK/MWh
REPORT_MWH, REPORT_MIN_KW, REPORT_MEAN_KW, REPORT_MAX_KW = 1950.0, 20.0, 270.0, 710.0
SPOT_MEAN_2018 = 239.0
FIXED_2019 = 101 + 38 + 42 + 257 + 1 + 117  # PSO, TSO, system, el-to-heat tax, balance, distr.
FIXED_2022 = 0 + 38 + 42 + 155 + 1 + 117

# DK2 2018 relative statistics (Energi Data Service Elspotprices, see docs), scaled to 239
TARGET_CV = 0.362
TARGET_SPREAD_REL = 0.642  # mean daily (local) max - min / annual mean
TARGET_MAX_REL = 5.52
TARGET_P5_REL, TARGET_P95_REL = 0.470, 1.581
TARGET_AC1 = 0.933


@pytest.fixture(scope="module")
def demand() -> pd.Series:
    return flexheat_demand(2018, seed=0)


@pytest.fixture(scope="module")
def spot() -> pd.Series:
    return dk2_2018_like_spot(seed=0)


# ---------------------------------------------------------------------------------------------
# demand
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demand_matches_report_table1(seed: int) -> None:
    q = flexheat_demand(2018, seed=seed)
    assert len(q) == 8760 and str(q.index.tz) == "UTC"
    assert q.index[0] == pd.Timestamp("2018-01-01T00:00Z")
    assert q.sum() / 1000.0 == pytest.approx(REPORT_MWH, rel=0.05)
    assert q.min() == pytest.approx(REPORT_MIN_KW, rel=0.05)
    assert q.max() == pytest.approx(REPORT_MAX_KW, rel=0.05)
    # the solved balance temperature is a plausible heating limit for commercial buildings
    assert 13.0 <= q.attrs["T_balance_C"] <= 19.0
    assert q.attrs["base_kW"] >= 0 and q.attrs["UA_kW_per_K"] > 0


def test_demand_mean_inconsistency_documented(demand: pd.Series) -> None:
    # 1950 MWh over 8760 h is 0.223 MW, not the report's 0.27 MW; 0.27 MW holds over 7222 h
    assert demand.mean() == pytest.approx(REPORT_MWH * 1000 / 8760, rel=0.05)
    assert demand.mean() < 0.9 * REPORT_MEAN_KW
    assert HOURS_FOR_REPORT_MEAN == pytest.approx(7222.2, abs=0.1)


def test_demand_pattern(demand: pd.Series) -> None:
    local = demand.index.tz_convert("Europe/Copenhagen")
    winter = np.isin(local.month, [12, 1, 2])
    summer = np.isin(local.month, [6, 7, 8])
    assert demand[winter].mean() > 2.5 * demand[summer].mean()
    weekday_office = winter & (local.dayofweek < 5) & (local.hour >= 8) & (local.hour < 16)
    weekend_same = winter & (local.dayofweek >= 5) & (local.hour >= 8) & (local.hour < 16)
    assert demand[weekday_office].mean() > 1.05 * demand[weekend_same].mean()
    # cruise season: ship-call hours (daytime) above nights in summer
    day = summer & (local.hour >= 8) & (local.hour < 18)
    night = summer & ((local.hour < 5) | (local.hour >= 22))
    assert demand[day].mean() > 1.2 * demand[night].mean()


def test_demand_reproducible_and_seeded(demand: pd.Series) -> None:
    pd.testing.assert_series_equal(demand, flexheat_demand(2018, seed=0))
    other = flexheat_demand(2018, seed=1)
    assert np.abs(other.to_numpy() - demand.to_numpy()).mean() > 5.0


def test_demand_with_given_weather_and_fixed_balance_temperature(demand: pd.Series) -> None:
    w = reference_weather(datetime(2018, 1, 1), 365 * 86400, seed=3) - 2.0
    q = flexheat_demand(2018, seed=0, weather=w)
    assert q.sum() / 1000 == pytest.approx(REPORT_MWH, rel=1e-6)
    assert q.max() == pytest.approx(REPORT_MAX_KW, rel=1e-6)
    assert not np.allclose(q.to_numpy(), demand.to_numpy())
    # fixed balance temperature: energy and max calibrated, minimum emerges
    fixed = flexheat_demand(2018, seed=0, params=DemandParams(T_balance_C=15.0))
    assert fixed.attrs["T_balance_C"] == 15.0
    assert fixed.sum() / 1000 == pytest.approx(REPORT_MWH, rel=1e-6)
    assert fixed.max() == pytest.approx(REPORT_MAX_KW, rel=1e-6)
    # a leap year has 8784 hours and the same annual energy
    leap = flexheat_demand(2020, seed=0)
    assert len(leap) == 8784 and leap.sum() / 1000 == pytest.approx(REPORT_MWH, rel=1e-6)


def test_demand_bad_input() -> None:
    with pytest.raises(ValueError, match="seed"):
        flexheat_demand(2018, seed=-1)
    with pytest.raises(ValueError, match="year"):
        flexheat_demand(1800)
    with pytest.raises(ValueError, match="warehouse_share"):
        flexheat_demand(2018, params=DemandParams(warehouse_share=1.5))
    with pytest.raises(ValueError, match="port_day_prob"):
        flexheat_demand(2018, params=DemandParams(port_day_prob=(0.5,) * 11))
    with pytest.raises(ValueError, match="annual_MWh"):
        flexheat_demand(2018, params=DemandParams(annual_MWh=6000.0))  # mean near the peak
    short = reference_weather(datetime(2018, 1, 1), 30 * 86400)
    with pytest.raises(ValueError, match="weather must cover"):
        flexheat_demand(2018, weather=short)


def test_load_demand_csv_errors(tmp_path: Path) -> None:
    good = tmp_path / "d.csv"
    good.write_text("# comment\ntime,kW\n2018-01-01T00:00:00Z,10.5\n2018-01-01T01:00:00Z,12\n")
    s = load_demand_csv(good)
    assert s.tolist() == [10.5, 12.0] and str(s.index.tz) == "UTC"
    cases = {
        "time,MW\n2018-01-01T00:00:00Z,1\n": r"d\.csv:\d+: no column 'kW'",
        "time,kW\n2018-01-01T00:00:00Z,1\nnot-a-time,2\n": r"d\.csv:3: bad time 'not-a-time'",
        "time,kW\n2018-01-01T00:00:00Z,1\n2018-01-01T01:00:00Z,abc\n": r"d\.csv:3: bad kW",
        "time,kW\n2018-01-01T01:00:00Z,1\n2018-01-01T00:00:00Z,2\n": r"d\.csv:3: time .* not after",
        "time,kW\n2018-01-01T00:00:00Z,-1\n": r"negative demand -1 kW",
        "time,kW\n2018-01-01T00:00:00Z,1,2\n": r"d\.csv:2: 3 fields",
    }
    for text, msg in cases.items():
        good.write_text(text)
        with pytest.raises(ValueError, match=msg):
            load_demand_csv(good)
    with pytest.raises(ValueError, match="no such file"):
        load_demand_csv(tmp_path / "missing.csv")


# ---------------------------------------------------------------------------------------------
# 2018-like DK2 spot
# ---------------------------------------------------------------------------------------------


def _daily_spread(s: pd.Series) -> float:
    local = s.index.tz_convert("Europe/Copenhagen")
    g = s.groupby(local.date)
    return float((g.max() - g.min()).mean())


def test_spot_statistics_vs_targets(spot: pd.Series) -> None:
    assert len(spot) == 8760 and spot.index[0] == pd.Timestamp("2018-01-01T00:00Z")
    m = SPOT_MEAN_2018
    assert spot.mean() == pytest.approx(m, rel=1e-9)
    assert spot.std() / m == pytest.approx(TARGET_CV, rel=0.10)
    assert _daily_spread(spot) / m == pytest.approx(TARGET_SPREAD_REL, rel=0.10)
    assert spot.quantile(0.05) / m == pytest.approx(TARGET_P5_REL, rel=0.10)
    assert spot.quantile(0.95) / m == pytest.approx(TARGET_P95_REL, rel=0.10)
    v = spot.to_numpy()
    assert np.corrcoef(v[:-1], v[1:])[0, 1] == pytest.approx(TARGET_AC1, abs=0.03)
    assert spot.max() / m == pytest.approx(TARGET_MAX_REL, rel=0.40)  # single-hour spikes
    # DK2 2018 had 40 negative hours; the Gaussian weather term gives fewer (documented)
    assert 1 <= int((spot < 0).sum()) <= 40
    # 2018 shape: January cheapest month, Jul-Nov dear; weekdays dearer than weekends
    local = spot.index.tz_convert("Europe/Copenhagen")
    monthly = spot.groupby(local.month).mean()
    assert monthly.idxmin() in (1, 4) and monthly.loc[7:11].mean() > 1.1 * m
    weekend = local.dayofweek >= 5
    assert spot[~weekend].mean() > 1.1 * spot[weekend].mean()


def test_spot_reproducible_and_volatility_parameter(spot: pd.Series) -> None:
    pd.testing.assert_series_equal(spot, dk2_2018_like_spot(seed=0))
    assert np.abs(dk2_2018_like_spot(seed=1).to_numpy() - spot.to_numpy()).mean() > 20.0
    calm = dk2_2018_like_spot(0, replace(SpotParams(), wind_sigma=0.1, spike_hours_per_year=0))
    wild = dk2_2018_like_spot(0, replace(SpotParams(), wind_sigma=0.45))
    assert calm.std() < 0.8 * spot.std() < wild.std()
    assert calm.mean() == pytest.approx(SPOT_MEAN_2018) and wild.mean() == pytest.approx(239.0)
    with pytest.raises(ValueError, match="monthly_level"):
        dk2_2018_like_spot(0, replace(SpotParams(), monthly_level=(1.0,) * 11))
    with pytest.raises(ValueError, match="wind_sigma"):
        dk2_2018_like_spot(0, replace(SpotParams(), wind_sigma=-0.1))


# ---------------------------------------------------------------------------------------------
# price composition
# ---------------------------------------------------------------------------------------------


def test_composition_sums_to_report(spot: pd.Series) -> None:
    c19, c22 = PriceComposition.report_2019(), PriceComposition.report_2022()
    assert c19.fixed_DKK_per_MWh == FIXED_2019
    assert c19.mean_total(SPOT_MEAN_2018) == pytest.approx(795.0)
    assert c22.mean_total(SPOT_MEAN_2018) == pytest.approx(592.0)
    df = c19.components_at(spot.index, spot)
    parts = ["spot", "pso", "tso_tariff", "system_tariff", "el_heat_tax", "balance_tariff",
             "distribution", "vat"]  # fmt: skip
    assert list(df.columns) == [*parts, "total"]
    np.testing.assert_allclose(df[parts].sum(axis=1), df["total"])
    assert df["total"].mean() == pytest.approx(795.0, rel=1e-9)
    # report: 2019 bill 45 % variable (spot + distribution)
    assert (df["spot"].mean() + df["distribution"].mean()) / 795 == pytest.approx(0.45, abs=0.01)
    vat = PriceComposition.report_2019(vat_frac=0.25).components_at(spot.index, spot.to_numpy())
    assert vat["total"].mean() == pytest.approx(795.0 * 1.25)


def test_composition_time_of_use_distribution(spot: pd.Series) -> None:
    c = PriceComposition.report_2019(distribution_tou=Tariff("tou"))
    df = c.components_at(spot.index, spot)
    assert df["distribution"].mean() == pytest.approx(117.0, rel=0.005)
    local = spot.index.tz_convert("Europe/Copenhagen")
    peak = df["distribution"][(local.hour >= 17) & (local.hour < 21)].mean()
    night = df["distribution"][local.hour < 6].mean()
    assert peak > 4 * night
    assert df["total"].mean() == pytest.approx(795.0, rel=0.005)


def test_composition_from_energidataservice_csvs(tmp_path: Path) -> None:
    hourly = tmp_path / "Elspotprices.csv"
    rows = ["HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR"]
    for h in range(23, -1, -1):  # newest first, decimal comma, both areas
        for area, price in (("DK1", 100.0 + h), ("DK2", 200.0 + 10 * h)):
            rows.append(f"2018-03-01T{h:02d}:00:00Z;x;{area};{price:.2f}".replace(".", ",") + ";0")
    hourly.write_text("\n".join(rows) + "\n")
    quarter = tmp_path / "DayAheadPrices.csv"
    rows = ["TimeUTC,TimeDK,PriceArea,DayAheadPriceDKK,DayAheadPriceEUR"]
    rows += [f"2025-10-01 00:{15 * q:02d},x,DK2,{50.0 * q},0" for q in range(4)]
    quarter.write_text("\n".join(rows) + "\n")
    comp = PriceComposition.report_2019()
    for path, expect_spot in ((hourly, 200.0 + 10 * np.arange(24)), (quarter, 50.0 * np.arange(4))):
        s = load_energidataservice_csv(path, "DK2")
        df = comp.components_at(s.index, s)
        np.testing.assert_allclose(df["spot"], expect_spot)
        np.testing.assert_allclose(df["total"], expect_spot + FIXED_2019)


def test_composition_bad_input(spot: pd.Series) -> None:
    with pytest.raises(ValueError, match="pso"):
        PriceComposition(pso=float("nan"))
    with pytest.raises(ValueError, match="vat_frac"):
        PriceComposition(vat_frac=2.0)
    with pytest.raises(ValueError, match="distribution_tou"):
        PriceComposition(distribution_tou="tou")  # type: ignore[arg-type]
    comp = PriceComposition.report_2019()
    with pytest.raises(ValueError, match="len\\(times\\)"):
        comp.components_at(spot.index, spot.to_numpy()[:-1])
    with pytest.raises(ValueError, match="no value for 24"):
        comp.components_at(spot.index, spot.iloc[:-24])


# ---------------------------------------------------------------------------------------------
# FCR-N capacity prices
# ---------------------------------------------------------------------------------------------


def test_fcrn_prices() -> None:
    f = fcrn_capacity_prices_2018_like(0)
    assert len(f) == 8760 and f.mean() == pytest.approx(FcrnParams().mean_DKK_per_MW_h)
    assert f.min() > 0
    local = f.index.tz_convert("Europe/Copenhagen")
    assert f[local.hour <= 2].mean() > f[(local.hour >= 11) & (local.hour <= 14)].mean()
    summer = f[np.isin(local.month, [5, 6, 7])].mean()
    winter = f[np.isin(local.month, [11, 12, 1])].mean()
    assert summer > 1.15 * winter
    assert 0.25 < f.std() / f.mean() < 0.7
    pd.testing.assert_series_equal(f, fcrn_capacity_prices_2018_like(0))
    assert fcrn_capacity_prices_2018_like(0, mean_DKK_per_MW_h=300.0).mean() == pytest.approx(300)
    with pytest.raises(ValueError, match="mean_DKK_per_MW_h"):
        fcrn_capacity_prices_2018_like(0, mean_DKK_per_MW_h=-5.0)


def test_load_energidataservice_fcr_csv(tmp_path: Path) -> None:
    p = tmp_path / "FcrReservesDK2.csv"
    head = "HourUTC,HourDK,FCR_N_PriceDKK,FCR_N_PriceEUR,FCR_D_UpPriceDKK,FCR_D_UpPriceEUR\n"
    body = "".join(
        f"2018-01-01T{h:02d}:00:00,x,{100 + h},{(100 + h) / 7.45:.2f},1,1\n" for h in (2, 1, 0)
    )
    p.write_text(head + body)
    s = load_energidataservice_fcr_csv(p)
    assert s.tolist() == [100.0, 101.0, 102.0]
    assert s.index[0] == pd.Timestamp("2018-01-01T00:00Z")
    assert load_energidataservice_fcr_csv(p, "EUR").iloc[0] == pytest.approx(13.42)
    p.write_text(head + body.replace("101,", "x1,"))
    with pytest.raises(ValueError, match=r"FcrReservesDK2\.csv:3: bad FCR_N_PriceDKK"):
        load_energidataservice_fcr_csv(p)
    p.write_text(head + body + body.splitlines(keepends=True)[0])
    with pytest.raises(ValueError, match="duplicate hour"):
        load_energidataservice_fcr_csv(p)
    p.write_text("HourUTC,SpotPriceDKK\n2018-01-01T00:00,1\n")
    with pytest.raises(ValueError, match="FCR_N_PriceDKK"):
        load_energidataservice_fcr_csv(p)


# ---------------------------------------------------------------------------------------------
# bundled files
# ---------------------------------------------------------------------------------------------


def test_bundled_csvs_equal_regeneration(
    tmp_path: Path, demand: pd.Series, spot: pd.Series
) -> None:
    write_bundled(tmp_path)
    for name in (BUNDLED_DEMAND_FILE, BUNDLED_PRICES_FILE):
        bundled = (BUNDLED_DIR / name).read_bytes()
        assert bundled.startswith(b"# ")
        assert bundled == (tmp_path / name).read_bytes(), f"{name} differs; run write_bundled()"
    q = load_demand_csv(BUNDLED_DIR / BUNDLED_DEMAND_FILE)
    np.testing.assert_allclose(q.to_numpy(), demand.to_numpy(), atol=5e-4)
    assert (q.index == demand.index).all()
    prices = load_prices_csv(BUNDLED_DIR / BUNDLED_PRICES_FILE)
    np.testing.assert_allclose(prices["price_spot_DKK_per_MWh"], spot.to_numpy(), atol=5e-3)
    np.testing.assert_allclose(
        prices["price_fcr_n_DKK_per_MW_h"], fcrn_capacity_prices_2018_like(0).to_numpy(), atol=5e-3
    )

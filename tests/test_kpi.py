"""KPI formulas against hand-computed values on small synthetic recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.kpi import KPI_DEFINITIONS, compare_kpis, compute_kpis, resample_mean

T0 = pd.Timestamp("2024-01-15 00:00", tz="UTC")


def frame(entity: str, seconds: list[float], **fields: list[float]) -> pd.DataFrame:
    """A recorded frame: samples at T0 + seconds for one entity."""
    return pd.DataFrame(
        {
            "time": T0 + pd.to_timedelta(seconds, unit="s"),
            "entity": entity,
            "run_id": "r1",
            "scenario": "test",
            "source": "sim",
            **fields,
        }
    )


def both(*frames: pd.DataFrame, shuffle: bool = True) -> pd.DataFrame:
    """Concatenate entity frames; shuffled rows prove the code sorts by (entity, time)."""
    df = pd.concat(frames, ignore_index=True)
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True) if shuffle else df


# ---------------------------------------------------------------- comfort


def test_discomfort_integral_irregular_sampling_two_zones() -> None:
    # Zone A: 19 °C for 600 s, 21 °C for 1200 s, 24 °C for the last step (60 s).
    # Zone B: 18 °C for 3600 s, 23.5 °C for the last step (60 s).
    a = frame("A", [0, 600, 1800], T_room_C=[19.0, 21.0, 24.0])
    b = frame("B", [0, 3600], T_room_C=[18.0, 23.5])
    k = compute_kpis({"building": both(a, b)}, 20.0, 23.0, step_s=60.0)
    below = (1.0 * 600 + 2.0 * 3600) / 3600  # K·h
    above = (1.0 * 60 + 0.5 * 60) / 3600
    assert k["discomfort_below_Kh"] == pytest.approx(below, rel=1e-12)
    assert k["discomfort_above_Kh"] == pytest.approx(above, rel=1e-12)
    assert k["thermal_discomfort_Kh"] == pytest.approx(below + above, rel=1e-12)
    assert k["thermal_discomfort_Kh_per_zone"] == pytest.approx((below + above) / 2, rel=1e-12)
    mean = (19 * 600 + 21 * 1200 + 24 * 60 + 18 * 3600 + 23.5 * 60) / (600 + 1200 + 60 + 3600 + 60)
    assert k["mean_T_room_C"] == pytest.approx(mean, rel=1e-12)
    assert k["T_room_min_C"] == 18.0 and k["T_room_max_C"] == 24.0


def test_discomfort_depends_on_band_and_ignores_nan_samples() -> None:
    b = frame("A", [0, 3600, 7200], T_room_C=[21.0, np.nan, 22.0])
    k = compute_kpis({"building": b}, comfort_low_C=21.5, comfort_high_C=23.0, step_s=3600.0)
    # 21 °C holds 1 h at 0.5 K below 21.5; the NaN hour is not counted; 22 °C is inside.
    assert k["thermal_discomfort_Kh"] == pytest.approx(0.5)
    assert k["mean_T_room_C"] == pytest.approx(21.5)


# ---------------------------------------------------------------- energy


def test_energy_cop_backup_and_multi_entity_sums() -> None:
    # hp1 samples at 0, 900 s, 2700 s (holds 900, 1800, 60 s); hp2 at 0 and 3600 s (3600, 60 s).
    h1 = frame("hp1", [0, 900, 2700], P_el_kW=[2.0, 1.0, 3.0], Q_th_kW=[6.0, 4.0, 9.0],
               Q_sh_kW=[6.0, 0.0, 9.0], Q_dhw_kW=[0.0, 4.0, 0.0], P_backup_kW=[0.0, 0.0, 1.0],
               Q_backup_kW=[0.0, 0.0, 1.0])
    h2 = frame("hp2", [0, 3600], P_el_kW=[1.5, 0.0], Q_th_kW=[4.5, 0.0], Q_sh_kW=[4.5, 0.0],
               Q_dhw_kW=[0.0, 0.0], P_backup_kW=[0.5, 0.0], Q_backup_kW=[0.5, 0.0])
    k = compute_kpis({"heatpump": both(h1, h2)}, step_s=60.0)
    el = (2 * 900 + 1 * 1800 + 3 * 60 + 1.5 * 3600) / 3600
    heat = (6 * 900 + 4 * 1800 + 9 * 60 + 4.5 * 3600) / 3600
    backup_heat = (1 * 60 + 0.5 * 3600) / 3600
    assert k["electricity_kWh"] == pytest.approx(el, rel=1e-12)
    assert k["heat_delivered_kWh"] == pytest.approx(heat, rel=1e-12)
    assert k["space_heating_kWh"] == pytest.approx((6 * 900 + 9 * 60 + 4.5 * 3600) / 3600)
    assert k["dhw_heat_kWh"] == pytest.approx(4 * 1800 / 3600)
    assert k["seasonal_cop"] == pytest.approx(heat / el, rel=1e-12)
    assert k["backup_electricity_kWh"] == pytest.approx(backup_heat, rel=1e-12)
    assert k["backup_heat_share_frac"] == pytest.approx(backup_heat / heat, rel=1e-12)


def test_tank_unmet_and_loss() -> None:
    t = frame("tank1", [0, 120, 600], Q_unmet_kW=[0.0, 3.0, 0.0], Q_loss_kW=[0.06, 0.05, 0.04])
    k = compute_kpis({"tank": t}, step_s=60.0)
    assert k["dhw_unmet_kWh"] == pytest.approx(3.0 * 480 / 3600)
    assert k["tank_loss_kWh"] == pytest.approx((0.06 * 120 + 0.05 * 480 + 0.04 * 60) / 3600)


def test_hp_starts_increase_of_cumulative_counter_per_entity() -> None:
    a = frame("hp1", [0, 60, 120, 180], starts=[5.0, 5.0, 6.0, 8.0])
    b = frame("hp2", [0, 60, 120, 180, 240], starts=[0.0, 1.0, 1.0, np.nan, 2.0])
    k = compute_kpis({"heatpump": both(a, b)})
    assert k["hp_starts"] == 3 + 2


# ---------------------------------------------------------------- cost (as-of price join)


def market(seconds: list[float], total: list[float], **parts: list[float]) -> pd.DataFrame:
    return frame("dk1", seconds, price_total_DKK_per_MWh=total, **parts)


def test_cost_splits_power_intervals_at_price_changes() -> None:
    # Prices: 100 DKK/MWh from 00:00, 300 from 01:00 (the last sample holds on, as-of).
    # HP: 2 kW from 00:30 to 01:30 (half at 100, half at 300), then 4 kW for 30 min (step_s).
    m = market([0, 3600], [100.0, 300.0], price_spot_DKK_per_MWh=[40.0, 200.0],
               tariff_DKK_per_MWh=[10.0, 50.0], tax_DKK_per_MWh=[50.0, 50.0])
    hp = frame("hp1", [1800, 5400], P_el_kW=[2.0, 4.0])
    k = compute_kpis({"heatpump": hp, "market": m}, step_s=1800.0)
    cost = (2.0 * 0.5 * 100 + 2.0 * 0.5 * 300 + 4.0 * 0.5 * 300) / 1000  # = 1.0 DKK
    assert k["cost_DKK"] == pytest.approx(cost, rel=1e-12)
    assert k["cost_spot_DKK"] == pytest.approx((1 * 40 + 1 * 200 + 2 * 200) / 1000, rel=1e-12)
    assert k["cost_tariff_DKK"] == pytest.approx((1 * 10 + 1 * 50 + 2 * 50) / 1000, rel=1e-12)
    assert k["cost_tax_DKK"] == pytest.approx(4 * 50 / 1000, rel=1e-12)
    assert k["cost_spot_DKK"] + k["cost_tariff_DKK"] + k["cost_tax_DKK"] == pytest.approx(cost)
    assert k["electricity_kWh"] == pytest.approx(4.0)
    assert k["mean_price_paid_DKK_per_MWh"] == pytest.approx(cost / 0.004)
    assert k["electricity_unpriced_kWh"] == 0.0


def test_cost_matches_merge_asof_on_aligned_minute_data() -> None:
    rng = np.random.default_rng(7)
    n = 6 * 60  # 6 h at 60 s
    hp = frame("hp1", list(np.arange(n) * 60.0), P_el_kW=list(rng.uniform(0, 3, n)))
    m = market(list(np.arange(6) * 3600.0), list(rng.uniform(200, 2500, 6)))
    k = compute_kpis({"heatpump": hp, "market": m}, step_s=60.0)
    joined = pd.merge_asof(hp.sort_values("time"), m[["time", "price_total_DKK_per_MWh"]],
                           on="time", direction="backward")
    ref = (joined["P_el_kW"] * joined["price_total_DKK_per_MWh"]).sum() * 60 / 3600 / 1000
    assert k["cost_DKK"] == pytest.approx(ref, rel=1e-10)


def test_energy_before_first_market_sample_is_unpriced() -> None:
    hp = frame("hp1", list(np.arange(120) * 60.0), P_el_kW=[1.0] * 120)  # 1 kW for 2 h
    m = market([3600.0], [500.0])  # first price at 01:00
    k = compute_kpis({"heatpump": hp, "market": m}, step_s=60.0)
    assert k["electricity_kWh"] == pytest.approx(2.0)
    assert k["electricity_unpriced_kWh"] == pytest.approx(1.0)
    assert k["cost_DKK"] == pytest.approx(1.0 * 500 / 1000)
    assert k["mean_price_paid_DKK_per_MWh"] == pytest.approx(500.0)


def test_cost_sums_over_heat_pump_entities() -> None:
    m = market([0.0], [1000.0])
    h1 = frame("hp1", [0, 1800], P_el_kW=[2.0, 2.0])
    h2 = frame("hp2", [0], P_el_kW=[1.0])
    k = compute_kpis({"heatpump": both(h1, h2), "market": m}, step_s=1800.0)
    assert k["cost_DKK"] == pytest.approx((2.0 * 1.0 + 1.0 * 0.5) * 1000 / 1000)


# ---------------------------------------------------------------- 15-min peak


def test_peak_uses_clock_aligned_15min_bins_and_coincident_site_sum() -> None:
    # hp1: 10 kW from 00:10 to 00:20 -> 5 min in bin [00:00,00:15) and 5 min in [00:15,00:30):
    # both bins average 3.33 kW (a sliding 15-min window would give 6.67 kW).
    h1 = frame("hp1", [0, 600, 1200, 2640], P_el_kW=[0.0, 10.0, 0.0, 0.0])
    # hp2: 6 kW in [00:30,00:45): its peak does not coincide with hp1's.
    h2 = frame("hp2", [0, 1800, 2700], P_el_kW=[0.0, 6.0, 0.0])
    k = compute_kpis({"heatpump": h1}, step_s=60.0)
    assert k["peak_15min_kW"] == pytest.approx(10.0 * 300 / 900)
    k2 = compute_kpis({"heatpump": both(h1, h2)}, step_s=60.0)
    assert k2["peak_15min_kW"] == pytest.approx(6.0)  # not 3.33 + 6 (sum of unit peaks)


def test_peak_partial_bin_is_averaged_over_the_recorded_part() -> None:
    # The run starts at 00:05: bin [00:00,00:15) holds 3 kW for its 10 recorded minutes.
    hp = frame("hp1", [300, 900], P_el_kW=[3.0, 1.0])
    k = compute_kpis({"heatpump": hp}, step_s=900.0)
    assert k["peak_15min_kW"] == pytest.approx(3.0)


# ---------------------------------------------------------------- omission and validation


def test_missing_measurements_and_fields_omit_kpis() -> None:
    assert compute_kpis({}) == {}
    b = frame("A", [0, 60], T_room_C=[21.0, 21.0])
    k = compute_kpis({"building": b})
    assert set(k) == {"thermal_discomfort_Kh", "thermal_discomfort_Kh_per_zone",
                      "discomfort_below_Kh", "discomfort_above_Kh", "mean_T_room_C",
                      "T_room_min_C", "T_room_max_C"}
    hp = frame("hp1", [0, 60], P_el_kW=[1.0, 1.0])  # no Q_th, no starts, no market
    k = compute_kpis({"heatpump": hp, "market": market([0], [np.nan])})
    assert set(k) == {"electricity_kWh", "peak_15min_kW"}
    hp_nan = frame("hp1", [0, 60], P_el_kW=[np.nan, np.nan], Q_th_kW=[1.0, 1.0])
    k = compute_kpis({"heatpump": hp_nan})
    assert "electricity_kWh" not in k and "seasonal_cop" not in k
    assert k["heat_delivered_kWh"] == pytest.approx(2 * 60 / 3600)


def test_every_result_is_registered_and_documented() -> None:
    h = frame("hp1", [0, 60], P_el_kW=[1.0, 2.0], Q_th_kW=[3.0, 6.0], Q_sh_kW=[3.0, 6.0],
              Q_dhw_kW=[0.0, 0.0], P_backup_kW=[0.0, 0.0], Q_backup_kW=[0.0, 0.0],
              starts=[0.0, 1.0])
    frames = {
        "heatpump": h,
        "building": frame("A", [0, 60], T_room_C=[19.0, 24.0]),
        "tank": frame("t", [0, 60], Q_unmet_kW=[0.0, 1.0], Q_loss_kW=[0.1, 0.1]),
        "market": market([0], [1000.0], price_spot_DKK_per_MWh=[500.0],
                         tariff_DKK_per_MWh=[200.0], tax_DKK_per_MWh=[300.0]),
    }
    k = compute_kpis(frames)
    assert set(k) == set(KPI_DEFINITIONS)  # every KPI computable from a complete recording
    doc = (Path(__file__).resolve().parents[1] / "docs" / "kpis.md").read_text(encoding="utf-8")
    for name, d in KPI_DEFINITIONS.items():
        assert d.unit and d.description and d.method and d.source
        assert f"`{name}`" in doc, f"{name} is not documented in docs/kpis.md"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"comfort_low_C": 23.0, "comfort_high_C": 20.0}, "comfort_low_C"),
        ({"step_s": 0.0}, "step_s"),
        ({"step_s": float("nan")}, "step_s"),
        ({"comfort_low_C": float("inf")}, "comfort_low_C"),
    ],
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_kpis({}, **kwargs)


def test_bad_frames_raise() -> None:
    with pytest.raises(ValueError, match="'time'"):
        compute_kpis({"building": pd.DataFrame({"T_room_C": [20.0]})})
    with pytest.raises(ValueError, match="datetime64"):
        compute_kpis({"building": pd.DataFrame({"time": [1.0], "T_room_C": [20.0]})})
    with pytest.raises(ValueError, match="frames"):
        compute_kpis([1, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------- helpers


def test_resample_mean_is_time_weighted() -> None:
    # 2 kW for 600 s, 5 kW for 600 s, then 1 kW for the last 60 s (run ends at 00:21):
    # bin [00:00,00:15) = (2*600 + 5*300)/900 = 3 kW; bin [00:15,00:30) covers only 360 s.
    df = frame("hp1", [0, 600, 1200], P_el_kW=[2.0, 5.0, 1.0])
    out = resample_mean(df, ["P_el_kW"], 900.0, step_s=60.0)
    assert list(out["P_el_kW"]) == pytest.approx([3.0, (5 * 300 + 1 * 60) / 360])
    assert out["time"].iloc[1] == T0 + pd.Timedelta(minutes=15)
    with pytest.raises(ValueError, match="Q_th_kW"):
        resample_mean(df, ["Q_th_kW"], 900.0)


def test_compare_kpis_differences() -> None:
    t = compare_kpis({"cost_DKK": 80.0, "hp_starts": 12.0}, {"cost_DKK": 100.0, "x": 1.0})
    assert t.loc["cost_DKK", "diff"] == pytest.approx(-20.0)
    assert t.loc["cost_DKK", "diff_frac"] == pytest.approx(-0.2)
    assert t.loc["cost_DKK", "unit"] == "DKK"
    assert np.isnan(t.loc["hp_starts", "diff"]) and np.isnan(t.loc["x", "flexible"])


def test_year_of_minute_samples_integrates_exactly() -> None:
    n = 366 * 24 * 60  # 2024 at 60 s
    t = pd.date_range("2024-01-01", periods=n, freq="60s", tz="UTC")
    hp = pd.DataFrame({"time": t, "entity": "hp1", "P_el_kW": 1.5, "Q_th_kW": 4.5,
                       "starts": np.arange(n) // 60})
    k = compute_kpis({"heatpump": hp}, step_s=60.0)
    assert k["electricity_kWh"] == pytest.approx(1.5 * 366 * 24, rel=1e-12)
    assert k["seasonal_cop"] == pytest.approx(3.0, rel=1e-12)
    assert k["peak_15min_kW"] == pytest.approx(1.5, rel=1e-9)
    assert k["hp_starts"] == (n - 1) // 60

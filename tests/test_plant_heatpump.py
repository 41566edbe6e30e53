"""FlexHeat plant heat pump (native core + its FMU) and the electric / oil boilers (issue #8).

Reference figures: EnergyLab Nordhavn WP5.3 report (/work/shared/seeds/003_3ca17098330bce20.txt):
800 kW heat, load 34–100 %, best COP at 80–90 % load, supply 60–84 °C, source 10.5 °C,
30 DKK per start, 200 kW electric boiler; shared decision: COP ≈ 2.9 at 88 % load, 75 °C supply,
35–40 °C return.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulators.boilers import ElectricBoiler, ElectricBoilerParams, OilBoiler, OilBoilerParams
from simulators.constants import CP_WATER_J_PER_KGK
from simulators.plant_heatpump import (
    OUTPUTS,
    P_el_kW_at,
    PlantHeatPump,
    PlantHeatPumpParams,
    cop,
    eta_lorenz,
    load_for_P_el,
)

P = PlantHeatPumpParams()
LOADS = np.linspace(0.34, 1.0, 661)


# --------------------------------------------------------------------------------------------------
# COP model
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("t_sup, t_ret", [(60.0, 35.0), (75.0, 35.0), (75.0, 40.0), (84.0, 45.0)])
def test_cop_optimum_between_80_and_90_percent_load(t_sup: float, t_ret: float) -> None:
    c = cop(LOADS, t_sup, t_ret, 10.5, P)
    assert 0.80 <= LOADS[np.argmax(c)] <= 0.90
    assert c[0] < c.max() and c[-1] < c.max()


@pytest.mark.parametrize("t_ret", [35.0, 37.5, 40.0])
def test_cop_at_88_percent_75C_supply(t_ret: float) -> None:
    assert 2.8 <= float(cop(0.88, 75.0, t_ret, 10.5, P)) <= 3.0


def test_part_load_efficiency_falls_15_percent_at_minimum_load() -> None:
    drop = 1.0 - float(eta_lorenz(0.34, P) / eta_lorenz(0.85, P))
    assert 0.14 <= drop <= 0.16


def test_cop_falls_with_supply_and_rises_with_source_temperature() -> None:
    t_sup = np.linspace(60.0, 84.0, 25)
    for x in (0.34, 0.88, 1.0):
        assert np.all(np.diff(cop(x, t_sup, 35.0, 10.5, P)) < 0.0)
        assert np.all(np.diff(cop(x, 75.0, 35.0, np.linspace(2.0, 20.0, 19), P)) > 0.0)
    # default source = the 10.5 °C parameter
    assert float(cop(0.88, 75.0, 35.0, None, P)) == float(cop(0.88, 75.0, 35.0, 10.5, P))


def test_power_is_monotone_and_inverse_exact() -> None:
    rng = np.random.default_rng(8)
    x = rng.uniform(0.0, 1.0, 2000)
    ts = rng.uniform(60.0, 84.0, 2000)
    tr = rng.uniform(25.0, 55.0, 2000)
    tsrc = rng.uniform(4.0, 16.0, 2000)
    p = P_el_kW_at(x, ts, tr, tsrc, P)
    assert np.max(np.abs(load_for_P_el(p, ts, tr, tsrc, P) - x)) < 1e-9
    assert np.all(np.diff(P_el_kW_at(LOADS, 75.0, 35.0, 10.5, P)) > 0.0)
    assert float(load_for_P_el(0.0, 75.0, 35.0, None, P)) == 0.0
    # no part-load curvature: the inverse is linear
    p0 = PlantHeatPumpParams(part_load_k=0.0)
    assert abs(float(load_for_P_el(P_el_kW_at(0.6, 70, 40, 10, p0), 70, 40, 10, p0)) - 0.6) < 1e-12


# --------------------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------------------
def run(hp: PlantHeatPump, dt: float, sets: list[float], **kw: float) -> dict[str, np.ndarray]:
    """Step ``hp`` through the load set points; outputs stacked per step (steps, N)."""
    rows = [hp.step(dt, s, kw.get("T_supply_C", 75.0), kw.get("T_return_C", 35.0),
                    dP_el_set_kW=kw.get("dP", 0.0)) for s in sets]
    return {k: np.array([r[k] for r in rows]) for k in OUTPUTS}


def test_load_range_and_energy() -> None:
    hp = PlantHeatPump(PlantHeatPumpParams(ramp_frac_per_s=np.inf), n=4)
    out = hp.step(60.0, np.array([0.0, 0.1, 0.6, 1.7]), 75.0, 35.0)
    np.testing.assert_array_equal(out["on"], [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(out["load_frac"], [0.0, 0.34, 0.6, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out["Q_th_kW"], 800.0 * out["load_frac"], rtol=1e-15)
    np.testing.assert_allclose(out["Q_th_kW"], out["cop"] * out["P_el_kW"], rtol=1e-14)
    assert out["cop"][0] == 0.0 and out["P_el_kW"][0] == 0.0 and out["Q_th_kW"][0] == 0.0


def test_ramp_and_start_from_minimum_load() -> None:
    hp = PlantHeatPump(P)  # 0.01 /s
    out = run(hp, 10.0, [1.0] * 8 + [0.5] * 6)
    expect = np.minimum(0.34 + 0.1 * np.arange(1, 9), 1.0)
    np.testing.assert_allclose(out["load_frac"][:8, 0], expect, atol=1e-12)
    np.testing.assert_allclose(out["load_frac"][8:, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.5], atol=1e-12)


def test_minimum_on_and_off_times_starts_and_cost() -> None:
    p = PlantHeatPumpParams(min_on_s=3600.0, min_off_s=1800.0)
    hp = PlantHeatPump(p)
    # on for 10 min, commanded off: keeps running at load_min until 60 min of run time
    out = run(hp, 600.0, [0.88] + [0.0] * 7)
    np.testing.assert_array_equal(out["on"][:, 0], [1, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(out["load_frac"][1:6, 0], 0.34)
    # commanded on after 10 min off: stays off until 30 min of stop time
    out = run(hp, 600.0, [0.88] * 4)
    np.testing.assert_array_equal(out["on"][:, 0], [0, 1, 1, 1])
    np.testing.assert_array_equal(out["starts"][:, 0], [1, 2, 2, 2])
    np.testing.assert_allclose(out["start_cost_DKK"][:, 0], 30.0 * out["starts"][:, 0])
    # no minimum times: every on/off command is obeyed; a start every other hour
    hp = PlantHeatPump(PlantHeatPumpParams(min_on_s=0.0, min_off_s=0.0), n=2)
    out = run(hp, 3600.0, [0.88, 0.0] * 12)
    assert out["starts"][-1, 0] == 12 and out["start_cost_DKK"][-1, 0] == 360.0
    np.testing.assert_array_equal(out["on"][:, 1], np.tile([1.0, 0.0], 12))


def test_fcr_modulation_delivered_and_clipped() -> None:
    hp = PlantHeatPump(PlantHeatPumpParams(ramp_frac_per_s=np.inf), n=5)
    base = hp.step(60.0, 0.7, 75.0, 35.0)["P_el_kW"]
    dp_set = np.array([25.0, -25.0, 200.0, -200.0, 0.0])
    out = hp.step(60.0, 0.7, 75.0, 35.0, dP_el_set_kW=dp_set)
    # inside the range: delivered exactly
    np.testing.assert_allclose(out["dP_el_kW"][:2], dp_set[:2], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["P_el_kW"][:2], base[:2] + dp_set[:2], atol=1e-9)
    # beyond the range: clipped at full and minimum load
    np.testing.assert_allclose(out["load_frac"][2:4], [1.0, 0.34])
    p_lim = P_el_kW_at(np.array([1.0, 0.34]), 75.0, 35.0, 10.5, P)
    np.testing.assert_allclose(out["dP_el_kW"][2:4], p_lim - base[2:4], rtol=1e-12)
    assert 0 < out["dP_el_kW"][2] < 200.0 and -200.0 < out["dP_el_kW"][3] < 0
    assert out["dP_el_kW"][4] == 0.0 and out["load_frac"][4] == 0.7
    np.testing.assert_allclose(out["Q_th_kW"], out["cop"] * out["P_el_kW"], rtol=1e-14)
    # the modulation does not move the base load: without it the unit is back at 0.7
    assert np.allclose(hp.step(60.0, 0.7, 75.0, 35.0)["load_frac"], 0.7, atol=1e-15)
    # off: nothing delivered
    off = PlantHeatPump(P).step(60.0, 0.0, 75.0, 35.0, dP_el_set_kW=50.0)
    assert off["dP_el_kW"][0] == 0.0 and off["P_el_kW"][0] == 0.0


def test_vector_params_and_fresh_outputs() -> None:
    p = PlantHeatPumpParams(Q_nom_kW=np.array([800.0, 400.0, 100.0]), T_source_C=[10.5, 8, 12])
    hp = PlantHeatPump(p, n=3)
    a = hp.step(3600.0, 0.88, 75.0, 35.0)
    b = hp.step(3600.0, 0.88, 75.0, 35.0)
    np.testing.assert_allclose(a["Q_th_kW"], [704.0, 352.0, 88.0])
    assert a["cop"][1] < a["cop"][0] < a["cop"][2]
    for k in OUTPUTS:
        assert a[k].shape == (3,) and a[k] is not b[k]
        assert not np.shares_memory(a[k], b[k])


@pytest.mark.parametrize("kwargs, match", [
    ({"Q_nom_kW": 0.0}, "Q_nom_kW"),
    ({"load_min_frac": 1.2}, "load_min_frac"),
    ({"eta_lorenz_max": -0.1}, "eta_lorenz_max"),
    ({"part_load_k": 2.0}, "part_load_k"),
    ({"T_supply_min_C": 90.0}, "T_supply_min_C"),
    ({"ramp_frac_per_s": 0.0}, "ramp_frac_per_s"),
    ({"min_on_s": np.nan}, "min_on_s"),
    ({"start_cost_DKK": -1.0}, "start_cost_DKK"),
])
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PlantHeatPumpParams(**kwargs)


def test_bad_inputs() -> None:
    hp = PlantHeatPump(P, n=2)
    with pytest.raises(ValueError, match="load_set_frac"):
        hp.step(60.0, -0.1, 75.0, 35.0)
    with pytest.raises(ValueError, match="T_supply_C=90.0 is out of range"):
        hp.step(60.0, 0.5, 90.0, 35.0)
    with pytest.raises(ValueError, match="T_return_C"):
        hp.step(60.0, 0.5, 70.0, 72.0)
    with pytest.raises(ValueError, match="dt_s"):
        hp.step(0.0, 0.5, 70.0, 35.0)
    with pytest.raises(ValueError, match="dP_el_set_kW"):
        hp.step(60.0, 0.5, 70.0, 35.0, dP_el_set_kW=np.nan)
    with pytest.raises(ValueError, match="shape"):
        hp.step(60.0, [0.5, 0.5, 0.5], 70.0, 35.0)
    with pytest.raises(ValueError, match="load_frac"):
        cop(1.5, 75.0, 35.0)
    with pytest.raises(ValueError, match="P_el_kW"):
        load_for_P_el(-1.0, 75.0, 35.0)
    with pytest.raises(ValueError, match="n="):
        PlantHeatPump(P, n=0)


# --------------------------------------------------------------------------------------------------
# FMU twin
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fmu_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulators.fmu_build import FMU_COMMON, build_fmu
    from simulators.plant_heatpump_fmu import PLANT_HEATPUMP_FMU_SOURCE

    return build_fmu(PLANT_HEATPUMP_FMU_SOURCE, shared=FMU_COMMON,
                     out_dir=tmp_path_factory.mktemp("build"),
                     force=True)


def test_fmu_description_matches_native_parameters(fmu_file: Path) -> None:
    import fmpy
    from fmpy.validation import validate_fmu

    from simulators.plant_heatpump_fmu import PARAM_TO_FMU, plant_heatpump_fmu_parameters

    assert validate_fmu(str(fmu_file)) == []
    md = fmpy.read_model_description(str(fmu_file))
    starts = {v.name: float(v.start) for v in md.modelVariables if v.causality == "parameter"}
    assert starts == plant_heatpump_fmu_parameters(P)
    assert set(starts) == set(PARAM_TO_FMU.values())
    with pytest.raises(ValueError, match="varies per unit"):
        plant_heatpump_fmu_parameters(PlantHeatPumpParams(Q_nom_kW=[800.0, 400.0]))


def scripted_inputs(n_steps: int) -> list[dict[str, float]]:
    """On/off, part load, ramps, FCR-N modulation and temperature changes at 60 s steps."""
    t = np.arange(n_steps) * 60.0
    load = np.select([t < 1200, t < 5400, t < 9000, t < 10800, t < 13800, t < 14400],
                     [0.88, 0.45, 0.0, 1.2, 0.2, 0.0], default=0.7)  # on during min. off time
    load[(t >= 16000) & (t < 16600)] = 0.0  # off during the minimum run time
    dp = np.where((t > 2000) & (t < 8000), 120.0 * np.sin(t / 300.0), 0.0)
    dp[(t >= 10000) & (t < 10600)] = 80.0  # clipped at full load
    dp[(t >= 13000) & (t < 13600)] = -300.0  # clipped at minimum load
    return [{"load_set_frac": float(load[i]), "T_supply_C": 60.0 + 24.0 * (i % 97) / 96.0,
             "T_return_C": 33.0 + 8.0 * np.cos(i / 40.0), "T_source_C": 10.5 + np.sin(i / 90.0),
             "dP_el_set_kW": float(dp[i])} for i in range(n_steps)]


def test_fmu_equals_native_core(fmu_file: Path) -> None:
    from simulators.fmu import FmuUnits
    from simulators.plant_heatpump_fmu import plant_heatpump_fmu_mapping

    p = PlantHeatPumpParams(min_on_s=1800.0, min_off_s=900.0, ramp_frac_per_s=0.004)
    fmu = FmuUnits(fmu_file, 1, plant_heatpump_fmu_mapping(p), step_s=60.0)
    hp = PlantHeatPump(p)
    diff = {k: 0.0 for k in OUTPUTS}
    seen: dict[str, set] = {k: set() for k in ("on", "clipped_hi", "clipped_lo", "held_on")}
    try:
        for u in scripted_inputs(300):
            a = hp.step(60.0, **u)
            b = fmu.step(60.0, **u)
            for k in OUTPUTS:
                diff[k] = max(diff[k], float(np.max(np.abs(np.asarray(b[k], float) - a[k]))))
            seen["on"].add(float(a["on"][0]))
            seen["clipped_hi"].add(bool(a["load_frac"][0] == 1.0 and u["dP_el_set_kW"] > 0))
            seen["clipped_lo"].add(bool(a["load_frac"][0] == 0.34 and u["dP_el_set_kW"] < 0))
            seen["held_on"].add(bool(a["on"][0] == 1.0 and u["load_set_frac"] == 0.0))
    finally:
        fmu.terminate()
    assert max(diff.values()) < 1e-9, diff
    # the script exercised what it claims to
    assert seen["on"] == {0.0, 1.0}
    assert True in seen["clipped_hi"] and True in seen["clipped_lo"] and True in seen["held_on"]
    assert hp.state()["starts"][0] == 4  # t = 0, 9000, 14700 (after min. off), 17400 s
    print(f"FMU vs native max |difference|: {max(diff.values()):.3g}")


def test_fmu_path_is_cached(tmp_path: Path) -> None:
    from simulators.plant_heatpump_fmu import plant_heatpump_fmu_path

    first = plant_heatpump_fmu_path(out_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    assert plant_heatpump_fmu_path(out_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == mtime


# --------------------------------------------------------------------------------------------------
# Boilers
# --------------------------------------------------------------------------------------------------
def test_electric_boiler_boost() -> None:
    eb = ElectricBoiler(ElectricBoilerParams(), n=4)
    m = np.array([2.0, 2.0, 0.0, 2.0])
    out = eb.step(3600.0, m, np.array([60.0, 40.0, 50.0, 75.0]), 70.0,
                  Q_limit_kW=np.array([np.inf, np.inf, np.inf, 100.0]))
    need = 2.0 * CP_WATER_J_PER_KGK * 10.0 / 1000.0  # 83.72 kW
    np.testing.assert_allclose(out["Q_th_kW"], [need, 200.0, 0.0, 0.0])
    np.testing.assert_allclose(out["P_el_kW"], out["Q_th_kW"] / 0.99)
    np.testing.assert_allclose(out["T_out_C"], [70.0, 40.0 + 200e3 / (2 * CP_WATER_J_PER_KGK),
                                                50.0, 75.0])
    np.testing.assert_allclose(out["E_el_kWh"], out["P_el_kW"])  # one hour
    limited = eb.step(60.0, 2.0, 40.0, 70.0, Q_limit_kW=50.0)
    np.testing.assert_allclose(limited["Q_th_kW"], 50.0)
    with pytest.raises(ValueError, match="m_flow_kg_per_s"):
        eb.step(60.0, -1.0, 40.0, 70.0)
    with pytest.raises(ValueError, match="efficiency"):
        ElectricBoilerParams(efficiency=1.2)


def test_oil_boiler_backup() -> None:
    ob = OilBoiler(OilBoilerParams(), n=2)
    assert np.all(ob.Q_max_kW >= 710.0)  # covers the 0.71 MW peak demand
    out = ob.step(3600.0, np.array([710.0, 1500.0]))
    np.testing.assert_allclose(out["Q_th_kW"], [710.0, 1000.0])
    np.testing.assert_allclose(out["P_fuel_kW"], out["Q_th_kW"] / 0.90)
    np.testing.assert_allclose(out["cost_DKK"], out["P_fuel_kW"] / 1000.0 * 700.0)
    out2 = ob.step(1800.0, 0.0)
    np.testing.assert_allclose(out2["cost_total_DKK"], out["cost_DKK"])
    with pytest.raises(ValueError, match="Q_set_kW"):
        ob.step(60.0, -5.0)
    with pytest.raises(ValueError, match="n_boilers"):
        OilBoilerParams(n_boilers=1.5)

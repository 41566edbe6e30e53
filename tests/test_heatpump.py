"""Tests of the native heat-pump core against the iPower WP5.5 reference figures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulators import heatpump as hp

DT_S = 60.0


def _step(pump: hp.HeatPump, q_req: float | np.ndarray, **kw: object) -> dict[str, np.ndarray]:
    """One step at −3 °C outdoor / −2 °C 24-h mean / 1 °C weekly mean unless overridden."""
    args = {"T_out_C": -3.0, "T_out_24h_C": -2.0, "T_out_168h_C": 1.0}
    args.update(kw)  # type: ignore[arg-type]
    return pump.step(DT_S, q_req, **args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Data sheet and COP model
# --------------------------------------------------------------------------------------------------
def test_datasheet_all_models_and_rows_are_self_consistent() -> None:
    """Every row of Queen 5/7/9: COP ≈ heat output / electric input (table rounding ≤ 0.15)."""
    assert set(hp.GROUND_DATASHEET) == {"Queen5", "Queen7", "Queen9"}
    for sheet in hp.GROUND_DATASHEET.values():
        assert sheet.shape == (12, 7)
        q_out, p_in, cop_sheet = sheet[:, 4], sheet[:, 5], sheet[:, 6]
        assert np.max(np.abs(q_out / p_in - cop_sheet)) < 0.15
    q9 = hp.GROUND_DATASHEET["Queen9"]
    assert q9[0, 4] == 8.0 and q9[-1, 6] == 3.3  # first heat output and last COP of Fig. 77


def test_fitted_ground_lines_match_reference() -> None:
    """Least-squares lines of Queen 9: 3.80 + 0.100·T_g and 2.51 + 0.052·T_g (±0.02)."""
    a35, b35, a55, b55 = hp.cop_lines("ground", model="Queen9")
    assert a35 == pytest.approx(3.80, abs=0.02)
    assert b35 == pytest.approx(0.100, abs=0.02)
    assert a55 == pytest.approx(2.51, abs=0.02)
    assert b55 == pytest.approx(0.052, abs=0.02)
    assert hp.cop_lines("ground") == (a35, b35, a55, b55)  # Queen 9 is the default


def test_interpolation_reproduces_45C_row_of_queen9() -> None:
    """COP at 45 °C supply vs data sheet 3.2/3.5/3.8/4.3 (brine −5/0/5/10 °C) within 0.15."""
    q9 = hp.GROUND_DATASHEET["Queen9"]
    row45 = q9[q9[:, 2] == 45.0]
    t_ground = row45[:, 0] + hp.BRINE_INLET_BELOW_GROUND_K
    predicted = hp.cop_raw(t_ground, 45.0, "ground")
    np.testing.assert_allclose(predicted, row45[:, 6], atol=0.15)
    # ... and the reference's own predicted values 3.15/3.55/3.90/4.30 (2-decimal rounding).
    np.testing.assert_allclose(predicted, [3.15, 3.55, 3.90, 4.30], atol=0.02)


def test_queen5_and_queen7_lines_are_fitted_too() -> None:
    """All three models are usable; their 45 °C rows are reproduced within 0.2."""
    for model in ("Queen5", "Queen7"):
        a35, b35, a55, b55 = hp.cop_lines("ground", model=model)
        sheet = hp.GROUND_DATASHEET[model]
        row45 = sheet[sheet[:, 2] == 45.0]
        t_g = row45[:, 0] + hp.BRINE_INLET_BELOW_GROUND_K
        np.testing.assert_allclose((a35 + b35 * t_g + a55 + b55 * t_g) / 2, row45[:, 6], atol=0.2)
    assert hp.cop_lines("ground", "Queen5") != hp.cop_lines("ground", "Queen9")


def test_interpolation_hits_fitted_lines_and_clips_supply() -> None:
    t_src = np.array([-20.0, 0.0, 7.5, 20.0])
    a35, b35, a55, b55 = hp.cop_lines("ground")
    np.testing.assert_allclose(hp.cop_raw(t_src, 35.0, "ground"), a35 + b35 * t_src)
    np.testing.assert_allclose(hp.cop_raw(t_src, 55.0, "ground"), a55 + b55 * t_src)
    # 30 °C is the linear extrapolation (factor 1.25); supply is clipped below 30 and above 55 °C.
    cop30 = hp.cop_raw(t_src, 30.0, "ground")
    np.testing.assert_allclose(cop30, a55 + b55 * t_src + 1.25 * (a35 - a55 + (b35 - b55) * t_src))
    np.testing.assert_allclose(hp.cop_raw(t_src, 20.0, "ground"), cop30)
    np.testing.assert_allclose(hp.cop_raw(t_src, 65.0, "ground"), a55 + b55 * t_src)
    # Source clipped to the validity range [−20, 20] °C.
    np.testing.assert_allclose(hp.cop_raw(-35.0, 45.0, "air"), hp.cop_raw(-20.0, 45.0, "air"))


def test_air_substitute_lines_are_plausible() -> None:
    """The SUBSTITUTE A/W set: fitted lines follow the points and give sane COPs."""
    a35, b35, a55, b55 = hp.cop_lines("air")
    data = hp.AIR_SUBSTITUTE_DATA
    for t_flow, (a, b) in ((35.0, (a35, b35)), (55.0, (a55, b55))):
        pts = data[data[:, 1] == t_flow]
        assert np.max(np.abs(a + b * pts[:, 0] - pts[:, 2])) < 0.25
    # A7/W35 ≈ 4.4 (standards reference §5) is reproduced by the fitted model within 0.25.
    assert hp.cop_raw(7.0, 35.0, "air") == pytest.approx(4.4, abs=0.25)
    grid_src, grid_sup = np.meshgrid(np.linspace(-20, 20, 41), np.linspace(30, 55, 26))
    cop_grid = hp.cop_raw(grid_src, grid_sup, "air")
    assert cop_grid.min() > 1.0
    assert np.all(np.diff(cop_grid, axis=1) > 0)  # warmer source → better
    assert np.all(np.diff(cop_grid, axis=0) < 0)  # hotter supply → worse
    # Air at the same source temperature is below ground source (typical of data sheets).
    assert hp.cop_raw(0.0, 35.0, "air") < hp.cop_raw(0.0, 35.0, "ground")


def test_cop_correction_chain() -> None:
    """COP(year) = COP_sheet · 0.95 · {1, 1.067, 1.067, 1.133} for 2020/2025/2030/2035."""
    raw = hp.cop_raw(5.0, 45.0, "ground")
    for year, factor in ((2020, 1.0), (2025, 1.067), (2030, 1.067), (2035, 1.133)):
        assert hp.cop(5.0, 45.0, "ground", year=year) == pytest.approx(
            raw * 0.95 * factor, rel=5e-4
        )
    assert hp.cop(5.0, 45.0, "ground", correction=1.0) == pytest.approx(raw)


def test_cop_lines_per_unit_labels() -> None:
    mixed = hp.cop_raw([0.0, 0.0], [35.0, 35.0], np.array(["ground", "air"]))
    assert mixed[0] == pytest.approx(hp.cop_raw(0.0, 35.0, "ground"))
    assert mixed[1] == pytest.approx(hp.cop_raw(0.0, 35.0, "air"))


# --------------------------------------------------------------------------------------------------
# Temperatures and sizing
# --------------------------------------------------------------------------------------------------
def test_supply_temperature_curves() -> None:
    rad = hp.supply_temperature_C([-20.0, -12.0, 0.0, 20.0], "radiator")
    np.testing.assert_allclose(rad, [55.0, 50.0, 42.5, 30.0])
    flo = hp.supply_temperature_C([-20.0, -12.0, 20.0], "floor")
    np.testing.assert_allclose(flo, [42.5, 40.0, 30.0])
    # Clipped outside −20..20 °C.
    np.testing.assert_allclose(hp.supply_temperature_C([-30.0, 30.0], "radiator"), [55.0, 30.0])
    np.testing.assert_allclose(hp.supply_temperature_C([-30.0, 30.0], "floor"), [42.5, 30.0])


def test_source_temperature() -> None:
    t_out, t_week = np.array([-8.0, 3.0, 12.0]), np.array([-4.0, 2.0, 10.0])
    np.testing.assert_allclose(hp.source_temperature_C("air", t_out, t_week), t_out)
    np.testing.assert_allclose(hp.source_temperature_C("ground", t_out, t_week), [0.0, 2.0, 10.0])


def test_design_load_and_sizing_1961_1978_house_2035() -> None:
    """H = 1.23 W/m²K · 151 m² → 6.2 kW at −12 °C (reference table) within 2 %; 80/20 split."""
    load = hp.design_heat_load_kW(1.23 * 151.0)
    assert float(load) == pytest.approx(6.2, rel=0.02)
    sizing = hp.size_heat_pump(load)
    assert float(sizing.Q_rated_kW) == pytest.approx(float(load))
    assert float(sizing.Q_compressor_kW) == pytest.approx(0.8 * float(load))
    assert float(sizing.Q_backup_kW) == pytest.approx(0.2 * float(load))
    # DHW and gains enter the design load.
    assert float(hp.design_heat_load_kW(100.0, Q_gains_W=350.0, Q_dhw_mean_kW=0.3)) == (
        pytest.approx(100.0 * 33.5 / 1000.0 - 0.35 + 0.3)
    )


def test_air_compressor_covers_minus7_demand() -> None:
    """iPower: with 80/20 sizing the compressor alone covers the −7 °C space-heating demand."""
    pump = hp.HeatPump(hp.HeatPumpParams(source="air", Q_rated_kW=6.2))
    cap = pump.compressor_capacity_kW(-7.0)
    demand_m7 = 6.2 * (21.5 + 7.0) / (21.5 + 12.0)
    assert np.all(cap >= demand_m7)
    assert pump.compressor_capacity_kW(-12.0) == pytest.approx(0.8 * 6.2)
    ground = hp.HeatPump(hp.HeatPumpParams(source="ground", Q_rated_kW=6.2))
    np.testing.assert_allclose(ground.compressor_capacity_kW([-20.0]), 0.8 * 6.2)


# --------------------------------------------------------------------------------------------------
# Dynamic model
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["ground", "air"])
def test_energy_bookkeeping_and_backup(source: str) -> None:
    q_rated = 8.0
    q_req = np.array([0.5, 2.0, 4.0, 6.4, 7.0, 7.6, 12.0])
    n = q_req.size
    pump = hp.HeatPump(hp.HeatPumpParams(source=source, Q_rated_kW=q_rated, year=2035), n=n)
    t_out, t24, t168 = -10.0, -8.0, -1.0
    out = pump.step(DT_S, q_req, t_out, t24, t168)
    cap = pump.compressor_capacity_kW(t_out)
    backup_max = 0.2 * q_rated
    t_sup = hp.supply_temperature_C(t24, "radiator")
    cop_c = hp.cop(hp.source_temperature_C(source, t_out, t168), t_sup, source, year=2035)

    np.testing.assert_allclose(out["T_supply_C"], t_sup)
    np.testing.assert_allclose(
        out["Q_th_kW"], out["P_el_compressor_kW"] * cop_c + 0.99 * out["P_backup_kW"]
    )
    np.testing.assert_allclose(out["P_el_kW"], out["P_el_compressor_kW"] + out["P_backup_kW"])
    np.testing.assert_allclose(out["Q_backup_kW"], 0.99 * out["P_backup_kW"])
    # Backup only for the part above the compressor capacity, up to its own capacity.
    np.testing.assert_allclose(out["Q_backup_kW"], np.clip(q_req - cap, 0.0, backup_max))
    assert np.all(out["Q_backup_kW"][q_req <= cap] == 0.0)
    # Minimum modulation (0.3) below, full request in range, capped at compressor + backup.
    expected = np.minimum(np.maximum(q_req, 0.3 * cap), cap + backup_max)
    np.testing.assert_allclose(out["Q_th_kW"], expected)
    np.testing.assert_allclose(out["modulation_frac"], np.clip(q_req / cap, 0.3, 1.0))
    np.testing.assert_allclose(out["COP"], out["Q_th_kW"] / out["P_el_kW"])
    np.testing.assert_allclose(out["Q_sh_kW"], out["Q_th_kW"])
    assert np.all(out["Q_dhw_kW"] == 0.0)
    assert np.all(out["on"] == 1.0) and np.all(out["starts"] == 1.0)
    # With backup running the overall COP is below the compressor COP.
    with_backup = out["Q_backup_kW"] > 0
    assert with_backup.sum() >= 2
    assert np.all(out["COP"][with_backup] < float(cop_c))


def test_dhw_mode_uses_tank_supply_temperature() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=7.0, T_dhw_supply_C=55.0), n=2)
    out = _step(pump, 3.0, dhw_mode=np.array([True, False]))
    assert out["T_supply_C"][0] == 55.0
    assert out["T_supply_C"][1] == pytest.approx(float(hp.supply_temperature_C(-2.0, "radiator")))
    assert out["Q_dhw_kW"][0] == pytest.approx(3.0) and out["Q_sh_kW"][0] == 0.0
    assert out["Q_sh_kW"][1] == pytest.approx(3.0) and out["Q_dhw_kW"][1] == 0.0
    assert out["COP"][0] == pytest.approx(float(hp.cop(1.0, 55.0, "ground")))
    assert out["COP"][0] < out["COP"][1]


def test_min_on_and_min_off_times_and_start_count() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=7.0, min_on_s=600.0, min_off_s=600.0))
    on_steps = []
    out = _step(pump, 3.0)
    on_steps.append(out["on"][0])
    for _ in range(14):  # request drops to 0: stays on at minimum modulation for 10 min in total
        out = _step(pump, 0.0)
        on_steps.append(out["on"][0])
        if out["on"][0]:
            assert out["Q_th_kW"][0] == pytest.approx(0.3 * 0.8 * 7.0)
            assert out["modulation_frac"][0] == pytest.approx(0.3)
    assert on_steps == [1.0] * 10 + [0.0] * 5
    assert out["starts"][0] == 1.0
    # Stopped after 10 steps and off for 5; a new request must wait until 10 min off.
    on_steps = []
    for _ in range(7):
        out = _step(pump, 3.0)
        on_steps.append(out["on"][0])
    assert on_steps == [0.0] * 5 + [1.0] * 2
    assert out["starts"][0] == 2.0
    assert out["COP"][0] > 0.0
    off = _step(hp.HeatPump(hp.HeatPumpParams()), 0.0)
    assert off["COP"][0] == 0.0 and off["P_el_kW"][0] == 0.0 and off["on"][0] == 0.0


def test_min_off_blocks_compressor_but_backup_covers_the_excess() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=10.0, min_on_s=0.0, min_off_s=600.0))
    _step(pump, 3.0)
    _step(pump, 0.0)  # stops
    out = _step(pump, 9.0)  # compressor locked out for 10 min; backup takes only > 8 kW
    assert out["on"][0] == 0.0
    assert out["Q_backup_kW"][0] == pytest.approx(1.0)
    assert out["Q_th_kW"][0] == pytest.approx(1.0)


def test_sg_ready_states() -> None:
    params = hp.HeatPumpParams(Q_rated_kW=7.0, min_on_s=600.0, min_off_s=600.0)
    # State 1 blocks at once (overriding the min on time) and also blocks the backup heater.
    pump = hp.HeatPump(params)
    assert _step(pump, 3.0)["on"][0] == 1.0
    out = _step(pump, 10.0, sg_ready_state=1)
    assert out["on"][0] == 0.0 and out["P_el_kW"][0] == 0.0 and out["Q_th_kW"][0] == 0.0
    # The block counts as a stop: min off time applies after release, then a second start.
    ons = [_step(pump, 3.0)["on"][0] for _ in range(10)]
    assert ons == [0.0] * 9 + [1.0]
    assert _step(pump, 3.0)["starts"][0] == 2.0

    # State 4 forces the compressor to full capacity even without a request ...
    pump = hp.HeatPump(params)
    out = _step(pump, 0.0, sg_ready_state=4)
    assert out["on"][0] == 1.0 and out["Q_th_kW"][0] == pytest.approx(0.8 * 7.0)
    assert out["modulation_frac"][0] == 1.0 and out["Q_backup_kW"][0] == 0.0
    # ... but respects the min off time after a stop.
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=7.0, min_on_s=0.0, min_off_s=600.0))
    _step(pump, 3.0)
    assert _step(pump, 0.0)["on"][0] == 0.0
    assert _step(pump, 0.0, sg_ready_state=4)["on"][0] == 0.0

    # State 3 is treated like state 2 by the core.
    out2 = _step(hp.HeatPump(params), 2.5, sg_ready_state=2)
    out3 = _step(hp.HeatPump(params), 2.5, sg_ready_state=3)
    for key in hp.HeatPump.outputs:
        np.testing.assert_array_equal(out2[key], out3[key])


def test_vectorised_fleet_matches_single_units() -> None:
    """Per-unit parameters and inputs give the same results as separate single-unit models."""
    combos = list(itertools.product(["ground", "air"], ["radiator", "floor"], [False, True]))
    n = len(combos)
    source = np.array([c[0] for c in combos])
    emitter = np.array([c[1] for c in combos])
    dhw = np.array([c[2] for c in combos])
    q_rated = np.linspace(5.0, 9.0, n)
    year = np.array([2020, 2035] * (n // 2))
    rng = np.random.default_rng(1)
    fleet = hp.HeatPump(hp.HeatPumpParams(source=source, emitter=emitter, Q_rated_kW=q_rated,
                                          year=year))
    singles = [
        hp.HeatPump(hp.HeatPumpParams(source=source[i], emitter=emitter[i], Q_rated_kW=q_rated[i],
                                      year=year[i]))
        for i in range(n)
    ]
    for _ in range(30):
        q = rng.uniform(0.0, 9.0, n) * (rng.random(n) > 0.3)
        t = rng.uniform(-15.0, 10.0, 3)
        sg = rng.choice([1, 2, 2, 3, 4], n)
        out = fleet.step(DT_S, q, t[0], t[1], t[2], dhw_mode=dhw, sg_ready_state=sg)
        for i, single in enumerate(singles):
            one = single.step(DT_S, q[i], t[0], t[1], t[2], dhw_mode=bool(dhw[i]),
                              sg_ready_state=int(sg[i]))
            for key in hp.HeatPump.outputs:
                assert out[key][i] == pytest.approx(one[key][0]), key


def test_outputs_are_fresh_arrays() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=7.0, T_dhw_supply_C=[50.0, 55.0]))
    q = np.array([2.0, 3.0])
    first = pump.step(DT_S, q, 0.0, 0.0, 0.0, dhw_mode=True)
    first_copy = {k: v.copy() for k, v in first.items()}
    second = pump.step(DT_S, q, 0.0, 0.0, 0.0, dhw_mode=True)
    arrays = list(first.values()) + list(second.values()) + [q]
    for a, b in itertools.combinations(arrays, 2):
        assert not np.shares_memory(a, b)
    for key, value in first.items():
        assert value.shape == (2,) and value.dtype == float
        np.testing.assert_array_equal(value, first_copy[key])


def _random_inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-unit step inputs that switch units on and off, use backup, DHW and all SG states."""
    return {
        "Q_req_kW": rng.uniform(0.0, 10.0, n) * (rng.random(n) > 0.4),
        "T_out_C": rng.uniform(-25.0, 25.0, n),
        "T_out_24h_C": rng.uniform(-25.0, 25.0, n),
        "T_out_168h_C": rng.uniform(-25.0, 25.0, n),
        "dhw_mode": rng.random(n) < 0.3,
        "sg_ready_state": rng.choice([1, 2, 2, 2, 3, 4], n),
    }


def test_single_unit_scalar_path_matches_fleet_arrays() -> None:
    """N = 1 runs on Python scalars; it must agree with the array code of a mixed fleet."""
    combos = list(itertools.product(["ground", "air"], ["radiator", "floor"]))
    n = len(combos)
    kw = {"min_on_s": np.array([600.0, 0.0, 300.0, 120.0]),
          "min_off_s": np.array([600.0, 180.0, 0.0, 240.0]),
          "year": np.array([2020, 2025, 2030, 2035]),
          "T_dhw_supply_C": np.array([55.0, 50.0, 45.0, 52.0]),
          "Q_rated_kW": np.array([5.0, 6.5, 8.0, 9.5])}
    fleet = hp.HeatPump(hp.HeatPumpParams(source=np.array([c[0] for c in combos]),
                                          emitter=np.array([c[1] for c in combos]), **kw))
    singles = [hp.HeatPump(hp.HeatPumpParams(source=combos[i][0], emitter=combos[i][1],
                                             **{k: v[i:i + 1] for k, v in kw.items()}), n=1)
               for i in range(n)]
    rng = np.random.default_rng(7)
    seen_on = np.zeros(n)
    seen_backup = np.zeros(n)
    for k in range(150):
        dt = float(rng.choice([30.0, 60.0, 60.0, 300.0]))
        inputs = _random_inputs(rng, n)
        out = fleet.step(dt, **inputs)  # type: ignore[arg-type]
        for i, single in enumerate(singles):
            # Alternate (1,) arrays, lists and Python scalars as a single unit's inputs.
            one_in = {key: (v[i:i + 1] if k % 3 == 0 else [v[i]] if k % 3 == 1 else v[i].item())
                      for key, v in inputs.items()}
            one = single.step(dt, **one_in)  # type: ignore[arg-type]
            for key in hp.HeatPump.outputs:
                assert one[key].shape == (1,) and one[key].dtype == float, key
                np.testing.assert_allclose(one[key][0], out[key][i], rtol=1e-12, atol=1e-12,
                                           err_msg=key)
        seen_on += out["on"]
        seen_backup += out["Q_backup_kW"] > 0.0
    # The run exercised both on and off states, restarts and the backup heater of every unit.
    assert np.all(seen_on > 10) and np.all(seen_on < 140) and np.all(out["starts"] >= 3)
    assert np.all(seen_backup > 0)


def test_uniform_fleet_with_scalar_inputs_matches_array_inputs() -> None:
    """Identical units stepped with scalars (state kept as scalars) equal per-unit arrays."""
    params = hp.HeatPumpParams(source="air", emitter="floor", Q_rated_kW=6.0, min_on_s=120.0)
    a, b = hp.HeatPump(params, n=3), hp.HeatPump(params, n=3)
    rng = np.random.default_rng(3)
    for _ in range(60):
        x = _random_inputs(rng, 1)
        scal = {key: v[0].item() for key, v in x.items()}
        arrs = {key: np.repeat(v, 3) for key, v in x.items()}
        out_a = a.step(DT_S, **scal)  # type: ignore[arg-type]
        out_b = b.step(DT_S, **arrs)  # type: ignore[arg-type]
        for key in hp.HeatPump.outputs:
            assert out_a[key].shape == (3,) and out_a[key].dtype == float, key
            np.testing.assert_allclose(out_a[key], out_b[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("n", "array_q"), [(1, False), (1, True), (3, False), (3, True)])
@pytest.mark.parametrize("dhw", [False, True])
def test_outputs_are_fresh_and_callers_may_overwrite_them(n: int, array_q: bool, dhw: bool) -> None:
    """Outputs never share memory, whether the state is scalar (scalar inputs) or arrays."""
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=7.0, min_on_s=0.0), n=n)
    q = np.full(n, 2.0) if array_q else 2.0
    first = _step(pump, q, dhw_mode=dhw)
    snapshot = {k: v.copy() for k, v in first.items()}
    for v in first.values():
        v[...] = -1.0  # callers may overwrite what they got; the model must not notice
    second = _step(pump, q, dhw_mode=dhw)
    for key in hp.HeatPump.outputs:
        np.testing.assert_array_equal(second[key], snapshot[key], err_msg=key)
    for x, y in itertools.combinations(list(second.values()) + list(first.values()), 2):
        assert not np.shares_memory(x, y)


def test_bad_single_unit_array_inputs() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams())
    with pytest.raises(ValueError, match=r"T_out_C=nan must be finite"):
        _step(pump, 1.0, T_out_C=np.array([np.nan]))
    with pytest.raises(ValueError, match=r"Q_req_kW=-2.0 is not allowed"):
        _step(pump, np.array([-2.0]))
    with pytest.raises(ValueError, match=r"Q_req_kW has shape \(2,\); expected a scalar or \(1,\)"):
        _step(pump, np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"sg_ready_state=5 is not allowed"):
        _step(pump, 1.0, sg_ready_state=np.array([5]))
    with pytest.raises(ValueError, match=r"sg_ready_state=True is not allowed"):
        _step(pump, 1.0, sg_ready_state=np.array([True]))
    with pytest.raises(ValueError, match=r"dhw_mode has shape \(1, 1\)"):
        _step(pump, 1.0, dhw_mode=np.array([[True]]))
    # A rejected step leaves the state untouched: the first valid step still starts the unit.
    out = _step(pump, 1.0)
    assert out["on"][0] == 1.0 and out["starts"][0] == 1.0


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": "water"}, r"source='water' is not allowed.*'ground', 'air'"),
        ({"emitter": "fan-coil"}, r"emitter='fan-coil' is not allowed.*'radiator', 'floor'"),
        ({"Q_rated_kW": -5.0}, r"Q_rated_kW=-5.0 is out of range"),
        ({"Q_rated_kW": [7.0, 0.0]}, r"Q_rated_kW=0.0 is out of range"),
        ({"compressor_share": 1.5}, r"compressor_share=1.5 is out of range"),
        ({"T_dhw_supply_C": 65.0}, r"T_dhw_supply_C=65.0 is out of range.*55"),
        ({"modulation_min_frac": 0.0}, r"modulation_min_frac=0.0 is out of range"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hp.HeatPumpParams(**kwargs)  # type: ignore[arg-type]


def test_bad_step_inputs_and_functions() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(), n=3)
    with pytest.raises(ValueError, match=r"sg_ready_state=5 is not allowed.*\[1, 2, 3, 4\]"):
        _step(pump, 1.0, sg_ready_state=5)
    with pytest.raises(ValueError, match=r"sg_ready_state=0 is not allowed"):
        _step(pump, 1.0, sg_ready_state=np.array([2, 0, 2]))
    with pytest.raises(ValueError, match=r"Q_req_kW=-1.0 is not allowed"):
        _step(pump, np.array([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match=r"Q_req_kW has shape \(2,\)"):
        _step(pump, np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"dt_s=0.0 must be"):
        pump.step(0.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"T_out_C=nan must be finite"):
        _step(pump, 1.0, T_out_C=float("nan"))
    with pytest.raises(ValueError, match=r"Q_rated_kW has length 2 but the fleet has n=3"):
        hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=[7.0, 8.0]), n=3)
    with pytest.raises(ValueError, match=r"source='brine' is not allowed"):
        hp.cop_raw(0.0, 35.0, "brine")
    with pytest.raises(ValueError, match=r"emitter='wall' is not allowed"):
        hp.supply_temperature_C(0.0, "wall")
    with pytest.raises(ValueError, match=r"model='Queen11' is not available.*Queen9"):
        hp.cop_lines("ground", model="Queen11")
    with pytest.raises(ValueError, match=r"design_load_kW=-1.0 is out of range"):
        hp.size_heat_pump(-1.0)


# --------------------------------------------------------------------------------------------------
# Power control: electric setpoint, ramp limit, §14a dimming
# --------------------------------------------------------------------------------------------------
def test_absent_power_inputs_leave_results_unchanged() -> None:
    """None, NaN and default ramp (inf) give bit-identical results to the plain model."""
    params = hp.HeatPumpParams(source="air", min_on_s=120.0, min_off_s=240.0)
    plain, nan_in, none_in = (hp.HeatPump(params, n=4) for _ in range(3))
    rng = np.random.default_rng(11)
    for _ in range(80):
        x = _random_inputs(rng, 4)
        a = plain.step(DT_S, **x)  # type: ignore[arg-type]
        b = nan_in.step(DT_S, **x, P_el_set_kW=np.full(4, np.nan),  # type: ignore[arg-type]
                        P_limit_kW=float("nan"))
        c = none_in.step(DT_S, **x, P_el_set_kW=None, P_limit_kW=None)  # type: ignore[arg-type]
        for key in hp.HeatPump.outputs:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            np.testing.assert_array_equal(a[key], c[key], err_msg=key)


def test_ramp_means_are_exact_for_any_step_length() -> None:
    """A rate-limited trajectory: one 20-s step's mean equals the mean of 200 steps of 0.1 s."""
    params = hp.HeatPumpParams(ramp_frac_per_s=0.03, min_on_s=0.0)
    coarse, fine = hp.HeatPump(params), hp.HeatPump(params)
    for pump in (coarse, fine):
        _step(pump, 5.6)  # start and run up (60 s at 3 %/s reaches full)
    for q in (1.7, 5.0, 2.2):  # down, up, down: partly inside, partly beyond one step's reach
        c = coarse.step(20.0, q, -3.0, -2.0, 1.0)
        f = [fine.step(0.1, q, -3.0, -2.0, 1.0) for _ in range(200)]
        for key in ("P_el_kW", "Q_th_kW", "modulation_frac"):
            assert c[key][0] == pytest.approx(np.mean([o[key][0] for o in f]), rel=1e-9), key


def test_power_inputs_fleet_matches_single_units() -> None:
    """Per-unit setpoints/limits with NaN gaps, ramps and the scalar path agree."""
    n = 5
    kw = {"ramp_frac_per_s": np.array([np.inf, 0.05, 0.01, 0.2, np.inf]),
          "modulation_min_frac": np.array([0.3, 0.3, 1.0, 0.5, 0.3]),
          "Q_rated_kW": np.array([7.0, 9.0, 6.0, 30.0, 12.0]),
          "min_on_s": np.array([0.0, 120.0, 120.0, 300.0, 60.0]),
          "P_limit_min_kW": np.array([4.2, 4.2, 1.0, 4.2, 2.0])}
    fleet = hp.HeatPump(hp.HeatPumpParams(**kw))  # type: ignore[arg-type]
    singles = [hp.HeatPump(hp.HeatPumpParams(**{k: v[i:i + 1] for k, v in kw.items()}))
               for i in range(n)]  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    for _ in range(120):
        dt = float(rng.choice([0.1, 1.0, 10.0, 60.0]))
        x = _random_inputs(rng, n)
        p_set = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(0.0, 4.0, n))
        p_lim = np.where(rng.random(n) < 0.6, np.nan, rng.uniform(0.0, 8.0, n))
        out = fleet.step(dt, **x, P_el_set_kW=p_set, P_limit_kW=p_lim)  # type: ignore[arg-type]
        for i, single in enumerate(singles):
            one = single.step(dt, **{k: v[i].item() for k, v in x.items()},
                              P_el_set_kW=p_set[i], P_limit_kW=p_lim[i:i + 1])
            for key in hp.HeatPump.outputs:
                np.testing.assert_allclose(one[key][0], out[key][i], rtol=1e-12, atol=1e-12,
                                           err_msg=key)
        limited = ~np.isnan(p_lim)
        allowed = np.maximum(p_lim, kw["P_limit_min_kW"])
        # Without a ramp the limit holds in every step (with a ramp: after it has ramped down).
        no_ramp = limited & np.isinf(kw["ramp_frac_per_s"])
        assert np.all(out["P_el_kW"][no_ramp] <= allowed[no_ramp] + 1e-9)


def test_bad_power_inputs_and_parameters() -> None:
    pump = hp.HeatPump(hp.HeatPumpParams(), n=2)
    with pytest.raises(ValueError, match=r"P_el_set_kW=-1.0 is not allowed"):
        _step(pump, 1.0, P_el_set_kW=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"P_limit_kW=inf is not allowed"):
        _step(pump, 1.0, P_limit_kW=float("inf"))
    with pytest.raises(ValueError, match=r"P_el_set_kW has shape \(3,\)"):
        _step(pump, 1.0, P_el_set_kW=np.ones(3))
    with pytest.raises(ValueError, match=r"ramp_frac_per_s=0.0 is out of range"):
        hp.HeatPumpParams(ramp_frac_per_s=0.0)
    with pytest.raises(ValueError, match=r"P_limit_min_kW=-1.0 is out of range"):
        hp.HeatPumpParams(P_limit_min_kW=-1.0)
    single = hp.HeatPump(hp.HeatPumpParams())
    with pytest.raises(ValueError, match=r"P_el_set_kW=-2.0 is not allowed"):
        _step(single, 1.0, P_el_set_kW=np.array([-2.0]))

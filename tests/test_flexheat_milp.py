"""FlexHeat controllers: the MILP schedule against an independent re-evaluation and a brute-force
optimum, the rolling MPC (gate at 12:00 local, DST days, FCR-N commitments, safety override),
the perfect-foresight bound and the control loop of the report's energy model."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from simulators.controllers.flexheat import (
    ControlLoop,
    PlanInfeasibleError,
    PlanModel,
    RollingHorizonMpc,
    affine_fit,
    evaluate_plan,
    perfect_foresight,
    plan_milp,
    simulate_energy_model,
)

TZ = "Europe/Copenhagen"


def shared_cop(load: np.ndarray, T_supply_C: float = 75.0, T_return_C: float = 40.0) -> np.ndarray:
    """fh_common's plant COP model (eta_L(x) * COP_Lorenz), re-derived here independently."""
    K = 273.15
    hi, lo = T_supply_C + 3 + K, T_return_C + 3 + K
    T_hm = (hi - lo) / np.log(hi / lo)
    a, b = 10.5 - 3 + K, 10.5 - 5 - 3 + K
    T_cm = (a - b) / np.log(a / b)
    return 0.49 * (1 - 0.58 * (load - 0.85) ** 2) * T_hm / (T_hm - T_cm)


def hourly_profile(start: str, days: int, seed: int, demand_mean_kW: float = 270.0
                   ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Total electricity price (DKK/MWh; spot shape + 556 DKK/MWh taxes/tariffs), heat demand
    (kW) and FCR-N price (DKK/MW/h) on a UTC hourly index covering ``days`` local days."""
    z = ZoneInfo(TZ)
    a = pd.Timestamp(datetime.fromisoformat(start).replace(tzinfo=z))
    idx = pd.date_range(a, a + pd.Timedelta(days=days), freq="h", inclusive="left").tz_convert(
        "UTC")
    rng = np.random.default_rng(seed)
    h = idx.tz_convert(TZ).hour.to_numpy()
    spot = 280 + 90 * np.sin((h - 9) / 24 * 2 * np.pi) + 50 * rng.standard_normal(idx.size)
    dem = demand_mean_kW + 110 * np.cos((h - 7) / 24 * 2 * np.pi) + 25 * rng.standard_normal(
        idx.size)
    fcr = 150 + 100 * rng.random(idx.size)
    return (pd.Series(spot + 556.0, idx), pd.Series(np.clip(dem, 20, 710), idx),
            pd.Series(fcr, idx))


# ---------------------------------------------------------------------------------------------
# plant model
# ---------------------------------------------------------------------------------------------


def test_affine_fit_of_the_shared_cop_curve_gives_the_defaults() -> None:
    x = np.linspace(0.34, 1.0, 67)
    cop = shared_cop(x)
    assert 2.85 <= float(np.interp(0.88, x, cop)) <= 3.0  # fh_common: COP ≈ 2.9 at 88 %
    p_fixed, p_per, err_kW, err_rel = affine_fit(x, cop, 800.0)
    m = PlanModel.from_cop_curve(x, cop, 800.0)
    d = PlanModel()
    assert m.p_fixed_kW == pytest.approx(d.p_fixed_kW, rel=2e-3)
    assert m.p_per_kWth == pytest.approx(d.p_per_kWth, rel=2e-3)
    assert (m.Q_min_kW, m.Q_max_kW) == (pytest.approx(272.0), 800.0)
    assert err_rel < 0.03 and err_kW < 7.0  # the fit error the doc states (2.3 %, 6.2 kW)
    # the band the heat pump can offer: half its electric range
    assert d.fcr_band_max_kW == pytest.approx(0.5 * d.p_per_kWth * 528.0)
    assert PlanModel(fcr_max_kW=50.0).fcr_band_max_kW == 50.0


@pytest.mark.parametrize("kw", [{"Q_min_kW": 900.0}, {"eta_per_h": 1.2}, {"min_up_h": 0},
                                {"S_max_kWh": -1.0}, {"p_per_kWth": 0.0},
                                {"fcr_max_kW": -5.0}])
def test_bad_plan_model_is_refused(kw: dict) -> None:
    name = next(iter(kw))
    with pytest.raises(ValueError, match=name):
        PlanModel(**kw)


# ---------------------------------------------------------------------------------------------
# the MILP against the independent re-evaluation
# ---------------------------------------------------------------------------------------------


def check_plan(plan, price, demand, S0, model, fcr=None) -> dict:
    ev = evaluate_plan(plan, price, demand, S0, model, fcr)
    assert ev["violations"] == []
    assert ev["objective_DKK"] == pytest.approx(plan.objective_DKK, rel=1e-6)
    assert ev["starts"] == int(round(plan.start.sum()))
    np.testing.assert_allclose(ev["S_kWh"], plan.S_kWh, atol=1e-5)
    return ev


@pytest.mark.parametrize("seed", range(4))
def test_random_plans_respect_every_constraint(seed: int) -> None:
    rng = np.random.default_rng(seed)
    T = 30
    model = PlanModel(min_up_h=3, min_down_h=2, S_max_kWh=2500.0)
    price = 300 + 900 * rng.random(T)
    demand = 20 + 600 * rng.random(T)
    S0 = float(rng.uniform(200, 2000))
    on0 = bool(seed % 2)
    plan = plan_milp(price, demand, S0, on0, 1, model, mip_rel_gap=1e-6)
    assert plan.status == "optimal"
    ev = check_plan(plan, price, demand, S0, model)
    assert ev["fcr_revenue_DKK"] == 0.0 and np.all(plan.fcr_band_kW == 0)  # not priced
    assert plan.S_kWh[-1] >= S0 - 1e-6  # default terminal: S_end >= S0
    if on0:  # on for 1 h before the plan with min up 3 h: on in hours 0 and 1
        assert plan.u[0] == 1 and plan.u[1] == 1
    else:  # off for 1 h with min down 2 h: off in hour 0
        assert plan.u[0] == 0
    # with FCR-N priced: the band is feasible and revenue appears
    fcr = 200 + 300 * rng.random(T)
    pf = plan_milp(price, demand, S0, on0, 1, model, fcr_price_DKK_per_MW_h=fcr,
                   mip_rel_gap=1e-6)
    evf = check_plan(pf, price, demand, S0, model, fcr)
    assert evf["fcr_revenue_DKK"] > 0
    assert pf.objective_DKK <= plan.objective_DKK + 1e-6  # FCR is an option, never a cost
    assert np.all(pf.fcr_band_kW[pf.u == 0] == 0)
    assert np.all(pf.fcr_band_kW <= model.fcr_band_max_kW + 1e-6)


def test_milp_equals_brute_force_optimum() -> None:
    """Fixed output (Q_min = Q_max) and no e-boiler: every on/off sequence fixes the schedule;
    enumerate all 2^10 and compare the cheapest feasible with the MILP."""
    model = PlanModel(Q_min_kW=400.0, Q_max_kW=400.0, Q_nom_kW=400.0, eboiler_kW=0.0,
                      min_up_h=2, min_down_h=2, S_max_kWh=1000.0, eta_per_h=0.99,
                      start_cost_DKK=30.0)
    price = np.array([700, 300, 900, 950, 250, 260, 800, 1000, 200, 700], float)
    demand = np.array([150, 180, 220, 160, 120, 200, 240, 180, 100, 150], float)
    S0, on0, h0 = 300.0, False, 5
    best = np.inf
    for bits in itertools.product((0, 1), repeat=price.size):
        u = np.array(bits, float)
        s, ok = S0, True
        for t in range(u.size):
            s = 0.99 * s + 400 * u[t] - demand[t]
            ok &= 0 <= s <= 1000
        ok &= s >= S0
        runs = [(k, len(list(g))) for k, g in itertools.groupby(np.r_[0, u])]
        runs[0] = (0, runs[0][1] - 1 + h0)
        ok &= all(n >= 2 for _, n in runs[:-1])
        if ok:
            starts = np.count_nonzero(np.diff(np.r_[0.0, u]) > 0)
            cost = np.dot(price, model.p_fixed_kW * u + model.p_per_kWth * 400 * u) / 1000
            best = min(best, cost + 30.0 * starts)
    plan = plan_milp(price, demand, S0, on0, h0, model, mip_rel_gap=0.0)
    check_plan(plan, price, demand, S0, model)
    assert np.isfinite(best)
    assert plan.objective_DKK == pytest.approx(best, rel=1e-9)


def test_hand_built_cheap_night_and_terminal_level() -> None:
    """Two cheap hours and a long dear tail: the plan charges in the cheap hours (full output),
    and a terminal level above S0 forces extra charging."""
    model = PlanModel()
    price = np.array([200.0, 200.0] + [1500.0] * 10)
    demand = np.full(12, 150.0)
    plan = plan_milp(price, demand, 500.0, False, 5, model, mip_rel_gap=0.0)
    check_plan(plan, price, demand, 500.0, model)
    np.testing.assert_allclose(plan.Q_hp_kW[:2], 800.0)  # the cheap hours at full output
    assert plan.start.sum() == 1
    hi = plan_milp(price, demand, 500.0, False, 5, model, S_end_min_kWh=2000.0)
    assert hi.S_kWh[-1] >= 2000.0 - 1e-6
    assert hi.objective_DKK > plan.objective_DKK


def test_fcr_commitment_is_held_and_costs_if_shed() -> None:
    model = PlanModel()
    T = 24
    price = np.full(T, 800.0)
    price[:6] = 300.0
    demand = np.full(T, 250.0)
    fixed = np.full(T, np.nan)
    fixed[10:14] = 60.0  # sold band for four dear hours
    plan = plan_milp(price, demand, 2000.0, False, 5, model, fcr_price_DKK_per_MW_h=np.full(
        T, 100.0), fcr_fixed_kW=fixed)
    ev = check_plan(plan, price, demand, 2000.0, model, np.full(T, 100.0))
    np.testing.assert_allclose(plan.fcr_band_kW[10:14], 60.0)
    assert np.all(plan.u[10:14] == 1) and ev["fcr_penalty_DKK"] == pytest.approx(0.0, abs=1e-9)
    # a commitment the heat pump cannot hold (above its band) is shed at the penalty
    fixed[10:14] = model.fcr_band_max_kW + 30.0
    shed = plan_milp(price, demand, 2000.0, False, 5, model, fcr_fixed_kW=fixed)
    ev = check_plan(shed, price, demand, 2000.0, model)
    assert ev["fcr_penalty_DKK"] == pytest.approx(
        4 * 30.0 * model.fcr_shortfall_penalty_DKK_per_MW_h / 1000.0, rel=1e-6)
    # no FCR-N at all when the cap is 0
    none = plan_milp(price, demand, 2000.0, False, 5, PlanModel(fcr_max_kW=0.0),
                     fcr_price_DKK_per_MW_h=np.full(T, 5000.0))
    assert np.all(none.fcr_band_kW == 0) and none.fcr_revenue_DKK == 0.0


def test_fcr_reservoir_limits_the_band_near_a_full_tank() -> None:
    """A tank 50 kWh below its top can absorb only 50 kWh of a down-regulation: a full band sold
    for the first hour can be held only up to 50 * p_per (1 h endurance); the rest is shed."""
    model = PlanModel(S_max_kWh=2000.0)
    fixed = np.array([model.fcr_band_max_kW, np.nan, np.nan, np.nan])
    fcr = [300.0] * 4
    plan = plan_milp([500.0] * 4, [300.0] * 4, 1950.0, True, 5, model,
                     fcr_price_DKK_per_MW_h=fcr, fcr_fixed_kW=fixed)
    ev = check_plan(plan, [500.0] * 4, [300.0] * 4, 1950.0, model, fcr)
    assert 0.0 < plan.fcr_band_kW[0] <= 50.0 * model.p_per_kWth + 1e-6
    assert ev["fcr_penalty_DKK"] > 0


def test_infeasible_and_bad_inputs_are_clear() -> None:
    model = PlanModel(eboiler_kW=0.0)
    with pytest.raises(PlanInfeasibleError, match="no schedule"):
        plan_milp([500.0] * 3, [900.0] * 3, 0.0, True, 5, model)
    with pytest.raises(ValueError, match="demand_kW has 2 hours"):
        plan_milp([500.0] * 3, [100.0] * 2, 0.0, True, 5, model)
    with pytest.raises(ValueError, match="demand_kW has a negative"):
        plan_milp([500.0] * 3, [-1.0] * 3, 0.0, True, 5, model)
    with pytest.raises(ValueError, match="price_el_DKK_per_MWh has a non-finite"):
        plan_milp([np.nan] * 3, [1.0] * 3, 0.0, True, 5, model)
    with pytest.raises(ValueError, match="S_end_min_kWh"):
        plan_milp([500.0] * 3, [1.0] * 3, 0.0, True, 5, model, S_end_min_kWh=9000.0)
    with pytest.raises(ValueError, match="strategy"):
        simulate_energy_model("manual", [1.0], [1.0], model)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fcr_price"):
        simulate_energy_model("optimised_fcr_n", [1.0], [1.0], model)
    with pytest.raises(ValueError, match="replan"):
        RollingHorizonMpc(model, *hourly_profile("2018-01-01", 1, 0)[:2],
                          replan="weekly")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# control loop
# ---------------------------------------------------------------------------------------------


def test_control_loop_level_and_sensor_modes() -> None:
    loop = ControlLoop(mode="level")
    assert [loop.step(level_kWh=x) for x in (2000, 900, 2000, 4049, 4050, 2000, 901)] == \
        [0.0, 0.88, 0.88, 0.88, 0.0, 0.0, 0.0]
    s = ControlLoop(mode="sensors", T_upper_on_C=60.0, T_lower_stop_C=45.0,
                    upper_limit_sensor=3, lower_limit_sensor=15)
    seq = [(70, 35), (59.9, 35), (65, 44), (72, 45.1), (61, 40), (59, 40)]
    assert [s.step(T_upper_C=a, T_lower_C=b) for a, b in seq] == [0, 0.88, 0.88, 0, 0, 0.88]
    with pytest.raises(ValueError, match="level_kWh"):
        ControlLoop().step()
    with pytest.raises(ValueError, match="T_upper_C"):
        s.step(T_upper_C=50.0)
    with pytest.raises(ValueError, match="mode"):
        ControlLoop(mode="timer")  # type: ignore[arg-type]


def test_control_loop_energy_model_stays_between_its_limits() -> None:
    price, demand, _ = hourly_profile("2018-02-01", 14, 5)
    model = PlanModel()
    r = simulate_energy_model("control_loop", price, demand, model, S0_kWh=2000.0)
    lev = r["level_kWh"]
    charge = 0.88 * 800 - demand.min()  # the largest change within one hour
    drain = demand.max()
    assert lev.min() >= 900.0 - drain - 1e-6 and lev.max() <= 4050.0 + charge + 1e-6
    assert lev.min() < 900.0 + 1e-6 and lev.max() > 4050.0 - 1e-6  # it cycles over both
    assert r["unserved_MWh"] == 0.0 and r["starts"] >= 5
    assert r["heat_MWh"] == pytest.approx(demand.sum() / 1000.0)
    # HP at 88 % load: heat / electricity = COP of the affine model at 704 kW
    assert r["heat_hp_MWh"] / r["electricity_MWh"] == pytest.approx(
        704.0 / float(model.P_el_kW(704.0)), rel=0.02)  # rel: hours cut at the tank top


# ---------------------------------------------------------------------------------------------
# rolling MPC
# ---------------------------------------------------------------------------------------------


def local_hours(mpc: RollingHorizonMpc, reason: str) -> list[int]:
    return [datetime.fromtimestamp(r.t_utc_s, ZoneInfo(TZ)).hour for r in mpc.solve_log
            if r.reason == reason]


@pytest.mark.parametrize("start,dst_day,n_dst", [("2018-03-23", "2018-03-25", 23),
                                                 ("2018-10-26", "2018-10-28", 25)])
def test_mpc_serves_demand_across_dst_with_fcr_commitments(start: str, dst_day: str,
                                                           n_dst: int) -> None:
    price, demand, fcr = hourly_profile(start, 5, 11)
    model = PlanModel()
    mpc = RollingHorizonMpc(model, price, demand, fcr, horizon_h=48, replan="daily")
    level, on = 1500.0, False
    bids: dict[str, list[float]] = {}
    unserved = 0.0
    from simulators.controllers.flexheat import _execute_hour

    for t, d in zip(price.index, demand.to_numpy(), strict=True):
        r = mpc.step(t.timestamp(), level, on)
        if r["fcr_bid"] is not None:
            bids[r["fcr_bid"]["day"]] = r["fcr_bid"]["band_kW"]
        level, Q, _, un = _execute_hour(model, level, float(d), r["load_set_frac"] * 800.0,
                                        r["Q_eb_plan_kW"])
        unserved += un
        on = Q > 0
        if r["fcr_band_kW"] > 0:
            assert on  # a committed band is only in force while running
    assert unserved == 0.0
    assert set(local_hours(mpc, "gate")) == {12} and len(local_hours(mpc, "gate")) == 5
    assert len(bids[dst_day]) == n_dst  # 23 / 25 products on the DST day
    assert all(len(b) in (23, 24, 25) for b in bids.values())
    assert max(max(b) for b in bids.values()) > 0
    assert mpc.solve_times_s.size == len(mpc.solve_log) and np.all(mpc.solve_times_s > 0)


def test_mpc_keeps_the_fcr_award_fixed_and_overrides_out_of_range_levels() -> None:
    price, demand, fcr = hourly_profile("2018-05-01", 3, 3)
    model = PlanModel()
    mpc = RollingHorizonMpc(model, price, demand, fcr, replan="hourly", horizon_h=36)
    t_gate = pd.Timestamp("2018-05-01 12:00", tz=TZ).timestamp()
    for k in range(2):  # first call 11:00 (gate passed for 05-01 → committed at 0), gate 12:00
        r = mpc.step(t_gate - 3600.0 * (1 - k), 2000.0, False)
    assert r["fcr_bid"] is not None and r["fcr_bid"]["day"] == "2018-05-02"
    h_next = pd.Timestamp("2018-05-02 08:00", tz=TZ).timestamp()
    mpc.set_fcr_award(h_next, 55.0)  # the auction awarded 55 kW for 08:00
    r = mpc.step(h_next, 2000.0, True)
    assert r["fcr_band_kW"] == 55.0
    plan = mpc.plan
    assert plan is not None and plan.fcr_fixed_kW is not None
    assert plan.fcr_fixed_kW[0] == 55.0  # the re-plan holds the award
    assert plan.fcr_band_kW[0] == pytest.approx(55.0)
    # measured level above S_max: off for the rest of the hour, re-plan from it next hour
    r = mpc.step(h_next + 600.0, model.S_max_kWh + 150.0, True)
    assert r["override"] and r["load_set_frac"] == 0.0
    r = mpc.step(h_next + 3600.0, model.S_max_kWh + 120.0, False)
    assert r["replanned"] and mpc.plan is not None and mpc.plan.S0_kWh == model.S_max_kWh + 120
    assert r["load_set_frac"] == 0.0  # the new plan starts from the measured state


def test_cost_order_perfect_foresight_mpc_control_loop_over_two_weeks() -> None:
    price, demand, fcr = hourly_profile("2018-11-05", 14, 21, demand_mean_kW=240.0)
    model = PlanModel()
    res = {s: simulate_energy_model(s, price, demand, model, S0_kWh=2000.0,
                                    pf_mip_rel_gap=1e-3)
           for s in ("control_loop", "optimised", "perfect_foresight")}
    cost = {s: r["total_cost_level_adjusted_DKK"] for s, r in res.items()}
    assert cost["perfect_foresight"] <= cost["optimised"] <= cost["control_loop"]
    assert all(r["unserved_MWh"] == 0.0 for r in res.values())
    # the perfect-foresight run reproduces its own plan's cost (executor = MILP model)
    assert res["perfect_foresight"]["stored_heat_change_kWh"] >= -1e-6


def test_fcr_revenue_only_when_priced() -> None:
    price, demand, fcr = hourly_profile("2018-09-03", 4, 4, demand_mean_kW=300.0)
    model = PlanModel()
    opt = simulate_energy_model("optimised", price, demand, model, fcr, S0_kWh=2000.0)
    opt_fcr = simulate_energy_model("optimised_fcr_n", price, demand, model, fcr, S0_kWh=2000.0)
    assert opt["fcr_revenue_DKK"] == 0.0 and np.all(opt["fcr_band_kW"] == 0)
    assert opt_fcr["fcr_revenue_DKK"] > 0.0 and opt_fcr["unserved_MWh"] == 0.0
    # the run starts at local midnight: its first plan sells day 1 (as at the previous gate)
    assert np.any(opt_fcr["fcr_band_kW"][:24] > 0)
    # a run starting mid-day: the rest of that day was sold before the run, at 0
    late = simulate_energy_model("optimised_fcr_n", price[13:], demand[13:], model, fcr[13:],
                                 S0_kWh=2000.0)
    assert np.all(late["fcr_band_kW"][:11] == 0)
    band = opt_fcr["fcr_band_kW"]
    assert np.all(band <= model.fcr_band_max_kW + 1e-6)
    assert opt_fcr["fcr_revenue_DKK"] == pytest.approx(float(np.dot(band, fcr)) / 1000.0)


def test_perfect_foresight_plan_is_consistent() -> None:
    price, demand, fcr = hourly_profile("2018-07-02", 4, 8, demand_mean_kW=120.0)
    model = PlanModel(min_up_h=2)
    plan = perfect_foresight(price, demand, model, fcr, S0_kWh=1000.0, mip_rel_gap=1e-6)
    check_plan(plan, price.to_numpy(), demand.to_numpy(), 1000.0, model, fcr.to_numpy())
    assert plan.mip_dual_bound_DKK <= plan.objective_DKK + 1e-6


def test_convex_knee_is_exact_at_three_points_and_costed_in_the_plan() -> None:
    """``from_cop_curve(knee=True)``: P_el exact at Q_min, at the best-COP load and at Q_max;
    the MILP's objective equals the independent re-evaluation with the knee, and a plan with
    the knee runs full load less than the affine plan when full load is dearer per kWh."""
    x = np.linspace(0.34, 1.0, 67)
    c = shared_cop(x)
    m = PlanModel.from_cop_curve(x, c, 800.0, knee=True, S_max_kWh=2500.0)
    k = int(np.argmax(c))
    for i in (0, k, x.size - 1):
        assert float(m.P_el_kW(800.0 * x[i])) == pytest.approx(800.0 * x[i] / c[i], rel=1e-12)
    assert m.Q_knee_kW == pytest.approx(800.0 * x[k]) and m.p_knee_per_kWth > 0
    rng = np.random.default_rng(5)
    T = 36
    price = 600 + 600 * rng.random(T)
    demand = 150 + 300 * rng.random(T)
    plan = plan_milp(price, demand, 1200.0, True, 3, m, mip_rel_gap=1e-7)
    ev = check_plan(plan, price, demand, 1200.0, m)
    assert plan.objective_DKK == pytest.approx(ev["objective_DKK"], rel=1e-6)
    affine = PlanModel.from_cop_curve(x, c, 800.0, S_max_kWh=2500.0)
    pa = plan_milp(price, demand, 1200.0, True, 3, affine, mip_rel_gap=1e-7)
    full = lambda p: int(np.sum(p.Q_hp_kW > m.Q_knee_kW + 1.0))  # noqa: E731
    assert full(plan) <= full(pa)

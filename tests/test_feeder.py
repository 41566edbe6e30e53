"""Feeder power flow (pandapower) and fleet sampling / household base load."""

from __future__ import annotations

import copy
import math
from datetime import datetime

import numpy as np
import pandapower as pp
import pytest

from simulators import building as building_mod
from simulators.feeder import DanishFeederConfig, Feeder, danish_feeder_net
from simulators.fleet import (
    HP_COUNT_BY_PERIOD,
    BaseLoad,
    FleetSpec,
    category_shares,
    sample_fleet,
)

# --------------------------------------------------------------------------------------------
# Feeder
# --------------------------------------------------------------------------------------------


# numba off: a handful of power flows is faster without numba's compile time per process
NO_JIT = {"numba": False}


@pytest.fixture(scope="module")
def feeder150() -> Feeder:
    return Feeder.danish(150, **NO_JIT)


def _direct(feeder: Feeder) -> pp.pandapowerNet:
    """The feeder's net with its current loads, solved by a plain pandapower call (default
    options: fresh model, default initialisation, no recycling) with pandapower's OWN
    Newton–Raphson (not lightsim2grid, which the feeder uses): an independent reference."""
    net = copy.deepcopy(feeder.net)
    for key in [k for k in net if isinstance(k, str) and k.startswith("_ppc")]:
        net[key] = None
    pp.runpp(net, numba=False, lightsim2grid=False)
    assert not net._options["lightsim2grid"]
    return net


def _assert_matches_direct(feeder: Feeder, out: dict, net: pp.pandapowerNet) -> None:
    np.testing.assert_allclose(out["v_bus_pu"], net.res_bus["vm_pu"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(out["trafo_loading_pct"],
                               net.res_trafo["loading_percent"].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(out["line_loading_pct"],
                               net.res_line["loading_percent"].to_numpy(), atol=1e-4)
    loss = (net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1000.0
    assert out["P_loss_kW"] == pytest.approx(loss, abs=1e-3)
    assert out["P_grid_kW"] == pytest.approx(net.res_ext_grid["p_mw"].sum() * 1000.0, abs=1e-3)
    np.testing.assert_allclose(out["P_trafo_kW"], net.res_trafo["p_hv_mw"].to_numpy() * 1e3,
                               atol=1e-3)
    lv = net.bus["vn_kv"].to_numpy() <= 1.0
    assert out["v_min_pu"] == pytest.approx(net.res_bus["vm_pu"].to_numpy()[lv].min(), abs=1e-6)


def test_danish_feeder_power_flow_matches_pandapower_direct(feeder150: Feeder) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):  # later steps use init="results" + recycle: must still match
        p = rng.uniform(0.5, 6.0, 150)
        out = feeder150.step(60.0, p)
    assert out["converged"]
    _assert_matches_direct(feeder150, out, _direct(feeder150))
    # the houses' load reaches the grid: slack import = Σ P + losses (no other loads)
    assert out["P_grid_kW"] == pytest.approx(p.sum() + out["P_loss_kW"], rel=1e-6)
    assert feeder150.n_power_flows >= 3 and feeder150.mean_pf_time_us > 0
    # the C++ solver (a dependency) is really the one used for the recycled flows
    assert feeder150.solver == "lightsim2grid"


def test_pandapower_solver_option_gives_the_same_flow() -> None:
    p = np.random.default_rng(5).uniform(0.5, 6.0, 60)
    outs = {}
    for ls in (True, False):
        f = Feeder.danish(60, lightsim2grid=ls, **NO_JIT)
        f.step(60.0, p * 0.5)
        outs[ls] = f.step(60.0, p)
        assert f.solver == ("lightsim2grid" if ls else "pandapower")
    np.testing.assert_allclose(outs[True]["v_bus_pu"], outs[False]["v_bus_pu"], atol=1e-9)
    np.testing.assert_allclose(outs[True]["line_loading_pct"], outs[False]["line_loading_pct"],
                               atol=1e-6)
    assert outs[True]["P_loss_kW"] == pytest.approx(outs[False]["P_loss_kW"], abs=1e-6)


def test_loaded_network_by_name_matches_direct_and_maps_houses() -> None:
    # Kerber rural cable grid: houses dealt to the buses of its own loads (which go out of service)
    f = Feeder.from_name("kerber_landnetz_kabel_1", n_houses=20, **NO_JIT)
    n_loads = int((f.net.load["name"] != "heatflex_house_load").sum())
    p = np.linspace(1.0, 8.0, 20)
    f.step(300.0, p)
    out = f.step(300.0, p * 1.1)
    _assert_matches_direct(f, out, _direct(f))
    # bincount mapping: houses sharing a bus are summed into one load row
    rows_p, rows_q = f.bus_powers_kW(p * 1.1)
    assert rows_p.sum() == pytest.approx((p * 1.1).sum())
    assert rows_q.sum() == pytest.approx((p * 1.1).sum() * math.tan(math.acos(0.97)))
    assert rows_p.size == len(np.unique(f.house_bus)) <= n_loads
    own = f.net.load["name"] == "heatflex_house_load"
    assert not f.net.load.loc[~own, "in_service"].any()
    assert f.net.load.loc[own, "p_mw"].sum() * 1000 == pytest.approx((p * 1.1).sum())


def test_json_round_trip_and_explicit_reactive_power(tmp_path, feeder150: Feeder) -> None:
    net, house_bus = danish_feeder_net(12, DanishFeederConfig(n_feeders=2))
    path = tmp_path / "grid.json"
    pp.to_json(net, str(path))
    f = Feeder.from_json(path, house_bus=house_bus, **NO_JIT)
    out = f.step(60.0, np.full(12, 5.0), Q_kvar=np.full(12, 2.0))
    net_d = _direct(f)
    _assert_matches_direct(f, out, net_d)
    own = f.net.load["name"] == "heatflex_house_load"
    assert f.net.load.loc[own, "q_mvar"].sum() * 1000 == pytest.approx(24.0)


def test_bundled_construction_and_physics() -> None:
    net, hb = danish_feeder_net(150)
    cfg = DanishFeederConfig()
    assert len(net.trafo) == 1 and net.trafo["sn_mva"].iloc[0] == pytest.approx(0.4)
    assert hb.size == 150 and len(np.unique(hb)) == 150  # one service cable per house
    service = net.line["name"].str.contains("service")
    assert int(service.sum()) == 150
    assert net.line.loc[service, "length_km"].to_numpy() == pytest.approx(0.015)
    # 4 feeders of 37-38 houses, 4 per cabinet -> 10 cabinets: 5 trunk + 3 + 2 branch spans
    trunk = net.line["name"].str.contains("trunk")
    assert int(trunk.sum()) == 4 * 5
    assert int(net.line["name"].str.contains("branch").sum()) == 4 * 5
    assert (net.line.loc[trunk, "std_type"] == cfg.trunk_std_type).all()
    net_s, hb_s = danish_feeder_net(150, DanishFeederConfig(max_houses_per_transformer=50))
    assert len(net_s.trafo) == 3 and hb_s.size == 150  # 50 houses per substation

    f = Feeder(net, hb, **NO_JIT)
    light = f.step(60.0, np.full(150, 0.5))
    heavy = f.step(60.0, np.full(150, 4.0))
    # 150 x 4 kW / 0.97 = 619 kVA on a 400 kVA transformer = 155 %; the current-based loading
    # is higher by the cable losses and the LV voltage drop (each a few %)
    s_load_pct = 600 / 0.97 / 400 * 100
    assert s_load_pct < heavy["trafo_loading_max_pct"] < 1.12 * s_load_pct
    assert heavy["trafo_loading_max_pct"] > 100.0 > light["trafo_loading_max_pct"]
    assert heavy["v_min_pu"] < light["v_min_pu"] < 1.0
    assert light["v_min_pu"] > 0.97
    # farthest houses see the lowest voltage: house voltages are the house-bus voltages
    assert heavy["v_house_pu"].min() == pytest.approx(heavy["v_min_pu"])
    assert f.E_loss_kWh == pytest.approx((light["P_loss_kW"] + heavy["P_loss_kW"]) / 60.0)


def test_feeder_rejects_bad_input(feeder150: Feeder) -> None:
    with pytest.raises(ValueError, match="P_kW"):
        feeder150.step(60.0, np.ones(149))
    with pytest.raises(ValueError, match="dt_s"):
        feeder150.step(0.0, np.ones(150))
    with pytest.raises(ValueError, match="power_factor"):
        feeder150.step(60.0, np.ones(150), power_factor=1.5)
    net, hb = danish_feeder_net(4)
    with pytest.raises(ValueError, match="house_bus"):
        Feeder(net, np.array([0, 1, 99999]))
    with pytest.raises(ValueError, match="n_feeders"):
        DanishFeederConfig(n_feeders=0)
    with pytest.raises(ValueError, match="network name"):
        Feeder.from_name("no_such_network")


# --------------------------------------------------------------------------------------------
# Fleet
# --------------------------------------------------------------------------------------------


def test_fleet_category_counts_match_ipower_shares() -> None:
    n = 1000
    fleet = sample_fleet(n, seed=5)
    shares = category_shares()
    # period shares = iPower Table 20 heat-pump counts in 2020: 26,018 / 36,079 / 19,777
    tot = 26_018 + 36_079 + 19_777
    assert HP_COUNT_BY_PERIOD[2020] == (26_018, 36_079, 19_777)
    assert sum(v for k, v in shares.items() if k.startswith("RAD_1")) == pytest.approx(
        26_018 / tot)
    assert shares["FLO_3"] == pytest.approx(0.5 * 19_777 / tot)
    assert set(shares) == set(building_mod.CATEGORIES)
    cats, counts = np.unique(fleet.category, return_counts=True)
    got = dict(zip(cats, counts, strict=True))
    for name, share in shares.items():
        assert abs(got.get(name, 0) - n * share) < 1.0  # stratified: rounding only
    assert sum(got.values()) == n
    # reproducible; another seed permutes differently
    again = sample_fleet(n, seed=5)
    np.testing.assert_array_equal(again.category, fleet.category)
    np.testing.assert_array_equal(again.Q_rated_kW, fleet.Q_rated_kW)
    assert not np.array_equal(sample_fleet(n, seed=6).category, fleet.category)


def test_fleet_diversity_statistics() -> None:
    spec = FleetSpec()
    fleet = sample_fleet(4000, seed=1, spec=spec)
    assert fleet.T_set_C.min() >= 20.0 and fleet.T_set_C.max() <= 23.0
    assert fleet.T_set_C.mean() == pytest.approx(21.5, abs=0.05)
    assert np.mean(fleet.source == "air") == pytest.approx(0.7, abs=0.03)
    assert set(fleet.emitter[np.char.startswith(fleet.category, "FLO")]) == {"floor"}
    # DHW per period = iPower Table 20 (2020): heat/m² x hot-water share x area / 365
    for period, (q, share) in {1: (174.0, 0.12), 2: (116.0, 0.15), 3: (72.0, 0.26)}.items():
        area = building_mod.HOUSE_AREA_M2[period]
        sel = np.array([(c.startswith("FLO") and period == 3) or c[4:5] == str(period)
                        for c in fleet.category])
        expected = q * share * area / 365.0  # 8.12 / 7.20 / 8.34 kWh/day
        assert fleet.dhw_kwh_per_day[sel].mean() == pytest.approx(expected, rel=0.05)
    # sizes: from the catalogue, at least the design load unless capped at the largest size
    assert set(np.unique(fleet.Q_rated_kW)) <= set(spec.hp_sizes_kW)
    ok = (fleet.Q_rated_kW >= fleet.design_load_kW) | (fleet.Q_rated_kW == spec.hp_sizes_kW[-1])
    assert ok.all()
    # iPower: peak heat ~7 kW per house (L777); design loads of the 2020 fleet are of that size
    assert 5.5 < fleet.design_load_kW.mean() < 8.5
    assert fleet.base_kwh_per_year.mean() == pytest.approx(4000.0, rel=0.03)
    # tanks cover 1.25 days of DHW unless the largest size
    content = fleet.tank_volume_l / 1000 * 985 * 4186 * 50 / 3.6e6
    assert ((content >= 1.25 * fleet.dhw_kwh_per_day) | (fleet.tank_volume_l == 300.0)).all()
    # the parameter arrays build the existing cores
    hp = fleet.heatpump_params()
    assert np.asarray(hp.Q_rated_kW).shape == (4000,)
    assert fleet.building_params().n == 4000


def test_base_load_energy_shape_and_exact_means() -> None:
    start = datetime(2023, 1, 2)  # a Monday, UTC
    # a year integrates to the annual energy (season, profile and noise have mean 1)
    year = BaseLoad(np.array([3000.0, 4000.0, 5000.0] * 10), start, seed=4, bin_s=3600.0)
    e = np.zeros(30)
    for k in range(365):
        e += year.step(86400.0, k * 86400.0) * 24.0
    assert e.reshape(10, 3).mean(axis=0) == pytest.approx([3000.0, 4000.0, 5000.0], rel=0.03)
    bl = BaseLoad(np.array([3000.0, 4000.0, 5000.0] * 10), start, seed=4)
    # step means are exact: 60 one-minute steps = 4 quarter-hours = 1 hour
    t0 = 17 * 3600.0
    m60 = np.mean([bl.step(60.0, t0 + 60.0 * k) for k in range(60)], axis=0)
    m900 = np.mean([bl.step(900.0, t0 + 900.0 * k) for k in range(4)], axis=0)
    np.testing.assert_allclose(m60, bl.step(3600.0, t0), rtol=1e-12)
    np.testing.assert_allclose(m900, bl.step(3600.0, t0), rtol=1e-12)
    # same seed -> identical; evening peak (18-19 local = 17-18 UTC) well above the night
    big = BaseLoad(np.full(2000, 4000.0), start, seed=1)
    evening = big.step(3600.0, 17 * 3600.0).mean()
    night = big.step(3600.0, 2 * 3600.0).mean()
    assert evening > 2.5 * night
    np.testing.assert_array_equal(BaseLoad(np.full(2000, 4000.0), start, seed=1).step(
        900.0, 0.0), big.step(900.0, 0.0))
    with pytest.raises(ValueError, match="kwh_per_year"):
        BaseLoad([-1.0], start)


def test_transformer_aggregate_matches_the_power_flow_loading() -> None:
    from simulators.feeder_aggregate import TransformerAggregate

    n = 450  # 3 substations of 150 houses
    p = np.random.default_rng(7).uniform(0.5, 4.0, n)
    flow = Feeder.danish(n, DanishFeederConfig(max_houses_per_transformer=150), **NO_JIT)
    agg = TransformerAggregate(n, 150)
    f, a = flow.step(300.0, p), agg.step(300.0, p)
    assert agg.n_trafo == len(flow.net.trafo) == 3
    # houses dealt to substations exactly as the bundled grid does: the sums per transformer
    # equal the power flow's transformer LV-side load (HV power − trafo losses − cable losses)
    sums = np.bincount(agg.trafo_of_house, weights=p)
    np.testing.assert_allclose(sums, [p[:150].sum(), p[150:300].sum(), p[300:].sum()])
    # loading without the cables' losses and voltage drop: within 5 % of the power flow's
    np.testing.assert_allclose(a["trafo_loading_pct"], f["trafo_loading_pct"], rtol=0.05)
    assert a["P_grid_kW"] == pytest.approx(p.sum() + a["P_loss_kW"])
    assert 0 < a["P_loss_kW"] < f["P_loss_kW"]  # transformer losses only
    assert np.isnan(a["v_min_pu"]) and np.isnan(a["v_house_pu"]).all()
    with pytest.raises(ValueError, match="houses_per_transformer"):
        TransformerAggregate(10, 0)
    with pytest.raises(ValueError, match="trafo_std_type"):
        TransformerAggregate(10, trafo_std_type="no such trafo")
    with pytest.raises(ValueError, match="non-finite"):
        agg.step(60.0, np.full(n, np.nan))


def test_excel_network_file_matches_direct(tmp_path) -> None:
    # a DSO's network exported with pandapower.to_excel, loaded by the scenario's file path
    net, house_bus = danish_feeder_net(16, DanishFeederConfig(n_feeders=2))
    path = tmp_path / "grid.xlsx"
    pp.to_excel(net, str(path))
    f = Feeder.from_file(path, house_bus=house_bus, **NO_JIT)
    out = f.step(60.0, np.linspace(1.0, 6.0, 16))
    _assert_matches_direct(f, out, _direct(f))
    with pytest.raises(ValueError, match="allowed formats"):
        Feeder.from_file(tmp_path / "grid.csv", house_bus=house_bus)
    with pytest.raises(ValueError, match="does not exist"):
        Feeder.from_file(tmp_path / "missing.xlsx", house_bus=house_bus)

"""FCR fleet runs: N houses delivering FCR-N in a simulated grid frequency.

A scenario with ``[frequency]`` and ``[fcr]`` is assembled here (``scenarios.world.assemble``
dispatches): the grid-frequency model, the fleet's heat pumps with their FCR controller at the
frequency step, buildings/tanks/room controllers at the scenario step, and the same fleet without
FCR as the comparison case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from adapters.records import SourceInfo
from scenarios.schema import Scenario
from scenarios.world import (
    BUILDING_OUT,
    CONTROLLER_OUT,
    HEATPUMP_IN,
    MARKET_OUT,
    TANK_OUT,
    WEATHER_OUT,
    Assembled,
    Site,
    _floats,
    _Source,
    build_site,
    house_loop,
    new_world,
)

FLEET_HP_OUT = ["P_el_kW", "P_el_compressor_kW", "P_backup_kW", "Q_th_kW", "Q_sh_kW",
                "Q_dhw_kW", "Q_backup_kW", "COP", "T_supply_C", "on", "starts",
                "modulation_frac", "P_base_kW", "capacity_kW"]  # fmt: skip
"""Per-house heat-pump attributes of a fleet run: means over the building step (see
:class:`FleetHeatPump`), recorded at the scenario ``step``."""
FCR_FLEET_OUT = ["P_el_fleet_kW", "P_base_fleet_kW", "P_delivered_kW", "P_theo_kW",
                 "capacity_fleet_kW", "n_providing", "f_meas_mean_Hz"]  # fmt: skip
"""Fleet aggregates at the frequency step (measurement ``fcr``, entity ``fleet``)."""
GRID_OUT = ["f_Hz", "f_without_fleet_Hz", "rocof_Hz_per_s", "imbalance_MW", "P_hp_response_MW"]
_WINDOW_FLOWS = ("P_el_kW", "P_el_compressor_kW", "P_backup_kW", "Q_th_kW", "Q_sh_kW",
                 "Q_dhw_kW", "Q_backup_kW", "modulation_frac", "P_base_kW", "capacity_kW")


class FleetHeatPump:
    """A fleet's heat pumps stepped at the frequency step, with the FCR controller inside.

    Each step: the units that are running with a heat request provide FCR around their
    baseline (the compressor power their request implies, ``P_base``) within their compressor
    range; the others follow their request (``P_el_set_kW`` NaN). ``ctrl=None`` gives the same
    fleet without FCR (the counterfactual). Outputs:

    * per house, for the building/tank/recorder at the building step: means over the last
      completed building step (flows, ``COP`` = heat/electricity of the window, ``T_supply_C``
      mean) and the state at its end (``on``, ``starts``); the building receives a window's heat
      during the next window (a one-step transport delay that keeps the energy exact);
    * fleet aggregates each step (:data:`FCR_FLEET_OUT`, kW, consumption positive;
      ``P_delivered_kW`` = Σ(P_base − P_compressor) of the providing units, up-positive;
      ``P_theo_kW`` = Σ capacity·a_FCR-N(f) with the grid frequency) and ``P_hp_response_MW``
      for the grid model.
    """

    def __init__(self, hp: Any, ctrl: Any, window_steps: int, n: int) -> None:
        self.hp = hp
        self.ctrl = ctrl
        self.n = n
        self.k = int(window_steps)
        self._i = 0
        self._acc: dict[str, np.ndarray] = {}
        self._last: dict[str, np.ndarray] | None = None
        self._on = np.zeros(n, dtype=bool)

    def step(self, dt_s: float, Q_req_kW: Any, dhw_mode: Any, sg_ready_state: Any,
             T_out_C: float, T_out_24h_C: float, T_out_168h_C: float, f_Hz: float = 50.0,
             T_room_C: Any = None, **_: Any) -> dict[str, Any]:
        from simulators.controllers.fcr import fcrn_activation

        q_req = np.asarray(Q_req_kW, dtype=float)
        dhw = np.asarray(dhw_mode) > 0.5
        sg = np.asarray(sg_ready_state).astype(int)
        n = self.n
        p_set: Any = None
        p_base = np.zeros(n)
        cap = np.zeros(n)
        f_meas = f_Hz
        theo = 0.0
        if self.ctrl is not None:
            p_lo, p_hi = self.hp.compressor_power_range_kW(T_out_C, T_out_24h_C, T_out_168h_C,
                                                           dhw)
            q_cap = self.hp.compressor_capacity_kW(T_out_C)
            prov = self._on & (q_req > 0.0)
            frac = np.clip(q_req / q_cap, p_lo / p_hi, 1.0)
            p_base = np.where(prov, p_hi * frac, 0.0)
            c = self.ctrl.step(dt_s, f_Hz, p_base, P_min_kW=np.where(prov, p_lo, 0.0),
                               P_max_kW=np.where(prov, p_hi, 0.0), T_room_C=T_room_C)
            cap = c["capacity_kW"]
            p_set = np.where(prov, c["P_set_kW"], np.nan)
            f_meas = float(np.mean(c["f_meas_Hz"]))
            theo = float(cap.sum() * fcrn_activation(f_Hz))
        out = self.hp.step(dt_s, q_req, T_out_C, T_out_24h_C, T_out_168h_C, dhw_mode=dhw,
                           sg_ready_state=sg, P_el_set_kW=p_set)
        self._on = out["on"] > 0.5
        prov_now = p_base > 0.0
        delivered = float(np.sum(np.where(prov_now, p_base - out["P_el_compressor_kW"], 0.0)))
        res: dict[str, Any] = {
            "P_el_fleet_kW": float(out["P_el_kW"].sum()),
            "P_base_fleet_kW": float(p_base.sum()), "P_delivered_kW": delivered,
            "P_theo_kW": theo, "capacity_fleet_kW": float(cap.sum()),
            "n_providing": float(prov_now.sum()), "f_meas_mean_Hz": f_meas,
            "P_hp_response_MW": delivered / 1000.0,
        }
        # per-house window means for the slow simulators and the recorder
        if self._i % self.k == 0 and self._acc:
            self._last = self._emit()
        vals = {a: out[a] for a in _WINDOW_FLOWS if a in out}
        vals["P_base_kW"], vals["capacity_kW"] = p_base, cap
        vals["T_supply_C"] = out["T_supply_C"]
        for a, v in vals.items():
            acc = self._acc.get(a)
            self._acc[a] = np.array(v, dtype=float) if acc is None else acc + v
        self._state = {"on": out["on"].copy(), "starts": out["starts"].copy()}
        self._i += 1
        if self._last is None:  # first window: this step stands for it
            self._last = {**{a: np.array(v, dtype=float) for a, v in vals.items()},
                          **{a: v.copy() for a, v in self._state.items()}}
            self._last["COP"] = out["COP"].copy()
        res.update(self._last)
        return res

    def _emit(self) -> dict[str, np.ndarray]:
        """Means of the completed window and the state at its end; resets the window."""
        mean = {a: v / self.k for a, v in self._acc.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            p_comp = mean["P_el_compressor_kW"]
            q_comp = mean["Q_th_kW"] - mean["Q_backup_kW"]
            mean["COP"] = np.where(p_comp > 0, q_comp / np.where(p_comp > 0, p_comp, 1.0), 0.0)
        mean.update({a: v.copy() for a, v in self._state.items()})
        self._acc = {}
        return mean


class GridFrequency:
    """The grid the fleet sees: the dynamic Nordic model with the fleet's response fed back (and a
    twin without it, same seed, to measure the fleet's own effect on f), or a replayed profile
    (then ``f_without_fleet_Hz`` = ``f_Hz``). Reports f at the START of each step (held over it)."""

    def __init__(self, model: Any, twin: Any | None) -> None:
        self.model = model
        self.twin = twin
        self._f = float(model.f_Hz if twin is not None else model.at(0.0)["f_Hz"])
        self._f_twin = self._f
        self._profile = twin is None

    def step(self, dt_s: float, P_hp_response_MW: Any = 0.0) -> dict[str, Any]:
        p = float(np.sum(P_hp_response_MW))
        f0, f0_twin = self._f, self._f_twin
        out = self.model.step(dt_s, P_hp_response_MW=p) if not self._profile else \
            self.model.step(dt_s)
        self._f = out["f_Hz"]
        if self.twin is not None:
            self._f_twin = self.twin.step(dt_s, P_hp_response_MW=0.0)["f_Hz"]
        else:
            self._f_twin = self._f
        imb = out.get("imbalance_MW", float("nan"))
        return {"f_Hz": f0, "f_without_fleet_Hz": f0_twin,
                "rocof_Hz_per_s": (self._f - f0) / dt_s, "imbalance_MW": imb,
                "P_hp_response_MW": p}


def _grid_core(sc: Scenario, seed: int) -> GridFrequency:
    from simulators import frequency as freq_mod

    fc = sc.frequency
    assert fc is not None
    if fc.mode == "profile":
        assert fc.path is not None
        prof = freq_mod.FrequencyProfile.from_csv(fc.path, fc.format, fc.interpolation,
                                                  t0_s=fc.offset)
        return GridFrequency(prof, None)
    case = freq_mod.PERFORMANCE_CASE if fc.case == "performance" else freq_mod.STABILITY_CASE
    kw = dict(E_k_MWs=case["E_k_MWs"], S_n_MW=case["S_n_MW"], noise=fc.noise,
              incidents=[(i.at, i.P_lost_MW) for i in fc.incidents], seed=seed)
    return GridFrequency(freq_mod.NordicFrequency(**kw), freq_mod.NordicFrequency(**kw))


def fleet_fcr_controller(sc: Scenario, site: Site) -> Any:
    """The fleet's FCR-N controller: per house C = ``fcr.capacity_kW`` or (``auto``)
    ``fcr.capacity_share`` × half the compressor's power range at the design point (−12 °C
    space heating); the maintained capacity (baseline, range, comfort) limits it each step."""
    from simulators.controllers.fcr import FcrController, FcrParams

    fcr = sc.fcr
    assert fcr is not None
    n = sc.site.n_houses
    if fcr.capacity_kW == "auto":
        p_lo, p_hi = site.heatpump.compressor_power_range_kW(-12.0, -12.0, 0.0)
        c = fcr.capacity_share * 0.5 * (np.asarray(p_hi) - np.asarray(p_lo))
    else:
        c = np.full(n, float(fcr.capacity_kW))
    comfort = sc.site.comfort
    params = FcrParams(C_fcrn_kW=c, fcrn_deadband_Hz=fcr.deadband_Hz, T_FME_s=fcr.T_FME,
                       T_room_min_C=comfort.T_low_C, T_room_max_C=comfort.T_high_C)
    return FcrController(params, n=n)


def assemble_fcr_fleet(sc: Scenario, out_dir: Path, run_id: str, until_s: float | None = None,
                       seed: int | None = None) -> Assembled:
    """The FCR fleet world (multi-rate)::

        grid (frequency.step) ──f──> fleet heat pumps + FCR (frequency.step) ──> recorder (fast)
             ^── P_hp_response_MW (time-shifted) ─┘   │  ^ Q_req, dhw (controller, step)
        weather, prices, demand, building, tank, controller at ``step``; window means of the
        heat pumps ──> building, tank ──> recorder (step)

    With ``fcr.counterfactual`` a twin fleet (same seed, no FCR) runs in the same simulators
    (entities ``ref-*``) for the comfort and starts comparison. Fleet records land in
    ``timeseries/``; the fast records (``grid``, ``fcr``) first in ``timeseries/.fast``.
    """
    seed = sc.seed if seed is None else seed
    fcr = sc.fcr
    fc = sc.frequency
    assert fcr is not None and fc is not None
    n = sc.site.n_houses
    variants = {"house": build_site(sc, seed)}
    if fcr.counterfactual:
        variants["ref"] = build_site(sc, seed)
    site = variants["house"]
    res = sc.time_resolution
    step = int(round(sc.step / res))
    f_step = int(round(fc.step / res))
    w_step = max(1, int(round(sc.weather.step / res)))
    p_step = max(1, int(round(sc.prices.step / res)))
    until = int(round((sc.duration_s if until_s is None else until_s) / res))
    world, sim = new_world(sc)

    weather = sim("Weather", [], WEATHER_OUT, w_step).create(
        1, core=_Source(lambda t, dt: _floats(site.weather.at(t))), eid="weather")[0]
    market = sim("Market", [], [*MARKET_OUT, "price_forecast"], p_step).create(
        1, core=_Source(lambda t, dt: {**_floats(site.prices.at(t)),
                                       "price_forecast": site.prices.forecast(t)}),
        eid="market")[0]
    grid = sim("Grid", ["P_hp_response_MW"], GRID_OUT, f_step).create(
        1, core=_grid_core(sc, seed), eid="grid")[0]
    m_demand = sim("Demand", [], ["Q_dhw_demand_kW"], step)
    m_building = sim("Building", ["Q_heat_kW", "T_out_C"], BUILDING_OUT, step)
    m_tank = sim("Tank", ["Q_charge_kW", "T_charge_C", "Q_draw_kW"], TANK_OUT, step)
    m_ctrl = sim("Controller", ["T_room_C", "T_out_C", "T_layers_C", "price_forecast"],
                 CONTROLLER_OUT, step)
    m_hp = sim("HeatPump", [*HEATPUMP_IN, "f_Hz", "T_room_C"],
               [*FLEET_HP_OUT, *FCR_FLEET_OUT, "P_hp_response_MW"], f_step)
    slow_sources: dict[str, SourceInfo] = {
        weather.full_id: SourceInfo("weather", "weather"),
        market.full_id: SourceInfo("market", "market")}
    slow_links: list[tuple[Any, list[str]]] = [(weather, WEATHER_OUT), (market, MARKET_OUT)]
    fleet_hp = None
    for tag, st in variants.items():
        demand = m_demand.create(1, core=_Source(
            lambda t, dt, d=st.demand: {"Q_dhw_demand_kW": d.mean_kW(t, t + dt)}),
            eid=f"demand_{tag}")[0]
        controller = m_ctrl.create(1, core=st.controller, eid=f"controller_{tag}")[0]
        ctrl = fleet_fcr_controller(sc, st) if tag == "house" else None
        hp = m_hp.create(1, core=FleetHeatPump(st.heatpump, ctrl, step // f_step, n),
                         eid=f"heatpump_{tag}")[0]
        building, tank, T0 = house_loop(
            world, m_building, m_tank, st.building, st.tank, tag, weather=weather,
            controller=controller, heatpump=hp, demand=demand, controller_to_hp=CONTROLLER_OUT[:3])
        world.connect(market, controller, "price_forecast")
        if ctrl is not None:
            fleet_hp = hp
            world.connect(grid, hp, "f_Hz")
            world.connect(building, hp, "T_room_C", time_shifted=True,
                          initial_data={"T_room_C": T0})
            world.connect(hp, grid, "P_hp_response_MW", time_shifted=True,
                          initial_data={"P_hp_response_MW": 0.0})
        for ent, meas, attrs in ((demand, "demand", ["Q_dhw_demand_kW"]),
                                 (building, "building", BUILDING_OUT),
                                 (tank, "tank", TANK_OUT),
                                 (controller, "controller", CONTROLLER_OUT),
                                 (hp, "heatpump", FLEET_HP_OUT)):
            slow_sources[ent.full_id] = SourceInfo(meas, tag)
            slow_links.append((ent, attrs))
    assert fleet_hp is not None

    ts_dir = out_dir / "timeseries"
    fast_dir = ts_dir / ".fast"
    fast_sources = {grid.full_id: SourceInfo("grid", "nordic"),
                    fleet_hp.full_id: SourceInfo("fcr", "fleet")}
    fast_links: list[tuple[Any, list[str]]] = [(grid, GRID_OUT), (fleet_hp, FCR_FLEET_OUT)]
    parquet = next((r for r in sc.recorders if r.type == "parquet"), None)
    flush = parquet.flush_interval if parquet else 86400.0
    for sid, step_size, d, sources, links in (
            ("Recorder", step, ts_dir, slow_sources, slow_links),
            ("RecorderFast", f_step, fast_dir, fast_sources, fast_links)):
        rec = world.start("Recorder", sim_id=sid, step_size=step_size).Recorder.create(
            1, out_dir=str(d), run_id=run_id, scenario=sc.name, start=sc.start,
            sources=sources, flush_interval_s=flush)[0]
        for ent, attrs in links:
            world.connect(ent, rec, *attrs)
    for i, r in enumerate(x for x in sc.recorders if x.type == "influx"):
        for sid, step_size, d, sources, links in (
                (f"Influx{i}", step, out_dir, slow_sources, slow_links),
                (f"Influx{i}Fast", f_step, out_dir / ".fast", fast_sources, fast_links)):
            rec = world.start("InfluxRecorder", sim_id=sid, step_size=step_size).Recorder.create(
                1, out_dir=str(d), run_id=run_id, scenario=sc.name, start=sc.start,
                sources=sources, url=r.url, api=r.api, org=r.org, bucket=r.bucket,
                token_env=r.token_env, flush_interval_s=r.flush_interval,
                batch_size=r.batch_size, gzip=r.gzip, timeout_s=r.timeout)[0]
            for ent, attrs in links:
                world.connect(ent, rec, *attrs)
    return Assembled(world, until, site, ts_dir)


def collect_fast_records(ts_dir: Path) -> None:
    """Move the fast recorder's merged files (``timeseries/.fast/*.parquet``) into
    ``timeseries/`` after the recorders closed."""
    import shutil

    fast = ts_dir / ".fast"
    if not fast.is_dir():
        return
    for f in fast.glob("*.parquet"):
        f.replace(ts_dir / f.name)
    shutil.rmtree(fast, ignore_errors=True)

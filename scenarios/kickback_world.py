"""DSO kickback runs: N heat-pump houses on a low-voltage feeder, demand-response events, and the
rebound measured against a paired counterfactual (issue #9).

A scenario with ``[feeder]`` is assembled here (``scenarios.world.assemble`` dispatches). Per
variant — ``ev`` (with the ``[[events]]``) and, with ``feeder.counterfactual`` (``heatflex run
... --counterfactual``), ``cf`` (the SAME fleet, seeds, weather, DHW taps and base load, without
events) — one vectorised entity per model::

    weather ──> building, heat pump, controller        demand ──> tank
    controller ──Q_req, dhw, sg──> heat pump (+ EventSchedule: sg_ready_state, P_limit_kW)
    heat pump ──Q_sh──> building, ──Q_dhw──> tank;  building/tank ──(time-shifted)──> controller
    heat pump P_el + base load ──> house load (step) ──interval means──> feeder (interval)

Recorded measurements (entity = variant tag; per-house arrays become ``<tag>-<i>``):
``fleet`` (aggregates: P_hp_kW, P_base_kW, P_total_kW, Q_sh_kW, n_on, n_blocked, ...),
``feeder`` (trafo_loading_max_pct, v_min_pu, v_max_pu, P_grid_kW, P_loss_kW, ...),
``feeder_house`` (v_house_pu), ``heatpump`` (P_el_kW, hp_state), ``building`` (T_room_C,
T_structure_C, Q_heat_kW, Q_loss_kW).

Timing: the feeder's sample at t is the power flow of the houses' MEAN loads over the interval
[t − interval, t) (the house-load core emits completed interval means), held until the next
power flow. The ``fleet`` aggregates at the heat step carry no such lag; rebound peaks are taken
from them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.records import SourceInfo
from scenarios.rebound import energy_bookkeeping, interval_lengths_s, rebound_kpis
from scenarios.schema import PRICE_EVENT_KINDS, Scenario
from scenarios.world import (
    BUILDING_OUT,
    TANK_OUT,
    WEATHER_OUT,
    Assembled,
    Site,
    _floats,
    _Source,
    build_site,
    house_loop,
    new_world,
    start_recorders,
)

FLEET_OUT = ["P_hp_kW", "P_base_kW", "P_total_kW", "Q_sh_kW", "Q_dhw_kW", "n_on", "n_blocked",
             "n_limited", "n_in_event"]  # fmt: skip
"""Fleet aggregates at the heat step (measurement ``fleet``): kW sums, unit counts."""
FEEDER_OUT = ["trafo_loading_max_pct", "line_loading_max_pct", "v_min_pu", "v_max_pu",
              "v_house_mean_pu", "P_grid_kW", "P_loss_kW", "P_load_kW", "converged"]  # fmt: skip
"""Feeder scalars at the power-flow interval (measurement ``feeder``)."""
HP_REC = ["P_el_kW", "hp_state"]
"""Per-house heat-pump records. ``hp_state``: 0 off, 1 running, 2 blocked (SG-Ready 1),
3 limited (§14a / guaranteed minimum), 4 forced/increased (SG-Ready 3/4)."""
BUILDING_REC = ["T_room_C", "T_structure_C", "T_floor_C", "Q_heat_kW", "Q_loss_kW"]
CONTROLLER_IN = ["Q_req_kW", "dhw_mode", "sg_ready_state"]
VARIANT_EVENT, VARIANT_CF, VARIANT_ALT = "ev", "cf", "alt"


def variant_tags(sc: Scenario) -> list[str]:
    """The variants a kickback scenario runs: ``ev`` (events with their own mitigations), ``alt``
    (same events, ``feeder.alternative`` mitigations) and ``cf`` (no events)."""
    fd = sc.feeder
    assert fd is not None
    return [VARIANT_EVENT, *([VARIANT_ALT] if fd.alternative is not None else []),
            *([VARIANT_CF] if fd.counterfactual else [])]


# ---------------------------------------------------------------------------------------------
# Cores (pure numpy; wrapped by the generic CoreSim adapter)
# ---------------------------------------------------------------------------------------------


class EventHeatPump:
    """The fleet's heat pumps with the demand-response commands of an ``EventSchedule``.

    Each step the schedule's ``sg_ready_state`` overrides the controller's where it is not 2
    (normal), and its ``P_limit_kW`` (§14a / guaranteed minimum, NaN = none) limits the draw.
    ``schedule=None`` is the counterfactual (the controller's commands pass unchanged).
    """

    needs_time = True

    def __init__(self, hp: Any, schedule: Any | None, n: int) -> None:
        self.hp = hp
        self.schedule = schedule
        self.n = n

    def step(self, dt_s: float, t_s: float, Q_req_kW: Any, dhw_mode: Any, sg_ready_state: Any,
             T_out_C: float, T_out_24h_C: float, T_out_168h_C: float) -> dict[str, Any]:
        """Advance dt_s seconds from t_s; heat-pump outputs (kW, (N,)) plus ``hp_state``,
        ``sg_applied`` and ``in_event`` per house."""
        sg = np.broadcast_to(np.asarray(sg_ready_state).astype(np.int64), (self.n,))
        limit: np.ndarray | None = None
        in_event = np.zeros(self.n, dtype=bool)
        if self.schedule is not None:
            cmd = self.schedule.at(t_s)
            sg = np.where(cmd["sg_ready_state"] != 2, cmd["sg_ready_state"], sg)
            limit = cmd["P_limit_kW"]
            in_event = cmd["in_event"]
        out = self.hp.step(dt_s, Q_req_kW, T_out_C, T_out_24h_C, T_out_168h_C,
                           dhw_mode=np.asarray(dhw_mode) > 0.5, sg_ready_state=sg,
                           P_limit_kW=limit)
        on = out["on"] > 0.5
        state = np.where(on, 1.0, 0.0)
        if limit is not None:
            state = np.where(np.isfinite(limit), 3.0, state)
        state = np.where(sg >= 3, 4.0, state)
        state = np.where(sg == 1, 2.0, state)
        res = dict(out)
        res["hp_state"] = state
        res["sg_applied"] = sg.astype(float)
        res["in_event"] = in_event.astype(float)
        return res


class HouseLoad:
    """Per-house load (heat pump + base load) and fleet aggregates at the heat step, and the
    per-house mean over the last COMPLETED feeder interval of ``k`` steps (``P_window_kW``, kW)
    for the feeder; the first interval is represented by its first step."""

    def __init__(self, k: int, n: int) -> None:
        self.k = int(k)
        self.n = n
        self._i = 0
        self._acc = np.zeros(n)
        self._window: np.ndarray | None = None

    def step(self, dt_s: float, P_el_kW: Any, P_base_kW: Any, Q_sh_kW: Any = 0.0,
             Q_dhw_kW: Any = 0.0, hp_state: Any = 0.0, in_event: Any = 0.0) -> dict[str, Any]:
        """Aggregate one step; kW sums and unit counts (floats), ``P_window_kW`` (N,)."""
        p_hp = np.asarray(P_el_kW, dtype=float)
        p_base = np.asarray(P_base_kW, dtype=float)
        p = p_hp + p_base
        if self._i % self.k == 0 and self._i > 0:
            self._window = self._acc / self.k
            self._acc = np.zeros(self.n)
        self._acc = self._acc + p
        if self._window is None:
            self._window = p.copy()
        self._i += 1
        st = np.asarray(hp_state, dtype=float)
        return {
            "P_hp_kW": float(p_hp.sum()), "P_base_kW": float(p_base.sum()),
            "P_total_kW": float(p.sum()), "Q_sh_kW": float(np.sum(Q_sh_kW)),
            "Q_dhw_kW": float(np.sum(Q_dhw_kW)), "n_on": float(np.sum(st == 1) + np.sum(st >= 3)),
            "n_blocked": float(np.sum(st == 2)), "n_limited": float(np.sum(st == 3)),
            "n_in_event": float(np.sum(np.asarray(in_event) > 0.5)),
            "P_window_kW": self._window.copy(),
        }


class FeederCore:
    """One power flow per step on the houses' interval-mean loads (``simulators.feeder``)."""

    def __init__(self, feeder: Any) -> None:
        self.feeder = feeder

    def step(self, dt_s: float, P_window_kW: Any) -> dict[str, Any]:
        """Scalars of :data:`FEEDER_OUT` and ``v_house_pu`` (N,)."""
        p = np.asarray(P_window_kW, dtype=float)
        r = self.feeder.step(dt_s, p)
        v = r["v_house_pu"]
        return {
            "trafo_loading_max_pct": r["trafo_loading_max_pct"],
            "line_loading_max_pct": r["line_loading_max_pct"], "v_min_pu": r["v_min_pu"],
            "v_max_pu": r["v_max_pu"], "v_house_mean_pu": float(np.mean(v)),
            "P_grid_kW": r["P_grid_kW"], "P_loss_kW": r["P_loss_kW"],
            "P_load_kW": float(p.sum()), "converged": float(r["converged"]),
            "v_house_pu": v,
        }


class _Pass:
    """Passes its inputs on (a second entity to record a feeder's per-house arrays)."""

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        return dict(inputs)


# ---------------------------------------------------------------------------------------------
# Building the fleet
# ---------------------------------------------------------------------------------------------


def fleet_seed(sc: Scenario) -> int:
    """Seed of the fleet sampling (``fleet.seed`` or the scenario seed)."""
    fc = sc.fleet
    return int(sc.seed if fc is None or fc.seed is None else fc.seed)


def build_kickback_fleet(sc: Scenario) -> dict[str, Any]:
    """The cores of one variant: fleet parameters, building, heat pump, tank, controller, DHW
    demand and base load (fresh objects; a second call gives a bit-identical twin)."""
    from simulators import building as building_mod
    from simulators import heatpump as heatpump_mod
    from simulators import tank as tank_mod
    from simulators.controllers.loops import RoomPI
    from simulators.controllers.thermostat import Thermostat
    from simulators.fleet import FleetSpec, sample_fleet

    fc = sc.fleet
    n = 150 if fc is None else fc.n_houses
    year = 2020 if fc is None else fc.year
    fleet = sample_fleet(n, fleet_seed(sc), FleetSpec(year=year))
    site = sc.site
    bparams = fleet.building_params()
    # comfort set points: the fleet's sampled ones (one per house, iPower 21.5 °C mean) or the
    # controller's single T_set_C for every house
    sampled = fc is None or fc.setpoints == "sampled"
    T_set = fleet.T_set_C if sampled else float(sc.controller.T_set_C)
    building = building_mod.Building(bparams, T_room0_C=T_set)
    h = site.heatpump
    hparams = fleet.heatpump_params(
        compressor_share=h.compressor_share, backup_efficiency=h.backup_efficiency,
        modulation_min_frac=h.modulation_min_frac, min_on_s=h.min_on, min_off_s=h.min_off,
        cop_correction=h.cop_correction, T_dhw_supply_C=h.T_dhw_supply_C,
        ramp_frac_per_s=(heatpump_mod.RAMP_FRAC_PER_S_DEFAULT if h.ramp_frac_per_s is None
                         else h.ramp_frac_per_s))
    heatpump = heatpump_mod.HeatPump(hparams, n=n)
    t = site.tank
    tkw: dict[str, Any] = {"n_layers": t.n_layers, "heater_kW": t.heater_kW}
    if t.U_W_per_m2K is not None:
        tkw["U_W_per_m2K"] = t.U_W_per_m2K
    tank = tank_mod.Tank(fleet.tank_params(**tkw), n=n, T0_C=t.T0_C)
    c = sc.controller
    if c.type != "thermostat":
        raise ValueError(f"{sc.name}: controller.type = {c.type!r} — allowed in kickback runs: "
                         "'thermostat'")
    H_kW = np.asarray(building.H_W_per_K, dtype=float).ravel() / 1000.0
    gains_kW = np.asarray(bparams.Q_gains_W, dtype=float).ravel() / 1000.0
    q_rated = fleet.Q_rated_kW
    room = RoomPI(n, H_kW, gains_kW, q_rated, c.Kp_kW_per_K, c.Ti)
    L = t.n_layers
    controller = Thermostat(
        n, room, T_set_C=T_set, Q_dhw_kW=q_rated * h.compressor_share,
        upper_layer=L // 4, lower_layer=(3 * L) // 4 if L > 1 else 0,
        dhw_T_on_C=c.dhw_T_on_C, dhw_T_off_C=c.dhw_T_off_C, dhw_T_min_C=c.dhw_T_min_C,
        T_low_C=site.comfort.T_low_C)
    return {
        "fleet": fleet, "bparams": bparams, "building": building, "heatpump": heatpump,
        "tank": tank, "controller": controller,
        "demand": fleet.dhw_demand(sc.start, sc.duration_s + sc.step),
        "base": fleet.base_load(sc.start),
    }


def event_schedule(sc: Scenario, n: int, P_weight_kW: Any,
                   mitigation: dict[str, Any] | None = None) -> Any:
    """The scenario's ``[[events]]`` as an ``EventSchedule`` over the fleet (seeded by the
    fleet seed, so target selection and release offsets are stable per house).
    ``mitigation``: field values replacing every event's mitigation fields (the ``alt``
    variant of a mitigation comparison)."""
    from simulators.events import Event, EventSchedule, Mitigation

    events = []
    for e in sc.events:
        if mitigation is not None:
            e = e.model_copy(update=mitigation)
        mit = Mitigation(
            restart_window_s=e.restart_window, stagger_groups=e.stagger_groups,
            stagger_interval_s=e.stagger_interval,
            ramp_frac_per_s=math.inf if e.ramp_frac_per_s is None else e.ramp_frac_per_s,
            ramp_window_s=e.ramp_window, recovery_factor=e.recovery_factor,
            guaranteed_min_kW=e.guaranteed_min_kW)
        events.append(Event(e.kind, (e.start - sc.start).total_seconds(), e.duration,
                            share=e.share, P_limit_kW=e.P_limit_kW, mitigation=mit,
                            price_adder_DKK_per_MWh=e.price_adder, name=e.name or e.kind))
    return EventSchedule(n, events, fleet_seed(sc), P_weight_kW=P_weight_kW, start=sc.start)


def build_feeder(sc: Scenario, n: int) -> Any:
    """The scenario's grid stage: a power-flow feeder (bundled Danish net, JSON file or
    pandapower network name) or, with ``network = "aggregate"``, transformer sums."""
    from simulators.feeder import DanishFeederConfig, Feeder

    fd = sc.feeder
    assert fd is not None
    if fd.network == "aggregate":
        from simulators.feeder_aggregate import TransformerAggregate

        return TransformerAggregate(n, fd.houses_per_transformer, power_factor=fd.power_factor)
    kw: dict[str, Any] = {"power_factor": fd.power_factor, "numba": fd.numba}
    if fd.network == "danish":
        return Feeder.danish(n, DanishFeederConfig(
            max_houses_per_transformer=fd.houses_per_transformer), **kw)
    hb = None if fd.house_bus is None else np.asarray(fd.house_bus, dtype=np.int64)
    if hb is not None and hb.size != n:
        raise ValueError(f"{sc.name}: feeder.house_bus has {hb.size} entries — allowed: one bus "
                         f"per house ({n})")
    if fd.network.lower().endswith((".json", ".xlsx", ".xls")):
        return Feeder.from_file(fd.network, hb, n, **kw)
    return Feeder.from_name(fd.network, hb, n, **kw)


def _n_trafo(grid: Any) -> int:
    """MV/LV transformers of a grid stage (power-flow feeder or aggregate)."""
    n = getattr(grid, "n_trafo", None)
    return int(n) if n is not None else int(len(grid.net.trafo))


def price_controller(sc: Scenario, thermostat: Any, schedule: Any) -> Any:
    """The fleet controller of a variant with price events: the thermostat wrapped by
    :class:`~simulators.controllers.price_event.PriceEventResponse` (per-unit windows from the
    schedule, response parameters from each event); the thermostat itself without any."""
    from simulators.controllers.price_event import PriceEventResponse, PriceResponse
    from simulators.events import EventSchedule

    if not isinstance(schedule, EventSchedule):
        return thermostat
    cfg = sorted(sc.events, key=lambda e: e.start)  # the schedule's order (stable sort)
    responses = []
    for k, (e, c) in enumerate(zip(schedule.events, cfg, strict=True)):
        if e.kind in PRICE_EVENT_KINDS:
            start, end = schedule.windows(k)
            responses.append(PriceResponse(start, end, c.setback_K, c.preheat, c.preheat_K))
    if not responses:
        return thermostat
    comfort = sc.site.comfort
    return PriceEventResponse(thermostat, responses, T_low_C=comfort.T_low_C,
                              T_high_C=comfort.T_high_C)


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------


def assemble_kickback(sc: Scenario, out_dir: Path, run_id: str, until_s: float | None = None,
                      seed: int | None = None) -> Assembled:
    """The kickback world (see the module docstring); nothing runs yet."""
    if seed is not None and seed != sc.seed:
        sc = sc.model_copy(update={"seed": seed})
    fd = sc.feeder
    assert fd is not None
    shared: Site = build_site(sc.model_copy(update={"site": sc.site}), sc.seed)  # weather/prices
    res = sc.time_resolution
    step = int(round(sc.step / res))
    f_step = int(round(fd.interval / res))
    w_step = max(1, int(round(sc.weather.step / res)))
    until = int(round((sc.duration_s if until_s is None else until_s) / res))
    world, sim = new_world(sc)

    weather = sim("Weather", [], WEATHER_OUT, w_step).create(
        1, core=_Source(lambda t, dt: _floats(shared.weather.at(t))), eid="weather")[0]
    m_src = sim("Source", [], ["Q_dhw_demand_kW", "P_base_kW"], step)
    m_building = sim("Building", ["Q_heat_kW", "T_out_C"], BUILDING_OUT, step)
    m_tank = sim("Tank", ["Q_charge_kW", "T_charge_C", "Q_draw_kW"], TANK_OUT, step)
    m_ctrl = sim("Controller", ["T_room_C", "T_out_C", "T_layers_C"],
                 [*CONTROLLER_IN, "T_set_C"], step)
    m_hp = sim("HeatPump", [*CONTROLLER_IN, *WEATHER_OUT],
               ["P_el_kW", "Q_sh_kW", "Q_dhw_kW", "T_supply_C", "hp_state", "sg_applied",
                "in_event", "on"], step)
    m_load = sim("HouseLoad", ["P_el_kW", "P_base_kW", "Q_sh_kW", "Q_dhw_kW", "hp_state",
                               "in_event"], [*FLEET_OUT, "P_window_kW"], step)
    m_feeder = sim("Feeder", ["P_window_kW"], [*FEEDER_OUT, "v_house_pu"], f_step)
    per_bus = fd.network != "aggregate"  # aggregate mode computes no voltages
    m_probe = sim("FeederHouse", ["v_house_pu"], ["v_house_pu"], f_step) if per_bus else None
    per_house = sc.fleet is None or sc.fleet.record_houses

    sources: dict[str, SourceInfo] = {weather.full_id: SourceInfo("weather", "weather")}
    links: list[tuple[Any, list[str]]] = [(weather, WEATHER_OUT)]
    tags = variant_tags(sc)
    info: dict[str, Any] = dict(shared.info)
    for tag in tags:
        c = build_kickback_fleet(sc)
        n = c["fleet"].n
        _lo, p_hi = c["heatpump"].compressor_power_range_kW(0.0, 0.0, 0.0, False)
        alt = fd.alternative.model_dump() if tag == VARIANT_ALT and fd.alternative else None
        schedule = event_schedule(sc, n, np.asarray(p_hi, dtype=float), alt) \
            if tag != VARIANT_CF and sc.events else None
        c["controller"] = price_controller(sc, c["controller"], schedule)
        src = m_src.create(1, core=_Source(
            lambda t, dt, d=c["demand"], b=c["base"]: {
                "Q_dhw_demand_kW": d.mean_kW(t, t + dt), "P_base_kW": b.step(dt, t)}),
            eid=f"source_{tag}")[0]
        ctrl = m_ctrl.create(1, core=c["controller"], eid=f"controller_{tag}")[0]
        hp = m_hp.create(1, core=EventHeatPump(c["heatpump"], schedule, n),
                         eid=f"heatpump_{tag}")[0]
        load = m_load.create(1, core=HouseLoad(f_step // step, n), eid=f"load_{tag}")[0]
        grid = build_feeder(sc, n)
        feeder = m_feeder.create(1, core=FeederCore(grid), eid=f"feeder_{tag}")[0]
        building, tank, T0 = house_loop(
            world, m_building, m_tank, c["building"], c["tank"], tag, weather=weather,
            controller=ctrl, heatpump=hp, demand=src, controller_to_hp=CONTROLLER_IN)
        world.connect(hp, load, "P_el_kW", "Q_sh_kW", "Q_dhw_kW", "hp_state", "in_event")
        world.connect(src, load, "P_base_kW")
        world.connect(load, feeder, "P_window_kW")
        recorded: list[tuple[Any, str, list[str]]] = [(load, "fleet", FLEET_OUT),
                                                      (feeder, "feeder", FEEDER_OUT)]
        if m_probe is not None:
            probe = m_probe.create(1, core=_Pass(), eid=f"feederhouse_{tag}")[0]
            world.connect(feeder, probe, "v_house_pu")
            recorded.append((probe, "feeder_house", ["v_house_pu"]))
        if per_house:
            recorded += [(hp, "heatpump", HP_REC), (building, "building", BUILDING_REC)]
        for ent, meas, attrs in recorded:
            sources[ent.full_id] = SourceInfo(meas, tag)
            links.append((ent, attrs))
        if tag == VARIANT_EVENT:
            info.update({"n_houses": n, "fleet": c["fleet"].summary(),
                         "events": [list(w) for w in (schedule.nominal_windows_s()
                                                      if schedule is not None else [])],
                         "last_release_s": [schedule.last_release_s(k) for k in
                                            range(len(sc.events))] if schedule else [],
                         "grid_solver": grid.solver, "n_transformers": _n_trafo(grid),
                         "H_kW_per_K": (np.asarray(c["building"].H_W_per_K, float).ravel()
                                        / 1000.0).tolist()})
        elif tag == VARIANT_ALT and schedule is not None:
            info["alt_last_release_s"] = [schedule.last_release_s(k)
                                          for k in range(len(sc.events))]
            info["alt_mitigation"] = alt
    site = Site(shared.weather, shared.prices, None, None, None, None, None, info)
    ts_dir = out_dir / "timeseries"
    for rec in start_recorders(world, sc, out_dir, ts_dir, run_id, sources, step):
        for ent, attrs in links:
            world.connect(ent, rec, *attrs)
    # sources may run ahead: same results, −15 % wall time (bench/feeder_fleet.py)
    return Assembled(world, until, site, ts_dir, lazy_stepping=False)


# ---------------------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------------------


def _series(frames: dict[str, pd.DataFrame], meas: str, tag: str, attr: str,
            start: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(t_s (T,), values (T,) or (T, N)) of a variant's attribute; None if absent."""
    df = frames.get(meas)
    if df is None or attr not in df.columns:
        return None
    ent = df["entity"].astype(str)
    rows = df[(ent == tag) | ent.str.startswith(f"{tag}-")]
    if rows.empty:
        return None
    t = (pd.to_datetime(rows["time"], utc=True) - pd.Timestamp(start)).dt.total_seconds()
    if (rows["entity"].astype(str) == tag).all():
        order = np.argsort(t.to_numpy(), kind="stable")
        return t.to_numpy()[order], rows[attr].to_numpy(dtype=float)[order]
    wide = pd.DataFrame({"t": t.to_numpy(), "e": rows["entity"].astype(str).to_numpy(),
                         "v": rows[attr].to_numpy(dtype=float)})
    wide["i"] = wide["e"].str.rsplit("-", n=1).str[-1].astype(int)
    piv = wide.pivot_table(index="t", columns="i", values="v", aggfunc="first",
                         dropna=False).sort_index()
    return piv.index.to_numpy(dtype=float), piv.to_numpy(dtype=float)


def kickback_kpis(frames: dict[str, pd.DataFrame], sc: Scenario, info: dict[str, Any],
                  step_s: float) -> dict[str, Any]:
    """Per event: ``scenarios.rebound.rebound_kpis`` (against the counterfactual when it ran)
    and the heat bookkeeping; flat keys ``event<k>_<kpi>`` plus a nested ``events`` list. With a
    mitigation comparison (``feeder.alternative``) the ``alt`` variant's figures follow as
    ``alt_event<k>_<kpi>`` / ``alt_events`` and ``event<k>_rebound_peak_vs_alt`` (mitigation A's
    rebound peak ÷ B's, < 1: A is the better mitigation)."""
    out = _variant_kpis(frames, sc, info, step_s, VARIANT_EVENT)
    if not out:
        return {}
    alt = _variant_kpis(frames, sc, info, step_s, VARIANT_ALT)
    if alt:
        out["alt_events"] = alt.pop("events")
        out.update({f"alt_{k}": v for k, v in alt.items() if k != "counterfactual"})
        for k, (a, b) in enumerate(zip(out["events"], out["alt_events"], strict=True)):
            for key in ("rebound_peak_kW", "trafo_loading_max_pct"):
                if key in a and key in b:
                    r = a[key] / b[key] if b[key] else math.nan
                    out[f"event{k}_{key.removesuffix('_kW')}_vs_alt"] = r
    return out


def _variant_kpis(frames: dict[str, pd.DataFrame], sc: Scenario, info: dict[str, Any],
                  step_s: float, tag: str) -> dict[str, Any]:
    """The KPIs of one event variant (``ev`` or ``alt``) against the counterfactual."""
    start = sc.start
    ev = _series(frames, "fleet", tag, "P_total_kW", start)
    if ev is None:
        return {}
    t, p_ev = ev
    cf = _series(frames, "fleet", VARIANT_CF, "P_total_kW", start)
    has_cf = cf is not None and cf[0].shape == t.shape
    p_cf = cf[1] if has_cf else p_ev
    out: dict[str, Any] = {"counterfactual": bool(has_cf),
                           "P_total_max_kW": float(np.max(p_ev))}

    def grid(tag: str, meas: str, attr: str) -> np.ndarray | None:
        s = _series(frames, meas, tag, attr, start)
        return None if s is None or s[0].shape != t.shape else s[1]

    extra: dict[str, Any] = {
        "trafo_loading_pct": grid(tag, "feeder", "trafo_loading_max_pct"),
        "v_pu": grid(tag, "feeder_house", "v_house_pu"),
    }
    if has_cf:
        extra.update(trafo_loading_cf_pct=grid(VARIANT_CF, "feeder", "trafo_loading_max_pct"),
                     v_cf_pu=grid(VARIANT_CF, "feeder_house", "v_house_pu"),
                     T_room_event_C=grid(tag, "building", "T_room_C"),
                     T_room_cf_C=grid(VARIANT_CF, "building", "T_room_C"))
    extra = {k: v for k, v in extra.items() if v is not None}
    events = []
    for k, e in enumerate(sc.events):
        a = (e.start - start).total_seconds()
        b = a + e.duration
        kp = rebound_kpis(t, p_ev, p_cf, a, b, step_s=step_s, **extra)
        if not has_cf:  # without a counterfactual only the event run's own figures mean much
            kp = {key: v for key, v in kp.items() if not any(
                s in key for s in ("curtailed", "payback", "_cf", "vs_cf", "coincident_peak_r",
                                   "rebound_duration", "comfort"))}
        else:
            kp.update(heat_bookkeeping(frames, sc, info, t, step_s, tag))
        kp.update(name=e.name or e.kind, start_s=a, end_s=b)
        events.append(kp)
        for key, v in kp.items():
            if isinstance(v, int | float):
                out[f"event{k}_{key}"] = v
    out["events"] = events
    return out


def heat_bookkeeping(frames: dict[str, pd.DataFrame], sc: Scenario, info: dict[str, Any],
                     t: np.ndarray, step_s: float, tag: str = VARIANT_EVENT) -> dict[str, float]:
    """Space-heat bookkeeping of the whole run (event vs counterfactual), kWh:
    heat not delivered Σ∫(Q_cf − Q_ev) = losses avoided Σ∫(Q_loss,cf − Q_loss,ev) + heat still
    owed Σ C·ΔT at the end (air, structure, floor nodes); also the lumped-H form of
    ``rebound.energy_bookkeeping`` (H·∫ΔT_room) for comparison."""
    from simulators.fleet import FleetSpec, sample_fleet

    def g(tag: str, attr: str) -> np.ndarray | None:
        s = _series(frames, "building", tag, attr, sc.start)
        return None if s is None else s[1]

    q_ev, q_cf = g(tag, "Q_heat_kW"), g(VARIANT_CF, "Q_heat_kW")
    l_ev, l_cf = g(tag, "Q_loss_kW"), g(VARIANT_CF, "Q_loss_kW")
    if any(x is None or x.shape[0] != t.size for x in (q_ev, q_cf, l_ev, l_cf)):
        return {}
    dt = interval_lengths_s(t, step_s)
    heat_kWh = float(np.sum((q_cf - q_ev) * dt[:, None])) / 3600.0
    loss_kWh = float(np.sum((l_cf - l_ev) * dt[:, None])) / 3600.0
    fc = sc.fleet
    fleet = sample_fleet(fc.n_houses if fc else 150, fleet_seed(sc),
                         FleetSpec(year=fc.year if fc else 2020))
    bp = fleet.building_params()
    owed = 0.0
    for attr, cap in (("T_room_C", bp.C_air_Wh_per_K), ("T_structure_C", bp.C_structure_Wh_per_K),
                      ("T_floor_C", bp.C_floor_Wh_per_K)):
        ev_T, cf_T = g(tag, attr), g(VARIANT_CF, attr)
        if ev_T is not None and cf_T is not None:
            d = np.nan_to_num(cf_T[-1] - ev_T[-1])
            owed += float(np.sum(np.asarray(cap, float) * d)) / 1000.0
    tr_ev, tr_cf = g(tag, "T_room_C"), g(VARIANT_CF, "T_room_C")
    lumped = energy_bookkeeping(heat_kWh, 0.0, np.asarray(info.get("H_kW_per_K", 0.0)),
                                np.sum((tr_cf - tr_ev) * dt[:, None], axis=0) / 3600.0)
    return {"heat_not_delivered_kWh": heat_kWh, "heat_losses_avoided_kWh": loss_kWh,
            "heat_owed_end_kWh": owed, "heat_residual_kWh": heat_kWh - loss_kWh - owed,
            "heat_lumped_H_kWh": float(lumped["losses_avoided_plus_owed_kWh"])}

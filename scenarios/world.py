"""Validated scenario -> mosaik World: build the model cores, start the simulators, connect them.

Topology of the residential scenario (all simulators in-process)::

    weather (hourly) ─┬─> building <── heatpump <── controller <─┐
                      ├─> heatpump ──> tank <── demand           │
                      └─> controller                             │
    prices (hourly) ──> controller                               │
    building.T_room_C, tank.T_layers_C ── (time-shifted) ────────┘
    every entity ──> recorder

The controller reads the building and the tank one step late (a time-shifted connection, i.e.
it samples its sensors at the start of the step), which breaks the feedback cycle for mosaik.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import mosaik
import numpy as np

from adapters.records import SourceInfo
from scenarios import hil_world
from scenarios.schema import Scenario
from simulators import building as building_mod
from simulators import demand as demand_mod
from simulators import heatpump as heatpump_mod
from simulators import prices as prices_mod
from simulators import tank as tank_mod
from simulators import weather as weather_mod
from simulators.controllers.loops import RoomPI
from simulators.controllers.price_rule import PriceRule
from simulators.controllers.thermostat import Thermostat
from simulators.cosim.base import StartOfStep

SIM_CONFIG: dict[str, dict[str, str]] = {
    "Core": {"python": "simulators.cosim.base:CoreSim"},
    "Recorder": {"python": "adapters.parquet:ParquetRecorder"},
    "InfluxRecorder": {"python": "adapters.influx:InfluxRecorder"},
}

WEATHER_OUT = ["T_out_C", "T_out_24h_C", "T_out_168h_C"]
MARKET_OUT = ["price_spot_DKK_per_MWh", "tariff_DKK_per_MWh", "tax_DKK_per_MWh",
              "price_total_DKK_per_MWh"]  # fmt: skip
BUILDING_OUT = ["T_room_C", "T_structure_C", "T_floor_C", "Q_heat_kW", "Q_loss_kW", "Q_gains_kW"]
HEATPUMP_OUT = ["P_el_kW", "P_el_compressor_kW", "P_backup_kW", "Q_th_kW", "Q_sh_kW", "Q_dhw_kW",
                "Q_backup_kW", "COP", "T_supply_C", "on", "starts", "modulation_frac"]  # fmt: skip
TANK_OUT = ["T_layers_C", "T_top_C", "T_bottom_C", "E_stored_kWh", "soc_frac", "Q_charge_kW",
            "Q_draw_kW", "Q_loss_kW", "Q_unmet_kW", "T_draw_C"]  # fmt: skip
CONTROLLER_OUT = ["Q_req_kW", "dhw_mode", "sg_ready_state", "T_set_C"]
HEATPUMP_IN = ["Q_req_kW", "dhw_mode", "sg_ready_state", *WEATHER_OUT]


@dataclass
class Site:
    """The cores of one site, built from the scenario (no mosaik here)."""

    weather: Any
    prices: Any
    demand: Any
    building: Any
    heatpump: Any
    tank: Any
    controller: Any
    info: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release what the cores hold (FMU instances)."""
        for core in (self.weather, self.prices, self.demand, self.building, self.heatpump,
                     self.tank, self.controller):
            terminate = getattr(core, "terminate", None)
            if callable(terminate):
                terminate()


class _Source:
    """Adapter-side wrapper turning a time-indexed boundary core into a steppable core."""

    needs_time = True

    def __init__(self, fn):
        self.fn = fn

    def step(self, dt_s: float, t_s: float) -> dict[str, Any]:
        return self.fn(t_s, dt_s)


class _HeatPumpInputs:
    """Casts the controller's float commands to what the heat-pump core expects."""

    def __init__(self, core: Any):
        self.core = core

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        if "dhw_mode" in inputs:
            inputs["dhw_mode"] = np.asarray(inputs["dhw_mode"]) > 0.5
        if "sg_ready_state" in inputs:
            inputs["sg_ready_state"] = np.asarray(inputs["sg_ready_state"]).astype(int)
        return self.core.step(dt_s, **inputs)


def house_diversity(sc: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-house factors of a fleet: floor-area scale (1 ± ``size_spread_frac``, uniform)
    and initial room temperature offset (± ``T_room0_spread_K``, uniform), each (N,).

    A single house (``n_houses = 1``) gets exactly the configured house (scale 1, offset 0)."""
    n = sc.site.n_houses
    if n == 1:
        return np.ones(1), np.zeros(1)
    rng = np.random.default_rng([int(seed), 0x5EED])
    s, dT = sc.site.size_spread_frac, sc.site.T_room0_spread_K
    return rng.uniform(1.0 - s, 1.0 + s, n), rng.uniform(-dT, dT, n)


def build_site(sc: Scenario, seed: int | None = None) -> Site:
    """Build every model core of the scenario's site, vectorised over ``site.n_houses`` houses
    (one house: exactly the configured one; a fleet: seeded diversity of size and initial room
    temperature, see :func:`house_diversity`)."""
    seed = sc.seed if seed is None else seed
    dur = sc.duration_s
    site = sc.site
    n = site.n_houses
    scale, dT0 = house_diversity(sc, seed)

    # Boundary conditions
    if sc.weather.source == "reference":
        series = weather_mod.reference_weather(sc.start, dur + sc.weather.step, seed=seed)
    else:
        series = weather_mod.load_weather_csv(
            sc.weather.path, sc.weather.time_column, sc.weather.temperature_column
        )
    weather = weather_mod.Weather(series, sc.start)

    end = sc.start + timedelta(seconds=dur)
    if sc.prices.source == "synthetic":
        spot = prices_mod.synthetic_dk_day_ahead(
            sc.start - timedelta(days=1), end + timedelta(days=2), seed=seed,
            mean_DKK_per_MWh=sc.prices.mean_DKK_per_MWh,
        )
    else:
        spot = prices_mod.load_energidataservice_csv(sc.prices.path, sc.prices.price_area)
    tariff = _tariff(sc)
    prices = prices_mod.PriceSignal(spot, sc.start, tariff, sc.prices.tax_DKK_per_MWh)

    demand = demand_mod.DhwDemand(n, sc.start, dur + sc.step, seed=seed,
                                  kwh_per_day=site.dhw.kwh_per_day)

    # Building
    b = site.building
    overrides: dict[str, Any] = {"q_gains_W_per_m2": b.internal_gains_W_per_m2}
    if b.area_m2 is not None:
        overrides["area_m2"] = b.area_m2
    if b.H_air_structure_W_per_m2K is not None:
        overrides["H_air_structure_W_per_m2K"] = b.H_air_structure_W_per_m2K
    if n > 1:
        area = b.area_m2 if b.area_m2 is not None else float(np.asarray(
            building_mod.building_params(b.category, year=b.year).area_m2).ravel()[0])
        overrides["area_m2"] = area * scale
        bparams = building_mod.building_params([b.category] * n, year=b.year, **overrides)
        building = building_mod.Building(bparams, T_room0_C=b.T_room0_C + dT0)
    else:
        bparams = building_mod.building_params(b.category, year=b.year, **overrides)
        building = building_mod.Building(bparams, T_room0_C=b.T_room0_C)

    # Heat pump, sized at −12 °C for space heating + mean DHW (iPower §3)
    hp = site.heatpump
    emitter = hp.emitter if hp.emitter != "auto" else (
        "floor" if b.category.startswith("FLO") else "radiator")
    if n > 1:
        H_W_per_K: Any = np.asarray(building.H_W_per_K, dtype=float).ravel()
        gains_W: Any = np.asarray(bparams.Q_gains_W, dtype=float).ravel()
    else:
        H_W_per_K = float(np.asarray(building.H_W_per_K).ravel()[0])
        gains_W = float(np.asarray(bparams.Q_gains_W).ravel()[0])
    if hp.Q_rated_kW == "auto":
        q_rated: Any = heatpump_mod.design_heat_load_kW(
            H_W_per_K, Q_gains_W=0.0, Q_dhw_mean_kW=site.dhw.kwh_per_day / 24.0)
        q_rated = float(q_rated) if n == 1 else np.asarray(q_rated, dtype=float)
    else:
        q_rated = float(hp.Q_rated_kW)
    hparams = heatpump_mod.HeatPumpParams(
        source=hp.source, emitter=emitter, Q_rated_kW=q_rated,
        compressor_share=hp.compressor_share, backup_efficiency=hp.backup_efficiency,
        modulation_min_frac=hp.modulation_min_frac, min_on_s=hp.min_on, min_off_s=hp.min_off,
        cop_correction=hp.cop_correction, year=b.year, T_dhw_supply_C=hp.T_dhw_supply_C,
        ramp_frac_per_s=(heatpump_mod.RAMP_FRAC_PER_S_DEFAULT if hp.ramp_frac_per_s is None
                         else hp.ramp_frac_per_s),
    )
    if hp.model == "native":
        heatpump: Any = heatpump_mod.HeatPump(hparams, n=n)
    else:
        heatpump = _heatpump_fmu(sc, hparams, n)

    # Tank
    t = site.tank
    tkw: dict[str, Any] = {"volume_l": t.volume_l, "n_layers": t.n_layers,
                           "heater_kW": t.heater_kW}
    if t.U_W_per_m2K is not None:
        tkw["U_W_per_m2K"] = t.U_W_per_m2K
    tank = tank_mod.Tank(tank_mod.TankParams(**tkw), n=n, T0_C=t.T0_C)

    # Controller
    c = sc.controller
    q_comp = q_rated * hp.compressor_share
    room = RoomPI(n, H_W_per_K / 1000.0, gains_W / 1000.0, q_rated, c.Kp_kW_per_K, c.Ti)
    L = t.n_layers
    common = dict(T_set_C=c.T_set_C, Q_dhw_kW=q_comp, upper_layer=L // 4,
                  lower_layer=(3 * L) // 4 if L > 1 else 0,
                  dhw_T_on_C=c.dhw_T_on_C, dhw_T_off_C=c.dhw_T_off_C,
                  dhw_T_min_C=c.dhw_T_min_C)
    if c.type == "thermostat":
        controller: Any = Thermostat(n, room, **common, T_low_C=site.comfort.T_low_C)
    else:
        controller = PriceRule(
            n, room, **common, offset_K=c.offset_K, T_low_C=site.comfort.T_low_C,
            T_high_C=site.comfort.T_high_C, cheap_quantile=c.cheap_quantile,
            expensive_quantile=c.expensive_quantile, horizon_h=int(round(c.horizon / 3600)),
            dhw_T_boost_C=c.dhw_T_boost_C,
        )
    def _info(x: Any) -> float:  # one house: its value; a fleet: the mean
        return float(np.mean(np.asarray(x, dtype=float)))

    info: dict[str, Any] = {
        "Q_rated_kW": _info(q_rated), "Q_compressor_kW": _info(q_comp),
        "H_W_per_K": _info(H_W_per_K), "area_m2": _info(bparams.area_m2),
        "heatpump_model": hp.model}
    if n > 1:
        info["n_houses"] = n
    if hp.model == "fmu":
        info["heatpump_fmu"] = str(getattr(heatpump, "path", hp.fmu))
    return Site(weather, prices, demand, building, heatpump, tank, controller, info)


def _heatpump_fmu(sc: Scenario, hparams: Any, n: int) -> Any:
    """The heat pump as an FMU: the bundled one (built on first use) or a vendor's, mapped by the
    scenario (see docs/fmu.md)."""
    from simulators.fmu import FmuMapping, FmuUnits

    hp = sc.site.heatpump
    if hp.fmu == "bundled":
        from simulators.heatpump_fmu import (
            NATIVE_TO_FMU,
            heatpump_fmu_parameters,
            heatpump_fmu_path,
        )

        path = heatpump_fmu_path()
        mapping = FmuMapping(
            inputs={a: NATIVE_TO_FMU[a][0] for a in HEATPUMP_IN},
            outputs={a: NATIVE_TO_FMU[a][0] for a in HEATPUMP_OUT},
            parameters=heatpump_fmu_parameters(hparams, dynamics=hp.fmu_dynamics),
        )
    else:
        path = hp.fmu
        mapping = FmuMapping(inputs=dict(hp.fmu_inputs or {}), outputs=dict(hp.fmu_outputs or {}),
                             parameters=dict(hp.fmu_parameters or {}),
                             scale=dict(hp.fmu_scale or {}), offset=dict(hp.fmu_offset or {}))
    return FmuUnits(path, n=n, mapping=mapping, step_s=hp.fmu_step or sc.step,
                    instance_name="heatpump")


def heatpump_attrs(core: Any) -> tuple[list[str], list[str]]:
    """(inputs, outputs) a heat-pump core offers: all of them for the native model, the mapped
    ones for an FMU."""
    mapping = getattr(core, "mapping", None)
    if mapping is None:
        return list(HEATPUMP_IN), list(HEATPUMP_OUT)
    return list(mapping.inputs), list(mapping.outputs)


def _tariff(sc: Scenario) -> Any:
    tc = sc.prices.tariff
    if tc.kind == "flat":
        return prices_mod.Tariff(kind="flat", flat_DKK_per_MWh=tc.flat_DKK_per_MWh)
    if tc.kind == "csv":
        return prices_mod.Tariff.from_csv(tc.path)
    return prices_mod.Tariff(kind="tou", tou_DKK_per_MWh=tc.tou_DKK_per_MWh)


def new_world(sc: Scenario) -> tuple[mosaik.World, Any]:
    """A mosaik World at the scenario's time resolution and ``sim(model, inputs, outputs,
    step_size)``, which starts one generic core simulator per model and returns its factory."""
    world = mosaik.World(SIM_CONFIG, time_resolution=sc.time_resolution, debug=False,
                         cache=False, skip_greetings=True)

    def sim(model: str, inputs: list[str], outputs: list[str], step_size: int) -> Any:
        return getattr(world.start("Core", sim_id=model, model=model, inputs=inputs,
                                   outputs=outputs, step_size=step_size), model)

    return world, sim


def house_loop(
    world: mosaik.World, m_building: Any, m_tank: Any, building_core: Any, tank_core: Any,
    tag: str, *, weather: Any, controller: Any, heatpump: Any, demand: Any,
    controller_to_hp: list[str],
) -> tuple[Any, Any, np.ndarray]:
    """Create the building and tank entities of one (fleet) house variant ``tag`` and wire the
    house loop every fleet world shares: weather → building/heat pump/controller, controller →
    heat pump (``controller_to_hp``), heat pump → building (space heat) and tank (DHW), demand →
    tank, and the controller reading room and tank layers at the start of each step
    (time-shifted). Returns (building, tank, start room temperatures °C (N,))."""
    T0 = np.asarray(building_core.state[:, 0], dtype=float)
    n = T0.size
    b_init = {"T_room_C": T0, "T_structure_C": T0.copy(), "T_floor_C": np.full(n, np.nan)}
    layers0 = np.asarray(tank_core.T_layers_C, dtype=float).reshape(n, -1).copy()
    t_init = {"T_layers_C": layers0, "T_top_C": layers0[:, 0], "T_bottom_C": layers0[:, -1],
              "E_stored_kWh": np.asarray(tank_core.energy_kWh()), "soc_frac": np.full(n, np.nan)}
    building = m_building.create(1, core=StartOfStep(building_core, tuple(b_init), b_init),
                                 eid=f"building_{tag}")[0]
    tank = m_tank.create(1, core=StartOfStep(tank_core, tuple(t_init), t_init),
                         eid=f"tank_{tag}")[0]
    world.connect(weather, building, "T_out_C")
    world.connect(weather, heatpump, *WEATHER_OUT)
    world.connect(weather, controller, "T_out_C")
    world.connect(controller, heatpump, *controller_to_hp)
    world.connect(heatpump, building, ("Q_sh_kW", "Q_heat_kW"))
    world.connect(heatpump, tank, ("Q_dhw_kW", "Q_charge_kW"), ("T_supply_C", "T_charge_C"))
    world.connect(demand, tank, ("Q_dhw_demand_kW", "Q_draw_kW"))
    world.connect(building, controller, "T_room_C", time_shifted=True,
                  initial_data={"T_room_C": T0})
    world.connect(tank, controller, "T_layers_C", time_shifted=True,
                  initial_data={"T_layers_C": layers0})
    return building, tank, T0

@dataclass
class Assembled:
    """A World ready to run, with what the runner needs to know about it."""

    world: mosaik.World
    until: int
    site: Site
    recorder_dir: Path
    hil: Any = None  # scenarios.hil_world.HilParts when the scenario has [hil]
    lazy_stepping: bool = True
    """mosaik's ``lazy_stepping``: True keeps every simulator at most one step ahead of its
    successors. False lets sources run ahead (results are the same; mosaik buffers their
    outputs): −15 % wall time on the 11-simulator kickback world, +180 MB for 1000 houses × a
    week. Never False with real-time pacing."""


def start_recorders(world: mosaik.World, sc: Scenario, out_dir: Path, ts_dir: Path, run_id: str,
                    sources: dict[str, SourceInfo], step: int, paced: bool = False) -> list[Any]:
    """The scenario's recorder entities: the Parquet recorder (always, into ``ts_dir``) and one
    InfluxDB recorder per ``[[recorders]] type = "influx"``; ``paced`` stamps the wall clock."""
    parquet = next((r for r in sc.recorders if r.type == "parquet"), None)
    recorders = [world.start("Recorder", sim_id="Recorder", step_size=step,
                             wall_clock=paced).Recorder.create(
        1, out_dir=str(ts_dir), run_id=run_id, scenario=sc.name, start=sc.start,
        sources=sources, flush_interval_s=parquet.flush_interval if parquet else 86400.0,
    )[0]]
    for i, rec in enumerate(r for r in sc.recorders if r.type == "influx"):
        recorders.append(world.start("InfluxRecorder", sim_id=f"Influx{i}", step_size=step,
                                     wall_clock=paced)
                         .Recorder.create(
            1, out_dir=str(out_dir), run_id=run_id, scenario=sc.name, start=sc.start,
            sources=sources, url=rec.url, api=rec.api, org=rec.org, bucket=rec.bucket,
            token_env=rec.token_env, flush_interval_s=rec.flush_interval,
            batch_size=rec.batch_size, gzip=rec.gzip, timeout_s=rec.timeout)[0])
    return recorders


def _floats(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in d.items()}


def assemble(
    sc: Scenario, out_dir: Path, run_id: str, until_s: float | None = None,
    seed: int | None = None, sim_config: dict | None = None, site: Site | None = None,
) -> Assembled:
    """Create the mosaik World for a validated scenario; nothing runs yet.

    ``site`` replaces the cores built from the scenario and ``sim_config`` the simulator
    classes (the benchmark uses both to time the same topology with no-op simulators).
    A scenario with ``[frequency]`` is an FCR fleet run (:func:`assemble_fcr_fleet`)."""
    if getattr(sc, "plant", None) is not None and site is None and sim_config is None:
        from scenarios.flexheat_world import assemble_flexheat  # imports this module

        return assemble_flexheat(sc, out_dir, run_id, until_s, seed)
    if sc.frequency is not None and site is None and sim_config is None:
        from scenarios.fcr_world import assemble_fcr_fleet  # fcr_world imports this module

        return assemble_fcr_fleet(sc, out_dir, run_id, until_s, seed)
    if getattr(sc, "market", None) is not None and site is None and sim_config is None:
        from scenarios.market_world import assemble_market_fleet  # imports this module

        return assemble_market_fleet(sc, out_dir, run_id, until_s, seed)
    if getattr(sc, "feeder", None) is not None and site is None and sim_config is None:
        from scenarios.kickback_world import assemble_kickback  # imports this module

        return assemble_kickback(sc, out_dir, run_id, until_s, seed)
    site = build_site(sc, seed) if site is None else site
    res = sc.time_resolution
    step = int(round(sc.step / res))
    w_step = max(1, int(round(sc.weather.step / res)))
    p_step = max(1, int(round(sc.prices.step / res)))
    until = int(round((sc.duration_s if until_s is None else until_s) / res))
    world = mosaik.World(sim_config or SIM_CONFIG, time_resolution=res, debug=False,
                         cache=False, skip_greetings=True)

    def start(model: str, name: str, core: Any, inputs: list[str], outputs: list[str],
              step_size: int, initial: dict | None = None):
        sim = world.start("Core", sim_id=name, model=model, inputs=inputs, outputs=outputs,
                          step_size=step_size)
        return getattr(sim, model).create(1, core=core, eid=name.lower(), initial=initial)[0]

    weather = start("Weather", "Weather", _Source(lambda t, dt: _floats(site.weather.at(t))),
                    [], WEATHER_OUT, w_step)
    market = start("Market", "Market", _Source(
        lambda t, dt: {**_floats(site.prices.at(t)), "price_forecast": site.prices.forecast(t)}),
        [], [*MARKET_OUT, "price_forecast"], p_step)
    demand = start("Demand", "Demand", _Source(
        lambda t, dt: {"Q_dhw_demand_kW": site.demand.mean_kW(t, t + dt)}),
        [], ["Q_dhw_demand_kW"], step)

    T0 = np.full(1, sc.site.building.T_room0_C)
    b_init = {"T_room_C": T0, "T_structure_C": T0.copy(), "T_floor_C": np.full(1, np.nan)}
    building = start("Building", "Building", StartOfStep(site.building, tuple(b_init), b_init),
                     ["Q_heat_kW", "T_out_C"], BUILDING_OUT, step)
    layers0 = np.full((1, sc.site.tank.n_layers), sc.site.tank.T0_C)
    t_init = {"T_layers_C": layers0, "T_top_C": layers0[:, 0], "T_bottom_C": layers0[:, -1],
              "E_stored_kWh": np.asarray(site.tank.energy_kWh()),
              "soc_frac": np.full(1, np.nan)}
    tank = start("Tank", "Tank", StartOfStep(site.tank, tuple(t_init), t_init),
                 ["Q_charge_kW", "T_charge_C", "Q_draw_kW"], TANK_OUT, step)
    # ``starts`` is a counter state: report the count at the start of the step (0 at t = 0)
    hp_in, hp_out = heatpump_attrs(site.heatpump)
    hp_core: Any = _HeatPumpInputs(site.heatpump)
    if "starts" in hp_out:
        hp_core = StartOfStep(hp_core, ("starts",), {"starts": np.zeros(1)})
    heatpump = start("HeatPump", "HeatPump", hp_core, hp_in, hp_out, step)
    controller = start("Controller", "Controller", site.controller,
                       ["T_room_C", "T_out_C", "T_layers_C", "price_forecast"], CONTROLLER_OUT,
                       step)

    world.connect(weather, building, "T_out_C")
    world.connect(weather, heatpump, *[a for a in WEATHER_OUT if a in hp_in])
    world.connect(weather, controller, "T_out_C")
    world.connect(market, controller, "price_forecast")
    # an external controller served over Modbus ([hil.serve]) commands these instead
    served = hil_world.commanded_attrs(sc.hil, hp_in) if sc.hil is not None else set()
    world.connect(controller, heatpump,
                  *[a for a in CONTROLLER_OUT if a in hp_in and a not in served])
    world.connect(heatpump, building, ("Q_sh_kW", "Q_heat_kW"))
    world.connect(heatpump, tank, ("Q_dhw_kW", "Q_charge_kW"), ("T_supply_C", "T_charge_C"))
    world.connect(demand, tank, ("Q_dhw_demand_kW", "Q_draw_kW"))
    world.connect(building, controller, "T_room_C", time_shifted=True,
                  initial_data={"T_room_C": T0})
    world.connect(tank, controller, "T_layers_C", time_shifted=True,
                  initial_data={"T_layers_C": layers0})

    ts_dir = out_dir / "timeseries"
    sources = {
        weather.full_id: SourceInfo("weather", "weather"),
        market.full_id: SourceInfo("market", "market"),
        demand.full_id: SourceInfo("demand", "house"),
        building.full_id: SourceInfo("building", "house"),
        heatpump.full_id: SourceInfo("heatpump", "house"),
        tank.full_id: SourceInfo("tank", "house"),
        controller.full_id: SourceInfo("controller", "house"),
    }
    hil_parts, hil_ents, hil_attrs = None, {}, {}
    if sc.hil is not None:
        hil_parts, hil_ents = hil_world.add_hil(
            world, sc.hil, step, start,
            {"weather": weather, "building": building, "heatpump": heatpump, "tank": tank,
             "controller": controller}, hp_in,
            {"weather": WEATHER_OUT, "building": BUILDING_OUT, "heatpump": hp_out,
             "tank": TANK_OUT, "controller": CONTROLLER_OUT}, sources)
        hil_attrs = hil_world.recorder_attrs(hil_parts, hil_ents, world)
    paced = sc.hil is not None  # HIL runs stamp every recorded step with the wall clock
    recorders = start_recorders(world, sc, out_dir, ts_dir, run_id, sources, step, paced)
    for recorder in recorders:
        world.connect(weather, recorder, *WEATHER_OUT)
        world.connect(market, recorder, *MARKET_OUT)
        world.connect(demand, recorder, "Q_dhw_demand_kW")
        world.connect(building, recorder, *BUILDING_OUT)
        world.connect(heatpump, recorder, *hp_out)
        world.connect(tank, recorder, *TANK_OUT)
        world.connect(controller, recorder, *CONTROLLER_OUT)
        for ent in hil_ents.values():
            world.connect(ent, recorder, *hil_attrs[ent.full_id])
    return Assembled(world, until, site, ts_dir, hil_parts)

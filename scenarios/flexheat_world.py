"""The FlexHeat Nordhavn world: a district-heating plant (heat pump + stratified tank + boilers)
run by one of the report's three strategies, with prices, an FCR-N auction and the grid frequency.

Topology (all in-process, one entity each; the scenario's step, 60 s by default)::

    weather ──> plant <── demand (hourly)
    prices (hourly) ──────────────────────────┐
    frequency ──> controller ──> plant        │ (costs are computed from the records)
    plant.level/sensors/on ─(time-shifted)─> controller
    controller.fcr_bid ──> fcr_auction ─(time-shifted)─> controller.fcr_awards
    every entity ──> recorder

The controller samples the plant at the start of each step (time-shifted connection). Costs are
not computed by a simulator: :func:`flexheat_kpis` multiplies the recorded electric powers by the
recorded price components, so the cost table can be split by component and re-checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import mosaik
import numpy as np
import pandas as pd

from adapters.records import SourceInfo
from scenarios.flexheat_auction import FcrNAuction
from scenarios.schema import Scenario
from scenarios.world import SIM_CONFIG, Assembled, Site, _Source, start_recorders
from simulators import flexheat_data as data_mod
from simulators import weather as weather_mod
from simulators.controllers import flexheat as ctl_mod
from simulators.controllers.fcr import fcrn_activation
from simulators.frequency import NordicFrequency
from simulators.plant import Plant, PlantParams
from simulators.plant_energy import REPORT_S_MAX_KWH, EnergyBalancePlant
from simulators.plant_heatpump import cop as hp_cop
from simulators.prices import LOCAL_TZ, load_energidataservice_csv

REPORT_TABLE: dict[str, dict[str, float]] = {
    "control_loop": {"heat_MWh": 1925.0, "total_cost_DKK": 542_163.0,
                     "heat_price_DKK_per_MWh": 282.0, "savings_pct": 0.0},
    "optimised": {"heat_MWh": 1925.0, "total_cost_DKK": 509_507.0,
                  "heat_price_DKK_per_MWh": 265.0, "savings_pct": 6.03},
    "optimised_fcr_n": {"heat_MWh": 1925.0, "total_cost_DKK": 473_294.0,
                        "heat_price_DKK_per_MWh": 246.0, "savings_pct": 12.77},
}
"""EnergyLab Nordhavn WP5.3, Table 2 (2018 prices and demand, model a)."""

PRICE_OUT = ["price_spot_DKK_per_MWh", "price_total_DKK_per_MWh"]
DEMAND_OUT = ["Q_demand_kW"]
CONTROL_OUT = ["hp_load_set_frac", "fcr_band_kW", "dP_el_fcr_req_kW", "plan_Q_hp_kW",
               "solve_time_s"]


class _Hourly:
    """Hourly table lookup (UTC index) as a steppable source: the row of the hour holding t."""

    needs_time = True

    def __init__(self, frame: pd.DataFrame, start: Any) -> None:
        idx = frame.index
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        self.t = (idx - pd.Timestamp(start).tz_convert("UTC")).total_seconds().to_numpy()
        self.cols = list(frame.columns)
        self.v = frame.to_numpy(dtype=float)

    def step(self, dt_s: float, t_s: float) -> dict[str, float]:
        i = int(np.searchsorted(self.t, t_s, side="right")) - 1
        if i < 0:
            raise ValueError(f"hourly table starts after t = {t_s} s")
        row = self.v[i]
        return {c: float(row[k]) for k, c in enumerate(self.cols)}


class _Frequency:
    """The Nordic swing model as a steppable core (``f_Hz`` at the END of the step)."""

    def __init__(self, model: NordicFrequency) -> None:
        self.model = model

    def step(self, dt_s: float) -> dict[str, float]:
        return {"f_Hz": float(np.asarray(self.model.step(dt_s)["f_Hz"]))}


class PlantController:
    """One of the report's strategies as a steppable core (``needs_time``).

    Inputs (sampled at the start of the step): the plant's level and limit-sensor temperatures
    and on-state, the grid frequency, the FCR-N awards of the coming hours. Outputs the heat
    pump's load set point, the FCR-N band in force and the required power deviation, and — at
    the FCR gate (12:00 local on D-1) — the day's FCR-N bid.
    """

    needs_time = True

    def __init__(self, kind: str, start: Any, strategy: Any, fcr: bool,
                 bid_price_DKK_per_MW_h: float = 0.0) -> None:
        self.kind = kind
        self.t0 = pd.Timestamp(start).tz_convert("UTC").timestamp()
        self.strategy = strategy
        self.fcr = fcr
        self.bid_price = float(bid_price_DKK_per_MW_h)
        self.tz = ZoneInfo(LOCAL_TZ)
        self._bid_days: set[str] = set()

    def step(self, dt_s: float, t_s: float, level_kWh: float = 0.0, T_upper_C: float = 0.0,
             T_lower_C: float = 0.0, hp_on: float = 0.0, f_Hz: float = 50.0,
             fcr_awards: Any = None) -> dict[str, Any]:
        t_utc = self.t0 + t_s
        out: dict[str, Any] = {"fcr_band_kW": 0.0, "dP_el_fcr_req_kW": 0.0,
                               "plan_Q_hp_kW": float("nan"), "solve_time_s": float("nan"),
                               "fcr_bid": None}
        if self.kind == "control_loop":
            out["hp_load_set_frac"] = float(self.strategy.step(
                level_kWh=float(level_kWh), T_upper_C=float(T_upper_C),
                T_lower_C=float(T_lower_C)))
            return out
        hour = int(t_utc // 3600) * 3600
        if isinstance(fcr_awards, dict) and self.fcr:
            award = float(fcr_awards.get(str(hour), 0.0))
            self.strategy.set_fcr_award(hour, award)
        res = self.strategy.step(t_utc, float(level_kWh), bool(hp_on > 0.5))
        out["hp_load_set_frac"] = float(res["load_set_frac"])
        out["plan_Q_hp_kW"] = float(res.get("Q_hp_plan_kW", float("nan")))
        out["solve_time_s"] = float(res.get("solve_time_s", float("nan")))
        if self.fcr:
            # the committed (awarded) band: owed whether or not the plant can deliver it — a
            # plant that is off delivers nothing and the delivery KPIs show it
            band = float(res.get("fcr_band_kW", 0.0))
            out["fcr_band_kW"] = band
            # + activation = up-regulation = the plant consumes less
            out["dP_el_fcr_req_kW"] = -band * float(fcrn_activation(f_Hz))
            bid = res.get("fcr_bid")
            if bid is not None and bid["day"] not in self._bid_days:
                self._bid_days.add(bid["day"])
                out["fcr_bid"] = {**bid, "price_DKK_per_MW_h": self.bid_price}
        return out


def _extend(series: pd.Series, hours: pd.DatetimeIndex) -> pd.Series:
    """``series`` on ``hours``; hours past its end repeat the last full days (a planner looking
    48 h past the end of the bundled year sees the last days again)."""
    out = series.reindex(hours)
    gap = out.isna() & (hours > series.index[-1])
    if gap.any():
        src = hours[gap] - pd.Timedelta(days=2)
        while (src > series.index[-1]).any():
            src = src.where(src <= series.index[-1], src - pd.Timedelta(days=2))
        out[gap] = series.reindex(src).to_numpy()
    return out


def flexheat_inputs(sc: Scenario, seed: int, until_s: float) -> dict[str, Any]:
    """Hourly demand, spot + price components + FCR-N price and the outdoor temperature for the
    run (bundled 2018-like data unless the scenario names files). The price frame's columns are
    ``<component>_DKK_per_MWh`` plus ``price_total_DKK_per_MWh``."""
    pl = sc.plant
    assert pl is not None
    start = pd.Timestamp(sc.start).tz_convert("UTC")
    end = start + pd.Timedelta(seconds=until_s)
    bundled = data_mod.BUNDLED_DIR
    demand = data_mod.load_demand_csv(pl.demand_path or bundled / data_mod.BUNDLED_DEMAND_FILE)
    table = data_mod.load_prices_csv(bundled / data_mod.BUNDLED_PRICES_FILE)
    if pl.prices_path:
        spot = load_energidataservice_csv(pl.prices_path, area=pl.price_area)
        spot = spot.resample("1h").mean() if len(spot) > 1 else spot
    else:
        spot = table["price_spot_DKK_per_MWh"]
    fcr_price = (data_mod.load_energidataservice_fcr_csv(pl.fcr_prices_path)
                 if pl.fcr_prices_path else table["price_fcr_n_DKK_per_MW_h"])
    # a 48-h MPC looks past the end of the run: two extra days (repeated where data ends)
    hours = pd.date_range(start.floor("1h"), end + pd.Timedelta(days=2), freq="1h",
                          inclusive="left")
    for name, series in (("demand", demand), ("spot price", spot)):
        missing = series.reindex(hours[hours < end]).isna()
        if missing.any():
            raise ValueError(f"[plant] {name}: no value for {missing.index[missing][0]} (the "
                             f"series covers {series.index[0]} … {series.index[-1]})")
    comp = getattr(data_mod.PriceComposition, pl.composition)()
    parts = comp.components_at(hours, _extend(spot, hours))
    prices = parts.drop(columns=["total"]).add_suffix("_DKK_per_MWh")
    prices = prices.rename(columns={"spot_DKK_per_MWh": "price_spot_DKK_per_MWh"})
    prices["price_total_DKK_per_MWh"] = parts["total"]
    weather = weather_mod.Weather(
        weather_mod.reference_weather(sc.start, until_s + 7200, seed=seed), sc.start)
    # day-ahead persistence forecast: each hour's demand as it was 24 h before (the naive
    # forecast a plant operator without a weather model has; the first day of the data: itself)
    prev = demand.reindex(hours - pd.Timedelta(hours=24))
    prev.index = hours
    persistence = prev.fillna(_extend(demand, hours)).rename("Q_demand_forecast_kW")
    return {"demand": _extend(demand, hours).rename("Q_demand_kW"),
            "demand_persistence": persistence, "prices": prices,
            "fcr_price": _extend(fcr_price, hours).ffill().bfill(), "weather": weather,
            "composition": comp}


def build_strategy(sc: Scenario, inp: dict[str, Any], plant: Plant | EnergyBalancePlant
                   ) -> tuple[Any, bool]:
    """The controller object of ``sc.controller`` and whether it trades FCR-N."""
    ctl = sc.controller
    if ctl.type == "control_loop":
        mode = ctl.mode
        if mode == "auto":
            mode = "level" if isinstance(plant, EnergyBalancePlant) else "sensors"
        if mode == "sensors" and isinstance(plant, EnergyBalancePlant):
            raise ValueError("controller.mode = 'sensors' needs plant.tank_model = 'stratified' "
                             "(the energy-balance tank has no sensors); use 'level' or 'auto'")
        loop = ctl_mod.ControlLoop(load_frac=ctl.load_frac, mode=mode,
                                   level_on_kWh=ctl.level_on_kWh, level_off_kWh=ctl.level_off_kWh,
                                   on0=bool(plant.initial_outputs()["hp_on"][0] > 0.5),
                                   **plant.control_loop_thresholds())
        return loop, False
    fcr = ctl.type == "optimised_fcr_n"
    model = plan_model(plant, fcr_max_kW=ctl.fcr_max_kW if fcr else 0.0)
    mpc = ctl_mod.RollingHorizonMpc(
        model=model,
        price_el=inp["prices"]["price_total_DKK_per_MWh"],
        demand_kW=inp["demand"],
        demand_forecast_kW=(inp["demand_persistence"] if ctl.demand_forecast == "persistence"
                            else None),
        fcr_price=inp["fcr_price"] if fcr else None,
        start=sc.start, horizon_h=int(ctl.horizon // 3600), replan=ctl.replan,
        mip_rel_gap=ctl.mip_rel_gap, time_limit_s=ctl.time_limit_s,
        replan_deviation_kWh=ctl.replan_deviation_kWh)
    return mpc, fcr


USABLE_LEVEL_KWH: tuple[float, float] = (1580.0, 3840.0)
"""Tank level bounds (kWh above 34.48 °C) the MILP plans within in the co-simulation: the range
the report observed in operation (36–89 % of 4.34 MWh, "actually used storage capacity 2.26
MWh"). Below it the stratified tank's top falls under the 60 °C supply limit; above it the
thermocline reaches the heat pump's inlet. The report's annual model a used 0–4.5 MWh — the
energy-balance floor in bench/flexheat_year.py keeps that."""


def plan_model(plant: Plant | EnergyBalancePlant, fcr_max_kW: float | None
               ) -> ctl_mod.PlanModel:
    """The MILP's plant model: the two-segment convex P_el(Q) (exact at minimum load, at the
    best-COP load and at full load) of the plant heat pump's own COP curve at its supply set
    point, the network return and the source temperature; the heat pump's
    load range; the usable level range of the stratified tank (:data:`USABLE_LEVEL_KWH`) or the
    energy account's 0–4.5 MWh."""
    p = plant.params
    lo, hi = ((0.0, REPORT_S_MAX_KWH) if isinstance(plant, EnergyBalancePlant)
              else USABLE_LEVEL_KWH)
    hp = p.hp
    loads = np.linspace(float(hp.load_min_frac), 1.0, 67)
    cops = hp_cop(loads, p.T_hp_supply_C, p.T_dh_return_C, hp.T_source_C, hp)
    return ctl_mod.PlanModel.from_cop_curve(
        loads, cops, Q_nom_kW=float(hp.Q_nom_kW), load_min_frac=float(hp.load_min_frac),
        knee=True,
        S_min_kWh=lo, S_max_kWh=hi,
        eboiler_kW=float(p.eboiler_kW), fcr_max_kW=fcr_max_kW,
        min_up_h=max(1, int(np.ceil(float(hp.min_on_s) / 3600.0))),
        min_down_h=max(1, int(np.ceil(float(hp.min_off_s) / 3600.0))))


class _ScalarPlant:
    """The single plant's (1,) arrays as floats for mosaik (what the controller and recorder
    take), with the plant's inputs under the world's attribute names."""

    def __init__(self, plant: Plant | EnergyBalancePlant) -> None:
        self.plant = plant

    def step(self, dt_s: float, hp_load_set_frac: float = 0.0, Q_demand_kW: float = 0.0,
             T_outdoor_C: float = 5.0, dP_el_fcr_kW: float = 0.0) -> dict[str, float]:
        out = self.plant.step(dt_s, hp_load_set_frac, Q_demand_kW, T_outdoor_C,
                              dP_el_fcr_kW=dP_el_fcr_kW)
        return {k: float(v[0]) for k, v in out.items()}

    def terminate(self) -> None:
        stop = getattr(self.plant.hp, "terminate", None)
        if callable(stop):
            stop()


def assemble_flexheat(sc: Scenario, out_dir: Path, run_id: str, until_s: float | None = None,
                      seed: int | None = None) -> Assembled:
    """Create the FlexHeat World for a validated scenario with a ``[plant]`` section."""
    seed = sc.seed if seed is None else seed
    dur = sc.duration_s if until_s is None else until_s
    res = sc.time_resolution
    step = int(round(sc.step / res))
    until = int(round(dur / res))
    pl = sc.plant
    assert pl is not None
    inp = flexheat_inputs(sc, seed, dur)
    params = PlantParams(T_hp_supply_C=pl.T_hp_supply_C)
    plant: Plant | EnergyBalancePlant = (
        EnergyBalancePlant(params, level0_frac=pl.level0_frac)
        if pl.tank_model == "energy_balance" else Plant(params, level0_frac=pl.level0_frac))
    if pl.heatpump_model == "fmu":  # the plant's own FMU (fmpy) instead of the native core
        from simulators.plant_heatpump_fmu import FmuPlantHeatPump

        plant.hp = FmuPlantHeatPump(plant.params.hp, n=1, step_s=sc.step)
    strategy, fcr = build_strategy(sc, inp, plant)
    ctl = sc.controller
    controller_core = PlantController(ctl.type, sc.start, strategy, fcr,
                                      getattr(ctl, "fcr_bid_price_DKK_per_MW_h", 0.0))
    world = mosaik.World(SIM_CONFIG, time_resolution=res, debug=False, cache=False,
                         skip_greetings=True)

    def start(model: str, core: Any, inputs: list[str], outputs: list[str],
              step_size: int = step, initial: dict | None = None) -> Any:
        sim = world.start("Core", sim_id=model, model=model, inputs=inputs, outputs=outputs,
                          step_size=step_size)
        return getattr(sim, model).create(1, core=core, eid=model.lower(), initial=initial)[0]

    price_cols = list(inp["prices"].columns)
    hourly = inp["prices"].assign(fcr_price_DKK_per_MW_h=inp["fcr_price"].to_numpy())
    weather = start("Weather", _Source(lambda t, dt: {"T_out_C": float(
        inp["weather"].at(t)["T_out_C"])}), [], ["T_out_C"])
    prices = start("Prices", _Hourly(hourly, sc.start), [],
                   [*price_cols, "fcr_price_DKK_per_MW_h"])
    demand = start("Demand", _Hourly(inp["demand"].to_frame("Q_demand_kW"), sc.start), [],
                   DEMAND_OUT)
    plant_out = list(plant.output_names)
    plant_core = _ScalarPlant(plant)
    plant_ent = start("Plant", plant_core, ["hp_load_set_frac", "Q_demand_kW", "T_outdoor_C",
                                            "dP_el_fcr_kW"], plant_out)
    ctl_in = ["level_kWh", "T_upper_C", "T_lower_C", "hp_on", "f_Hz", "fcr_awards"]
    controller = start("Controller", controller_core, ctl_in, [*CONTROL_OUT, "fcr_bid"])
    world.connect(weather, plant_ent, ("T_out_C", "T_outdoor_C"))
    world.connect(demand, plant_ent, "Q_demand_kW")
    world.connect(controller, plant_ent, "hp_load_set_frac", ("dP_el_fcr_req_kW", "dP_el_fcr_kW"))
    s0 = {k: float(v[0]) for k, v in plant.initial_outputs().items()}
    world.connect(plant_ent, controller, ("E_level_kWh", "level_kWh"), "T_upper_C", "T_lower_C",
                  "hp_on", time_shifted=True,
                  initial_data={k: s0[k] for k in ("E_level_kWh", "T_upper_C", "T_lower_C",
                                                   "hp_on")})
    sources = {
        weather.full_id: SourceInfo("weather", "weather"),
        prices.full_id: SourceInfo("prices", "market"),
        demand.full_id: SourceInfo("demand", "plant"),
        plant_ent.full_id: SourceInfo("plant", "plant"),
        controller.full_id: SourceInfo("controller", "plant"),
    }
    frequency = auction = None
    if fcr:
        fseed = seed if pl.frequency_seed is None else pl.frequency_seed
        frequency = start("Frequency", _Frequency(NordicFrequency(
            seed=fseed, max_substep_s=pl.frequency_substep_s)), [], ["f_Hz"])
        auction = start("FcrAuction", FcrNAuction(sc.start, inp["fcr_price"],
                                                  min_bid_kW=ctl.fcr_min_bid_kW), ["fcr_bid"],
                        ["fcr_award_kW", "fcr_price_DKK_per_MW_h", "fcr_revenue_DKK",
                         "fcr_awards"])
        world.connect(frequency, controller, "f_Hz")
        world.connect(controller, auction, "fcr_bid")
        world.connect(auction, controller, "fcr_awards", time_shifted=True,
                      initial_data={"fcr_awards": {}})
        sources[frequency.full_id] = SourceInfo("frequency", "grid")
        sources[auction.full_id] = SourceInfo("fcr_market", "market")

    ts_dir = out_dir / "timeseries"
    recorders = start_recorders(world, sc, out_dir, ts_dir, run_id, sources, step)
    for r in recorders:
        world.connect(weather, r, "T_out_C")
        world.connect(prices, r, *price_cols, "fcr_price_DKK_per_MW_h")
        world.connect(demand, r, *DEMAND_OUT)
        world.connect(plant_ent, r, *plant_out)
        world.connect(controller, r, *CONTROL_OUT)
        if frequency is not None and auction is not None:
            world.connect(frequency, r, "f_Hz")
            world.connect(auction, r, "fcr_award_kW", "fcr_price_DKK_per_MW_h",
                          "fcr_revenue_DKK")
    info = {"plant": "flexheat", "controller": ctl.type, "heatpump_model": pl.heatpump_model,
            "tank_model": pl.tank_model,
            "composition": pl.composition,
            "composition_DKK_per_MWh": {c: float(getattr(inp["composition"], c))
                                        for c in data_mod.COMPONENTS}}
    site = Site(weather=inp["weather"], prices=None, demand=None, building=None,
                heatpump=plant_core,
                tank=None, controller=strategy, info=info)
    return Assembled(world, until, site, ts_dir, None)


def indexed(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The recorded (long) frames of a single-entity run, indexed by UTC time and sorted."""
    out: dict[str, pd.DataFrame] = {}
    for k, df in frames.items():
        if "time" in df.columns and not isinstance(df.index, pd.DatetimeIndex):
            df = df.set_index(pd.to_datetime(df["time"], utc=True)).sort_index()
        out[k] = df
    return out


def _col(frames: dict[str, pd.DataFrame], meas: str, col: str) -> np.ndarray:
    df = frames.get(meas)
    if df is None or col not in df:
        return np.zeros(0)
    return df[col].to_numpy(dtype=float)


def flexheat_kpis(frames: dict[str, pd.DataFrame], sc: Scenario) -> dict[str, float]:
    """The cost table of one FlexHeat run from the records (DKK, MWh), split by component.

    Electricity cost = Σ (heat-pump + e-boiler power) × total price × dt, with each price
    component's share reported; start cost = starts × 30 DKK; oil = fuel × oil price; FCR-N
    revenue = Σ award × clearing price × dt; minus the value of the change in stored heat
    (``storage_value_DKK``, at the run's electricity cost per heat-pump heat). Heat price =
    total cost / heat delivered to the customers."""
    frames = indexed(frames)
    dt_h = sc.step / 3600.0
    plant = frames["plant"]
    pr = frames["prices"].reindex(plant.index).ffill()
    P_el = (plant["P_el_hp_kW"] + plant["P_el_eb_kW"]).to_numpy(dtype=float)
    k: dict[str, float] = {}
    E_el_MWh = float(P_el.sum() * dt_h / 1000.0)
    k["electricity_MWh"] = E_el_MWh
    k["electricity_hp_MWh"] = float(plant["P_el_hp_kW"].sum() * dt_h / 1000.0)
    k["electricity_eboiler_MWh"] = float(plant["P_el_eb_kW"].sum() * dt_h / 1000.0)
    comp_cols = [c for c in pr.columns if c.endswith("_DKK_per_MWh")
                 and c not in ("price_total_DKK_per_MWh",)]
    for c in comp_cols:
        k[f"cost_{c.removesuffix('_DKK_per_MWh')}_DKK"] = float(
            (P_el * pr[c].to_numpy(dtype=float)).sum() * dt_h / 1000.0)
    cost_el = float((P_el * pr["price_total_DKK_per_MWh"].to_numpy(dtype=float)).sum()
                    * dt_h / 1000.0)
    k["cost_electricity_DKK"] = cost_el
    starts = plant["hp_starts"].to_numpy(dtype=float)
    n_starts = float(starts[-1] - starts[0]) if starts.size else 0.0
    k["hp_starts"] = n_starts
    k["cost_starts_DKK"] = n_starts * 30.0
    Q_oil = plant["Q_oil_kW"].to_numpy(dtype=float) if "Q_oil_kW" in plant else np.zeros(1)
    k["heat_oil_MWh"] = float(Q_oil.sum() * dt_h / 1000.0)
    k["cost_oil_DKK"] = float(plant["oil_cost_DKK"].sum()) if "oil_cost_DKK" in plant else 0.0
    rev = _col(frames, "fcr_market", "fcr_revenue_DKK")
    k["fcr_revenue_DKK"] = float(rev.sum())
    heat = float(plant["Q_demand_served_kW"].sum() * dt_h / 1000.0)
    k["heat_MWh"] = heat
    k["heat_hp_MWh"] = float(plant["Q_hp_kW"].sum() * dt_h / 1000.0)
    # A run that ends with more heat in the tank than it started with has bought heat for after
    # the run (and vice versa): value the change at the run's own marginal heat cost (electricity
    # cost per heat-pump heat) so short runs of different strategies compare fairly. The
    # recorded E_stored is the END-of-step state; the state before the first step is the first
    # record minus that step's net flow.
    E = plant["E_stored_kWh"].to_numpy(dtype=float)
    net = (plant["Q_hp_kW"] + plant["Q_eb_kW"] + plant["Q_oil_kW"] - plant["Q_demand_served_kW"]
           - plant["Q_loss_kW"]).to_numpy(dtype=float)
    dE_kWh = float(E[-1] - E[0] + net[0] * dt_h) if E.size else 0.0
    k["heat_eboiler_MWh"] = float(plant["Q_eb_kW"].sum() * dt_h / 1000.0)
    k["tank_loss_MWh"] = float(plant["Q_loss_kW"].sum() * dt_h / 1000.0)
    c_heat = cost_el / (k["heat_hp_MWh"] * 1000.0) if k["heat_hp_MWh"] > 0 else 0.0
    k["storage_change_kWh"] = dE_kWh
    k["storage_value_DKK"] = dE_kWh * c_heat
    total = (cost_el + k["cost_starts_DKK"] + k["cost_oil_DKK"] - k["fcr_revenue_DKK"]
             - k["storage_value_DKK"])
    k["total_cost_DKK"] = total
    k["heat_price_DKK_per_MWh"] = total / heat if heat > 0 else float("nan")
    k["unserved_MWh"] = float(plant["Q_unserved_kW"].sum() * dt_h / 1000.0)
    lv = plant["level_frac"].to_numpy(dtype=float)
    k["level_min_pct"] = float(100 * lv.min())
    k["level_max_pct"] = float(100 * lv.max())
    k["cop_mean"] = k["heat_hp_MWh"] / k["electricity_hp_MWh"] if k["electricity_hp_MWh"] else 0.0
    fk = fcr_delivery_kpis(frames)
    k.update(fk)
    return k


def fcr_delivery_kpis(frames: dict[str, pd.DataFrame]) -> dict[str, float]:
    """FCR-N delivery in the co-simulation: the FCR-N steady-state requirement (Req. 1: the
    delivered response within −5 % … +20 % of the theoretical one) applied to every recorded
    step with a band in force, as the ratio Σ delivered·required / Σ required² (the least-squares
    gain of delivered on required) and the energy of the activation."""
    frames = indexed(frames)
    ctl = frames.get("controller")
    plant = frames.get("plant")
    if ctl is None or plant is None or "fcr_band_kW" not in ctl:
        return {}
    band = ctl["fcr_band_kW"].to_numpy(dtype=float)
    req = ctl["dP_el_fcr_req_kW"].to_numpy(dtype=float)
    got = plant["dP_el_fcr_kW"].to_numpy(dtype=float)
    on = band > 0
    if not on.any():
        return {"fcr_band_hours": 0.0}
    dt_h = float(np.median(np.diff(ctl.index.asi8))) / 3.6e12 if len(ctl) > 1 else 1.0 / 60
    den = float((req[on] ** 2).sum())
    gain = float((got[on] * req[on]).sum() / den) if den > 0 else float("nan")
    out = {"fcr_band_hours": float(on.sum() * dt_h),
           "fcr_band_MW_h": float(band[on].sum() * dt_h) / 1000.0,
           "fcr_delivery_gain": gain,
           "fcr_delivery_rmse_kW": float(np.sqrt(np.mean((got[on] - req[on]) ** 2))),
           "fcr_steady_state_pass": float(0.95 <= gain <= 1.20)}
    return out


__all__ = ["REPORT_TABLE", "assemble_flexheat", "fcr_delivery_kpis", "flexheat_kpis", "indexed"]

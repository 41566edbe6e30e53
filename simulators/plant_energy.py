"""The FlexHeat plant with the report's annual tank model ("model a"): an energy-balance store.

EnergyLab Nordhavn WP5.3 computed its cost table with this model: the tank is an energy
account ``S(t) = η·S(t−1) + Q_charge − Q_discharge`` per hour (η = 0.9978, S in 0…4500 kWh),
temperatures disregarded. :class:`EnergyBalancePlant` is that tank with the same heat pump
(:class:`simulators.plant_heatpump.PlantHeatPump`, its COP at the supply set point and the network
return), e-boiler and oil backup as :class:`simulators.plant.Plant`, and the same step signature
and output names (tank temperatures are NaN), so the world runs either. Per step of ``dt_s``::

    S' = S·η^(dt/1 h) + (Q_hp − Q_demand)·dt        (kWh; losses = S·(1 − η^(dt/1 h)))
    S' > S_max → the heat pump's surplus is refused (curtailed, its power scaled down)
    S' < 0     → the deficit is boosted by the e-boiler (≤ 200 kW), then the oil boiler

Use it to reproduce the report's table; use the stratified :class:`~simulators.plant.Plant` to
see what a real 16-layer tank allows (docs/scenarios/flexheat.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulators.boilers import ElectricBoiler, ElectricBoilerParams, OilBoiler, OilBoilerParams
from simulators.plant import Plant, PlantParams
from simulators.plant_heatpump import PlantHeatPump

REPORT_S_MAX_KWH: float = 4500.0
"""Report model a: 100 m³ between 75 and 35 °C."""
REPORT_ETA_PER_H: float = 0.9978
"""Report model a: storage efficiency per hour (0.22 %/h loss, 3-day standing test)."""


class EnergyBalancePlant:
    """One FlexHeat plant whose tank is the report's energy account (N = 1).

    Args:
        params: the plant (heat pump, e-boiler, oil boiler, supply set point, network return);
            the tank parameters are not used.
        level0_frac: initial level, fraction of ``S_max_kWh``.
        S_max_kWh: capacity, kWh (4500).
        eta_per_h: storage efficiency per hour (0.9978).
    """

    def __init__(self, params: PlantParams | None = None, level0_frac: float = 0.5,
                 S_max_kWh: float = REPORT_S_MAX_KWH,
                 eta_per_h: float = REPORT_ETA_PER_H) -> None:
        self.params = PlantParams() if params is None else params
        if not (isinstance(level0_frac, int | float) and 0.0 <= level0_frac <= 1.0):
            raise ValueError(f"level0_frac={level0_frac!r}; allowed: a fraction in [0, 1]")
        if not (S_max_kWh > 0 and math.isfinite(S_max_kWh)):
            raise ValueError(f"S_max_kWh={S_max_kWh!r}; allowed: a finite number > 0")
        if not (0.0 < eta_per_h <= 1.0):
            raise ValueError(f"eta_per_h={eta_per_h!r}; allowed: (0, 1]")
        self.n = 1
        self.S_max_kWh = float(S_max_kWh)
        self.eta_per_h = float(eta_per_h)
        self.S = float(level0_frac) * self.S_max_kWh
        p = self.params
        self.hp = PlantHeatPump(p.hp, n=1)
        self.eboiler = ElectricBoiler(
            ElectricBoilerParams(Q_max_kW=p.eboiler_kW, efficiency=p.eboiler_eff), n=1)
        self.oil = OilBoiler(OilBoilerParams(
            n_boilers=2, Q_unit_kW=p.oil_kW / 2.0, efficiency=p.oil_eff,
            fuel_price_DKK_per_MWh=p.oil_price_DKK_per_MWh_fuel), n=1)
        self._names = tuple(Plant(p).output_names)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Keys of the dict returned by :meth:`step` (those of the stratified plant)."""
        return self._names

    def control_loop_thresholds(self) -> dict[str, float | int]:
        """No sensors: the control loop runs on the level (report: 0.9 / 4.05 MWh)."""
        return {}

    def initial_outputs(self) -> dict[str, np.ndarray]:
        """The state before the first step (no flows)."""
        st = self.hp.state()
        return self._out(on=float(st["on"][0]), load=0.0, q_hp=0.0, p_hp=0.0, cop=0.0,
                         starts=float(st["starts"][0]), start_cost=float(st["start_cost_DKK"][0]),
                         dp=0.0, curtailed=0.0, q_eb=0.0, p_eb=0.0, q_oil=0.0, fuel=0.0,
                         oil_cost=0.0, q_dem=0.0, q_loss=0.0)

    def step(self, dt_s: float, hp_load_set_frac: Any, Q_demand_kW: Any, T_outdoor_C: Any,
             dP_el_fcr_kW: Any = 0.0, **_: Any) -> dict[str, np.ndarray]:
        """Advance by ``dt_s`` seconds (inputs as :meth:`simulators.plant.Plant.step`; the tank
        loss does not depend on the outdoor temperature in this model)."""
        dt = float(dt_s)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt_s={dt_s!r}; allowed: a finite number > 0")
        x = float(np.asarray(hp_load_set_frac, dtype=float).reshape(-1)[0])
        q_dem = float(np.asarray(Q_demand_kW, dtype=float).reshape(-1)[0])
        if not (math.isfinite(x) and x >= 0):
            raise ValueError(f"hp_load_set_frac={hp_load_set_frac!r}; allowed: >= 0")
        if not (math.isfinite(q_dem) and q_dem >= 0):
            raise ValueError(f"Q_demand_kW={Q_demand_kW!r}; allowed: >= 0")
        p = self.params
        dt_h = dt / 3600.0
        hp = self.hp.step(dt, x, T_supply_C=p.T_hp_supply_C, T_return_C=p.T_dh_return_C,
                          dP_el_set_kW=dP_el_fcr_kW)
        q_offer = float(hp["Q_th_kW"][0])
        keep = self.S * self.eta_per_h ** dt_h
        q_loss = (self.S - keep) / dt_h
        room = (self.S_max_kWh - keep) / dt_h + q_dem  # heat the tank + load can take, kW
        q_hp = min(q_offer, max(room, 0.0))
        scale = q_hp / q_offer if q_offer > 0 else 0.0
        S_new = keep + (q_hp - q_dem) * dt_h
        q_eb = p_eb = q_oil = fuel = oil_cost = 0.0
        if S_new < 0.0:
            deficit = -S_new / dt_h
            eb = self.eboiler.step(dt, m_flow_kg_per_s=1.0, T_in_C=0.0, T_target_C=1e6,
                                   Q_limit_kW=deficit)
            q_eb, p_eb = float(eb["Q_th_kW"][0]), float(eb["P_el_kW"][0])
            oil = self.oil.step(dt, Q_set_kW=max(deficit - q_eb, 0.0))
            q_oil, fuel = float(oil["Q_th_kW"][0]), float(oil["P_fuel_kW"][0])
            oil_cost = float(oil["cost_DKK"][0])
            S_new = max(S_new + (q_eb + q_oil) * dt_h, 0.0)
        self.S = S_new
        return self._out(on=float(hp["on"][0]), load=float(hp["load_frac"][0]), q_hp=q_hp,
                         p_hp=float(hp["P_el_kW"][0]) * scale, cop=float(hp["cop"][0]),
                         starts=float(hp["starts"][0]),
                         start_cost=float(hp["start_cost_DKK"][0]),
                         dp=float(hp["dP_el_kW"][0]) * scale, curtailed=q_offer - q_hp,
                         q_eb=q_eb, p_eb=p_eb, q_oil=q_oil, fuel=fuel, oil_cost=oil_cost,
                         q_dem=q_dem, q_loss=q_loss)

    def _out(self, *, on: float, load: float, q_hp: float, p_hp: float, cop: float,
             starts: float, start_cost: float, dp: float, curtailed: float, q_eb: float,
             p_eb: float, q_oil: float, fuel: float, oil_cost: float, q_dem: float,
             q_loss: float) -> dict[str, np.ndarray]:
        p = self.params
        served = q_dem  # the boilers make up any deficit (oil has the capacity)
        v: dict[str, float] = {
            "hp_on": on, "hp_load_frac": load, "Q_hp_kW": q_hp, "P_el_hp_kW": p_hp,
            "cop_hp": cop, "hp_starts": starts, "hp_start_cost_DKK": start_cost,
            "dP_el_fcr_kW": dp, "hp_trip": 0.0, "Q_hp_curtailed_kW": curtailed,
            "Q_charge_kW": q_hp, "Q_from_tank_kW": q_dem - q_eb - q_oil,
            "Q_net_charge_kW": q_hp - (q_dem - q_eb - q_oil), "Q_eb_kW": q_eb,
            "P_el_eb_kW": p_eb, "Q_oil_kW": q_oil, "fuel_oil_kW": fuel,
            "oil_cost_DKK": oil_cost, "P_el_kW": p_hp + p_eb, "Q_demand_kW": q_dem,
            "Q_demand_served_kW": served, "Q_unserved_kW": 0.0,
            "T_dh_supply_C": float(p.T_hp_supply_C), "T_dh_supply_min_C": float(
                p.T_dh_supply_min_C),
            "E_level_kWh": self.S, "level_frac": self.S / self.S_max_kWh,
            "E_stored_kWh": self.S, "Q_loss_kW": q_loss,
            "mode": (1.0 if on > 0.5 else 3.0) + (1.0 if q_eb + q_oil > 0 else 0.0),
        }
        return {k: np.array([v.get(k, math.nan)]) for k in self._names}

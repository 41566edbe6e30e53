"""FlexHeat Nordhavn plant: heat pump + 100 m³ stratified tank + e-boiler + oil backup (issue #8).

A pure numpy model core composing three existing cores — :class:`~simulators.plant_heatpump.
PlantHeatPump`, :class:`~simulators.tank.Tank` and the boilers of :mod:`simulators.boilers` — into
the plant of the EnergyLab Nordhavn WP5.3 report (/work/shared/seeds/003_3ca17098330bce20.txt).
Vectorised over N identical plants (N = 1 is the FlexHeat case).

Hydraulics (docs/models/plant.md):

* charge loop: the heat pump takes water from the tank BOTTOM, heats it to ``T_hp_supply_C`` and
  returns it at the TOP (``Tank.step`` Q_charge_kW / T_charge_C);
* draw loop: the customers take supply water from the tank TOP and return it at
  ``T_dh_return_C`` into the BOTTOM (``Tank.step`` Q_draw_kW / T_cold_C). While the heat pump runs,
  both loops flow at once, so the customers are in effect served by the heat pump directly and
  only the surplus (or deficit) passes through the tank;
* boost: downstream of the tank, the e-boiler (then the oil boiler) lifts the network supply to
  ``T_dh_supply_min_C`` when the tank top is colder (report modes 2 and 4); heat nobody can supply
  is ``Q_unserved_kW``.

Energy bookkeeping per step (exact up to round-off, checked by the tests):
``Q_hp + Q_eb + Q_oil = Q_demand_served + Q_loss + ΔE_stored/Δt`` and
``Q_demand = Q_demand_served + Q_unserved``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simulators.boilers import ElectricBoiler, ElectricBoilerParams, OilBoiler, OilBoilerParams
from simulators.constants import CP_WATER_J_PER_KGK, RHO_WATER_KG_PER_M3, WH_PER_J
from simulators.plant_heatpump import PlantHeatPump, PlantHeatPumpParams
from simulators.tank import Tank, TankParams, flexheat_params

ArrayLike = float | int | bool | np.ndarray | list[float] | tuple[float, ...]

_J_PER_KWH: float = 1000.0 / WH_PER_J
"""Joules per kilowatt-hour."""

_ROUND_OFF_REL: float = 1e-9
"""Shortfalls of the tank's delivery below this fraction of the demand are round-off (the tank
delivers a request exactly only up to ~1e-15 relative): not boosted, not reported unserved."""

TANK_DIAMETER_M: float = 3.0
"""Inner diameter of the plant's 100 m³ tank, m. The report gives no geometry. Shop-built steel
tanks of this size are transported by road, which bounds the diameter to ≈ 3–4 m; D = 3.0 m gives
H = 14.1 m (H/D = 4.7) and a loss area of 147.5 m². The report's two measured figures, U = 1.50
W/(m²K) and a standing loss of 0.22 %/h, are consistent with each other only on a content counted
above the ambient air and a loss area of ≈ 170 m² (see docs/models/plant.md); the slender tank is
the closest plausible cylinder (``flexheat_params``' H/D = 2.5, 129.5 m², gives 0.17 %/h)."""


def flexheat_plant_tank_params(**overrides: Any) -> TankParams:
    """The FlexHeat tank as the plant uses it: :func:`~simulators.tank.flexheat_params` (100 m³,
    U = 1.50 W/(m²K), κ = 93.5 W/(mK), 16 layers, 16 evenly spaced sensors, 13 kg/s charge loop)
    with the slender geometry of :data:`TANK_DIAMETER_M` (height 14.1 m). Overrides go to
    ``flexheat_params``."""
    volume_l = float(overrides.get("volume_l", 100_000.0))
    if "height_m" not in overrides and "aspect_ratio" not in overrides:
        overrides["height_m"] = volume_l / 1000.0 / (math.pi * TANK_DIAMETER_M**2 / 4.0)
    return flexheat_params(**overrides)


@dataclass(frozen=True)
class PlantParams:
    """Parameters of the FlexHeat plant (scalars: every plant of the fleet is the same).

    Sources: EnergyLab Nordhavn WP5.3 report (the "report") unless stated otherwise.
    """

    hp: PlantHeatPumpParams = field(default_factory=PlantHeatPumpParams)
    """Heat pump: 800 kW, 34–100 % load, COP model of simulators/plant_heatpump.py."""
    tank: TankParams = field(default_factory=flexheat_plant_tank_params)
    """Tank: :func:`flexheat_plant_tank_params` (100 m³). Its ``T_tap_min_C`` is replaced by
    ``T_dh_supply_min_C`` (the draw loop's supply limit)."""
    eboiler_kW: float = 200.0
    """Electric boiler heat capacity, kW (report: "200 kJ/s")."""
    eboiler_eff: float = float(ElectricBoilerParams.efficiency)  # type: ignore[arg-type]
    """Electric boiler efficiency, heat/electricity (0.99; simulators/boilers.py)."""
    oil_kW: float = 1000.0
    """Oil backup heat capacity (both boilers), kW. Report: "two oil boilers", no size;
    2 × 500 kW ≥ the 0.71 MW demand peak (simulators/boilers.py)."""
    oil_eff: float = float(OilBoilerParams.efficiency)  # type: ignore[arg-type]
    """Oil boiler efficiency, heat/fuel LHV (0.90; simulators/boilers.py)."""
    oil_price_DKK_per_MWh_fuel: float = float(
        OilBoilerParams.fuel_price_DKK_per_MWh)  # type: ignore[arg-type]
    """Fuel price, DKK per MWh of fuel (700; simulators/boilers.py)."""
    T_hp_supply_C: float = 75.0
    """Heat-pump supply set point, °C (report range 60–84; 75 = the 4.5 MWh design point)."""
    T_dh_supply_min_C: float = 60.0
    """Minimum supply temperature to the customers, °C. Report: "useful heat above 60–80 °C
    depending on season"; 60 °C is the report's discharge stop limit (the upper-limit sensor
    at 60 °C). A step input may override it (e.g. 65 °C in winter)."""
    T_dh_return_C: float = 35.0
    """Network return temperature into the tank bottom, °C (observed bottom mean 34.48)."""
    E_capacity_kWh: float = 4340.0
    """Reference capacity for ``level_frac``, kWh (report: 72.77 °C top / 34.48 °C bottom means
    → 4.34 MWh)."""
    T_level_ref_C: float = 34.48
    """Reference temperature of ``E_level_kWh``, °C (report: observed bottom mean)."""
    upper_limit_sensor: int = 3
    """Index (0 = top of 16) of the upper-limit sensor (report: green dot): the heat pump starts
    when it falls below ``T_upper_on_C``. Sensor 3 sits 78 % up the tank (3.1 m below the top):
    the 22 m³ of water above it (≈ 1.0 MWh at 40 K) cover the 0.71 MW peak demand for > 1 h
    while the unit starts and ramps (and any 30 min minimum stop time), and a thermocline
    reaching it still leaves the draw above 60 °C. With it the control loop's lowest level is
    ≈ 35 % of 4.34 MWh (report: 36 %); see tests/test_plant.py."""
    lower_limit_sensor: int = 15
    """Index of the lower-limit sensor (report: red dot): the heat pump stops when it rises above
    ``T_lower_stop_C``. Sensor 15 is the lowest (3 % of the height, next to the bottom outlet
    feeding the heat pump): the thermocline may move down to the outlet, but no further, so the
    heat pump never sees its own supply as return. Highest level ≈ 85 % (report: 89 %)."""
    T_upper_on_C: float = 60.0
    """Start threshold of the upper-limit sensor, °C (report: 60 °C)."""
    T_lower_stop_C: float = 45.0
    """Stop threshold of the lower-limit sensor, °C. Report silent: return + 10 K, the usual
    sign that the thermocline has reached the bottom outlet; keeps the heat pump's return (and
    so its COP and condenser flow) near the network return."""
    dT_hp_min_lift_K: float = 5.0
    """Protection trip: the heat pump is commanded off while the tank bottom (its return) is
    within this many K of ``T_hp_supply_C`` (a full tank; no condenser flow control below it)."""

    def __post_init__(self) -> None:
        if not isinstance(self.hp, PlantHeatPumpParams):
            raise ValueError(f"hp must be a PlantHeatPumpParams, got {type(self.hp).__name__}")
        if not isinstance(self.tank, TankParams):
            raise ValueError(f"tank must be a TankParams, got {type(self.tank).__name__}")
        _check_scalar("eboiler_kW", self.eboiler_kW, 0.0, 1e6)
        _check_scalar("eboiler_eff", self.eboiler_eff, 0.0, 1.0, low_open=True)
        _check_scalar("oil_kW", self.oil_kW, 0.0, 1e6)
        _check_scalar("oil_eff", self.oil_eff, 0.0, 1.0, low_open=True)
        _check_scalar("oil_price_DKK_per_MWh_fuel", self.oil_price_DKK_per_MWh_fuel, 0.0, 1e6)
        _check_scalar("T_hp_supply_C", self.T_hp_supply_C, 60.0, 84.0)
        _check_scalar("T_dh_return_C", self.T_dh_return_C, 5.0, 80.0)
        _check_scalar("T_dh_supply_min_C", self.T_dh_supply_min_C, self.T_dh_return_C, 100.0,
                      low_open=True)
        _check_scalar("E_capacity_kWh", self.E_capacity_kWh, 0.0, 1e9, low_open=True)
        _check_scalar("T_level_ref_C", self.T_level_ref_C, 0.0, 100.0)
        _check_scalar("T_upper_on_C", self.T_upper_on_C, 0.0, 100.0)
        _check_scalar("T_lower_stop_C", self.T_lower_stop_C, 0.0, 100.0)
        _check_scalar("dT_hp_min_lift_K", self.dT_hp_min_lift_K, 0.0, 40.0, low_open=True)
        n_sensors = len(self.tank.sensor_heights_frac)
        for name in ("upper_limit_sensor", "lower_limit_sensor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
                0 <= value < n_sensors
            ):
                raise ValueError(f"{name} must be an int in [0, {n_sensors - 1}] (0 = top "
                                 f"sensor of the tank), got {value!r}")
        if self.upper_limit_sensor >= self.lower_limit_sensor:
            raise ValueError(
                f"upper_limit_sensor ({self.upper_limit_sensor}) must lie above (have a smaller "
                f"index than) lower_limit_sensor ({self.lower_limit_sensor})")


def _check_scalar(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real number in [low, high] ((low, high])."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    too_low = v <= low if low_open else v < low
    if not math.isfinite(v) or too_low or v > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")


MODES: dict[int, str] = {
    1: "heat pump runs; surplus into / deficit from the tank",
    2: "as 1, supply boosted by a boiler (e-boiler, then oil)",
    3: "heat pump off; the tank discharges to the customers",
    4: "as 3, supply boosted by a boiler (e-boiler, then oil)",
}
"""The report's operating modes as output by :meth:`Plant.step` (``mode``). Mode 5 (return water
boosted through the e-boiler into the tank bottom) is not modelled."""


class Plant:
    """A fleet of N FlexHeat plants (heat pump + stratified tank + e-boiler + oil backup).

    Args:
        params: :class:`PlantParams`.
        n: number of plants.
        T0_C: initial tank temperatures, °C: scalar, (N,) or (N, L) (top first); excludes
            ``level0_frac``.
        level0_frac: initial level (fraction of ``E_capacity_kWh``) as a sharp thermocline
            between ``T_hp_supply_C`` above and ``T_dh_return_C`` below; default 0.5 when
            ``T0_C`` is None.
    """

    def __init__(self, params: PlantParams | None = None, n: int = 1,
                 T0_C: ArrayLike | None = None, level0_frac: ArrayLike | None = None) -> None:
        params = PlantParams() if params is None else params
        if not isinstance(params, PlantParams):
            raise ValueError(f"params must be a PlantParams, got {type(params).__name__}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if T0_C is not None and level0_frac is not None:
            raise ValueError("give T0_C or level0_frac, not both")
        self.params = params
        self.n = int(n)
        tank_params = replace(params.tank, T_tap_min_C=params.T_dh_supply_min_C)
        volume_m3 = np.broadcast_to(np.asarray(tank_params.volume_l, dtype=float).reshape(-1),
                                    (self.n,)) / 1000.0
        self._kWh_per_K_layer: np.ndarray = (volume_m3 * RHO_WATER_KG_PER_M3 * CP_WATER_J_PER_KGK
                                             / tank_params.n_layers / _J_PER_KWH)
        """(N,) heat capacity of one tank layer, kWh/K."""
        if T0_C is None:
            T0_C = self._thermocline_profile(0.5 if level0_frac is None else level0_frac)
        self.tank = Tank(tank_params, n=self.n, T0_C=T0_C)
        self.hp = PlantHeatPump(params.hp, n=self.n)
        self.eboiler = ElectricBoiler(
            ElectricBoilerParams(Q_max_kW=params.eboiler_kW, efficiency=params.eboiler_eff),
            n=self.n)
        self.oil = OilBoiler(
            OilBoilerParams(n_boilers=2, Q_unit_kW=params.oil_kW / 2.0, efficiency=params.oil_eff,
                            fuel_price_DKK_per_MWh=params.oil_price_DKK_per_MWh_fuel), n=self.n)
        self._T_min_now = np.full(self.n, float(params.T_dh_supply_min_C))
        self._T_bottom = self.tank.T_layers_C[:, -1].copy()
        names = self.initial_outputs()
        self._output_names: tuple[str, ...] = tuple(names)

    # ------------------------------------------------------------------ initial state
    def _thermocline_profile(self, level_frac: ArrayLike) -> np.ndarray:
        """(N, L) profile with ``level_frac`` · E_capacity above ``T_level_ref_C``: layers at
        ``T_hp_supply_C`` from the top, one intermediate layer, the rest at ``T_dh_return_C``
        (or a uniform tank below T_dh_return when the level is lower than that of a cold tank).
        """
        p = self.params
        lv = np.broadcast_to(np.asarray(level_frac, dtype=float), (self.n,))
        L = self.params.tank.n_layers
        c = self._kWh_per_K_layer  # kWh/K per layer, (N,)
        hot = p.T_hp_supply_C - p.T_level_ref_C
        cold = max(p.T_dh_return_C - p.T_level_ref_C, 0.0)
        e_max = c * L * hot / p.E_capacity_kWh
        if not np.all(np.isfinite(lv)) or np.any(lv < 0.0) or np.any(lv > e_max):
            raise ValueError(f"level0_frac must be in [0, {float(e_max.min()):.3f}] (a tank full "
                             f"at T_hp_supply_C), got {level_frac!r}")
        target = lv * p.E_capacity_kWh  # kWh
        T = np.empty((self.n, L))
        for i in range(self.n):
            base = c[i] * L * cold
            if target[i] <= base:  # colder than a tank at the network return: uniform
                T[i, :] = p.T_level_ref_C + target[i] / (c[i] * L)
                continue
            excess = (target[i] - base) / (c[i] * (p.T_hp_supply_C - max(p.T_dh_return_C,
                                                                       p.T_level_ref_C)))
            k = min(int(excess), L)  # full hot layers
            T[i, :] = max(p.T_dh_return_C, p.T_level_ref_C)
            T[i, :k] = p.T_hp_supply_C
            if k < L:
                T[i, k] += (excess - k) * (p.T_hp_supply_C - T[i, k])
        return T

    # ------------------------------------------------------------------ helpers
    def _vec(self, name: str, value: Any, low: float | None = None,
             high: float | None = None) -> np.ndarray:
        """Broadcast a step input to a fresh (N,) float array; ValueError naming ``name``."""
        if isinstance(value, (float, int)) and not isinstance(value, bool):  # the usual case
            v = float(value)
            if not math.isfinite(v) or (low is not None and v < low) or (
                high is not None and v > high
            ):
                self._vec(name, np.array(v), low, high)  # raises with the full message
            return np.full(self.n, v)
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a number or an array of shape ({self.n},), "
                             f"got {value!r}") from exc
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, self.n)):
            raise ValueError(f"{name} must be a scalar or have shape ({self.n},), "
                             f"got shape {arr.shape}")
        arr = np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (self.n,)).copy()
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if low is not None and np.any(arr < low):
            raise ValueError(f"{name} must be >= {low}, got {value!r}")
        if high is not None and np.any(arr > high):
            raise ValueError(f"{name} must be <= {high}, got {value!r}")
        return arr

    def level_kWh(self, T_layers_C: np.ndarray) -> np.ndarray:
        """Storage level (report definition): Σ_layers m c_p (T_i − T_level_ref)⁺, kWh, (N,)."""
        excess = np.maximum(T_layers_C - self.params.T_level_ref_C, 0.0)
        return excess.sum(axis=1) * self._kWh_per_K_layer

    # ------------------------------------------------------------------ public API
    @property
    def output_names(self) -> tuple[str, ...]:
        """Keys of the dict returned by :meth:`step`."""
        return self._output_names

    def control_loop_thresholds(self) -> dict[str, float | int]:
        """The real control rule's sensors and thresholds (report strategy 1, stratified)."""
        p = self.params
        return {"upper_limit_sensor": p.upper_limit_sensor, "T_upper_on_C": p.T_upper_on_C,
                "lower_limit_sensor": p.lower_limit_sensor, "T_lower_stop_C": p.T_lower_stop_C}

    def initial_outputs(self) -> dict[str, np.ndarray]:
        """Outputs describing the present state with no flows (all powers 0): what a controller
        sampling the plant before the first step sees."""
        p = self.params
        T = self.tank.T_layers_C
        # the tank's own sensor interpolation weights (read only; Tank has no public accessor)
        sensors = T @ self.tank._W_sensors
        zeros = np.zeros(self.n)
        hp = self.hp.state()
        e_level = self.level_kWh(T)
        out = self._assemble(
            hp={"on": hp["on"].astype(float), "load_frac": hp["load_base_frac"],
                "Q_th_kW": zeros, "P_el_kW": zeros, "cop": zeros, "starts": hp["starts"],
                "start_cost_DKK": hp["start_cost_DKK"], "dP_el_kW": zeros},
            trip=zeros, q_hp=zeros, curtailed=zeros, q_from_tank=zeros, q_eb=zeros, p_eb=zeros,
            q_oil=zeros, fuel=zeros, oil_cost=zeros, q_demand=zeros, t_supply=T[:, 0].copy(),
            t_min=np.full(self.n, float(p.T_dh_supply_min_C)), sensors=sensors, T=T,
            e_level=e_level, e_stored=self.tank.energy_kWh(), q_loss=zeros,
        )
        return out

    def step(
        self,
        dt_s: float,
        hp_load_set_frac: ArrayLike,
        Q_demand_kW: ArrayLike,
        T_outdoor_C: ArrayLike,
        dP_el_fcr_kW: ArrayLike = 0.0,
        T_dh_supply_min_C: ArrayLike | None = None,
        eboiler_allowed: ArrayLike = True,
    ) -> dict[str, np.ndarray]:
        """Advance the plants by ``dt_s`` seconds.

        Args:
            dt_s: step length, s (> 0).
            hp_load_set_frac: heat-pump load set point, fraction of 800 kW (0 = off; >= 0).
            Q_demand_kW: customers' heat demand, kW (>= 0).
            T_outdoor_C: outdoor air temperature around the tank, °C (standing loss).
            dP_el_fcr_kW: FCR-N modulation of the heat pump's electric power, kW (+ = more).
            T_dh_supply_min_C: minimum customer supply temperature, °C (None: parameter);
                must lie above ``T_dh_return_C``.
            eboiler_allowed: whether the e-boiler may boost (bool or (N,) bools); when not,
                the oil boiler boosts alone.

        Returns:
            dict of fresh (N,) float arrays, see :attr:`output_names` and docs/models/plant.md.
            Powers are means over the step except the heat pump's (end-of-step values of
            :class:`PlantHeatPump`, held over the step).
        """
        p = self.params
        dt = float(dt_s) if isinstance(dt_s, (int, float, np.integer, np.floating)) and not \
            isinstance(dt_s, bool) else float("nan")
        if not math.isfinite(dt) or dt <= 0.0:
            raise ValueError(f"dt_s must be a finite number > 0, got {dt_s!r}")
        x_set = self._vec("hp_load_set_frac", hp_load_set_frac, low=0.0)
        q_demand = self._vec("Q_demand_kW", Q_demand_kW, low=0.0)
        t_out = self._vec("T_outdoor_C", T_outdoor_C, low=-60.0, high=60.0)
        dp_fcr = self._vec("dP_el_fcr_kW", dP_el_fcr_kW)
        if T_dh_supply_min_C is None:
            t_min = np.full(self.n, float(p.T_dh_supply_min_C))
        else:
            t_min = self._vec("T_dh_supply_min_C", T_dh_supply_min_C, high=100.0)
            if np.any(t_min <= p.T_dh_return_C):
                raise ValueError(f"T_dh_supply_min_C must be > T_dh_return_C "
                                 f"({p.T_dh_return_C} °C), got {T_dh_supply_min_C!r}")
        if isinstance(eboiler_allowed, (bool, np.bool_)):
            allowed = np.full(self.n, bool(eboiler_allowed))
        else:
            allowed_arr = np.asarray(eboiler_allowed)
            if allowed_arr.dtype.kind not in "biu" or not np.all(
                (allowed_arr == 0) | (allowed_arr == 1)
            ):
                raise ValueError(f"eboiler_allowed must be a bool or an array of bools, "
                                 f"got {eboiler_allowed!r}")
            allowed = self._vec("eboiler_allowed", allowed_arr.astype(float)) > 0.5

        # 1. heat pump: return = tank bottom; tripped while the tank bottom is nearly hot
        t_sup = p.T_hp_supply_C
        t_ret_limit = t_sup - p.dT_hp_min_lift_K
        trip = self._T_bottom > t_ret_limit
        hp = self.hp.step(dt, np.where(trip, 0.0, x_set), T_supply_C=t_sup,
                          T_return_C=np.minimum(self._T_bottom, t_ret_limit),
                          dP_el_set_kW=dp_fcr)
        q_offer = hp["Q_th_kW"]

        # 2. tank: charge loop (heat pump) + draw loop (customers) + standing loss outdoors
        if not np.array_equal(t_min, self._T_min_now):
            self.tank.T_tap_min_C = t_min.copy()  # the draw loop's supply limit this step
            self._T_min_now = t_min.copy()
        tk = self.tank.step(dt, Q_charge_kW=q_offer, T_charge_C=t_sup, Q_draw_kW=q_demand,
                            T_cold_C=p.T_dh_return_C, T_ambient_C=t_out)
        q_hp = tk["Q_charge_kW"]  # heat the tank accepted (<= offered: flow cap / full tank)
        curtailed = np.maximum(q_offer - q_hp, 0.0)
        scale = np.where(q_offer > 0.0, q_hp / np.where(q_offer > 0.0, q_offer, 1.0), 0.0)
        hp = dict(hp)
        hp["P_el_kW"] = hp["P_el_kW"] * scale
        q_from_tank = tk["Q_draw_kW"]

        # 3. boost downstream of the tank: network flow at the supply limit, equivalent inlet
        # (a shortfall within round-off of the tank's delivery is no reason to fire a boiler)
        deficit = np.maximum(q_demand - q_from_tank, 0.0)
        deficit = np.where(deficit > _ROUND_OFF_REL * q_demand, deficit, 0.0)
        boosting = deficit > 0.0
        if boosting.any():
            m_net = q_demand * 1000.0 / (CP_WATER_J_PER_KGK * (t_min - p.T_dh_return_C))  # kg/s
            mcp = np.where(boosting, m_net * CP_WATER_J_PER_KGK / 1000.0, 1.0)  # kW/K
            t_in = np.where(boosting, t_min - deficit / mcp, tk["T_draw_C"])
            eb = self.eboiler.step(dt, m_flow_kg_per_s=np.where(allowed & boosting, m_net, 0.0),
                                   T_in_C=t_in, T_target_C=t_min, Q_limit_kW=deficit)
            q_eb, p_eb = eb["Q_th_kW"], eb["P_el_kW"]
            oil = self.oil.step(dt, Q_set_kW=np.maximum(deficit - q_eb, 0.0))
            q_oil, fuel, oil_cost = oil["Q_th_kW"], oil["P_fuel_kW"], oil["cost_DKK"]
            t_supply = np.where(boosting, t_in + (q_eb + q_oil) / mcp, tk["T_draw_C"])
        else:  # nothing to boost: both boilers idle (their cumulative totals do not change)
            q_eb, p_eb, q_oil, fuel, oil_cost = (np.zeros(self.n) for _ in range(5))
            t_supply = tk["T_draw_C"]

        T = tk["T_layers_C"]
        self._T_bottom = tk["T_bottom_C"].copy()
        return self._assemble(
            hp=hp, trip=trip.astype(float), q_hp=q_hp, curtailed=curtailed,
            q_from_tank=q_from_tank, q_eb=q_eb, p_eb=p_eb, q_oil=q_oil,
            fuel=fuel, oil_cost=oil_cost, q_demand=q_demand,
            t_supply=t_supply, t_min=t_min, sensors=tk["T_sensors_C"], T=T,
            e_level=self.level_kWh(T), e_stored=tk["E_stored_kWh"], q_loss=tk["Q_loss_kW"],
        )

    def _assemble(self, *, hp: dict[str, np.ndarray], trip: np.ndarray, q_hp: np.ndarray,
                  curtailed: np.ndarray, q_from_tank: np.ndarray, q_eb: np.ndarray,
                  p_eb: np.ndarray, q_oil: np.ndarray, fuel: np.ndarray, oil_cost: np.ndarray,
                  q_demand: np.ndarray, t_supply: np.ndarray, t_min: np.ndarray,
                  sensors: np.ndarray, T: np.ndarray, e_level: np.ndarray,
                  e_stored: np.ndarray, q_loss: np.ndarray) -> dict[str, np.ndarray]:
        """The output dict (fresh arrays) from the step's pieces."""
        p = self.params
        hp_on = hp["on"]
        served = q_from_tank + q_eb + q_oil
        boosted = (q_eb + q_oil) > 0.0
        mode = np.where(hp_on > 0.5, 1.0, 3.0) + boosted
        out: dict[str, np.ndarray] = {
            "hp_on": hp_on.copy(),
            "hp_load_frac": hp["load_frac"].copy(),
            "Q_hp_kW": q_hp.copy(),
            "P_el_hp_kW": hp["P_el_kW"].copy(),
            "cop_hp": hp["cop"].copy(),
            "hp_starts": hp["starts"].copy(),
            "hp_start_cost_DKK": hp["start_cost_DKK"].copy(),
            "dP_el_fcr_kW": hp["dP_el_kW"].copy(),
            "hp_trip": trip.copy(),
            "Q_hp_curtailed_kW": curtailed.copy(),
            "Q_charge_kW": q_hp.copy(),
            "Q_from_tank_kW": q_from_tank.copy(),
            "Q_net_charge_kW": q_hp - q_from_tank,
            "Q_eb_kW": q_eb.copy(),
            "P_el_eb_kW": p_eb.copy(),
            "Q_oil_kW": q_oil.copy(),
            "fuel_oil_kW": fuel.copy(),
            "oil_cost_DKK": oil_cost.copy(),
            "P_el_kW": hp["P_el_kW"] + p_eb,
            "Q_demand_kW": q_demand.copy(),
            "Q_demand_served_kW": served,
            "Q_unserved_kW": np.where(q_demand - served > _ROUND_OFF_REL * q_demand,
                                      q_demand - served, 0.0),
            "T_dh_supply_C": t_supply.copy(),
            "T_dh_supply_min_C": t_min.copy(),
            "T_tank_top_C": T[:, 0].copy(),
            "T_tank_bottom_C": T[:, -1].copy(),
            "T_upper_C": sensors[:, p.upper_limit_sensor].copy(),
            "T_lower_C": sensors[:, p.lower_limit_sensor].copy(),
            "E_level_kWh": e_level.copy(),
            "level_frac": e_level / p.E_capacity_kWh,
            "E_stored_kWh": e_stored.copy(),
            "Q_loss_kW": q_loss.copy(),
            "mode": mode,
        }
        for s in range(sensors.shape[1]):
            out[f"T_sensor_{s}_C"] = sensors[:, s].copy()
        return out


__all__ = ["MODES", "TANK_DIAMETER_M", "Plant", "PlantParams", "flexheat_plant_tank_params"]

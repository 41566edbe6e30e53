"""Electric and oil boilers of a district-heating plant (FlexHeat Nordhavn, issue #8).

Pure numpy model cores, vectorised over N units, stateless apart from cumulative totals.

- :class:`ElectricBoiler` — the 200 kW electric boiler downstream of the tank (report, line
  115: "Electric boiler heating capacity: 200 kJ/s"). It boosts a water flow from ``T_in_C``
  to ``T_target_C``: ``Q = min(Q_max, Q_limit, m·cp·(T_target − T_in))`` (≥ 0), ``P_el =
  Q / efficiency``. Efficiency 0.99: the value of electric heaters in the iPower reference
  (/work/shared/reference/ipower-residential-heat-pumps.md, backup heater 0.99); electrode
  boilers are rated 99 %+. Modulates continuously from 0 (electrode/resistance boilers).
- :class:`OilBoiler` — the backup ("Two oil boilers are available as back-up", report line 116,
  no size given). Default 2 × 500 kW = 1 MW ≥ the maximum demand 0.71 MW, so the backup alone
  covers the peak [ASSUMPTION]; efficiency 0.90 on the lower heating value (EU Ecodesign / EN 303
  range for non-condensing oil boilers, 0.88–0.92) [ASSUMPTION]; fuel price 700 DKK per MWh of
  fuel [ASSUMPTION: 2018 Danish heating gas oil ≈ 320 DKK/MWh product (≈ 600 USD/t, 11.9 MWh/t,
  6.3 DKK/USD) + energy and CO2 taxes ≈ 280 DKK/MWh + distribution ≈ 100 DKK/MWh]; configurable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from simulators.constants import CP_WATER_J_PER_KGK

S_PER_H: float = 3600.0
"""Seconds per hour."""


def _check_range(name: str, value: ArrayLike, lo: float, hi: float,
                 lo_open: bool = False) -> np.ndarray:
    """``value`` as a float array; ValueError naming ``name`` unless every element is in range."""
    arr = np.asarray(value, dtype=float)
    ok = np.isfinite(arr) & (arr > lo if lo_open else arr >= lo) & (arr <= hi)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0].item() if arr.ndim else float(arr)
        raise ValueError(f"{name}={bad!r} is out of range; allowed {'(' if lo_open else '['}"
                         f"{lo}, {hi}]")
    return arr


def _per_unit(obj: object, n: int) -> dict[str, np.ndarray]:
    """Every dataclass field of ``obj`` as a fresh float (n,) array."""
    out = {}
    for f in fields(obj):  # type: ignore[arg-type]
        arr = np.asarray(getattr(obj, f.name), dtype=float)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.size not in (1, n)):
            raise ValueError(f"{f.name} has shape {arr.shape}; expected a scalar or ({n},)")
        out[f.name] = np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)).copy()
    return out


def _check_n(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n={n!r} is not allowed; use an integer >= 1")
    return int(n)


def _check_dt(dt_s: float) -> float:
    if not (isinstance(dt_s, int | float | np.integer | np.floating) and np.isfinite(dt_s)
            and dt_s > 0):
        raise ValueError(f"dt_s={dt_s!r} must be a finite number > 0")
    return float(dt_s)


def _input(name: str, value: ArrayLike, n: int, lo: float = -np.inf,
           inf_ok: bool = False) -> np.ndarray:
    """A per-unit input as a float (n,) array (finite, >= lo; +inf too if ``inf_ok``)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n)):
        raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or ({n},)")
    arr = np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,))
    ok = (np.isfinite(arr) | (inf_ok & (arr == np.inf))) & (arr >= lo)
    if not np.all(ok):
        raise ValueError(f"{name}={arr[~ok][0].item()!r} is not allowed; use finite values"
                         + (f" >= {lo}" if np.isfinite(lo) else ""))
    return arr


@dataclass(frozen=True)
class ElectricBoilerParams:
    """Electric boiler parameters (scalars or length-N arrays).

    Attributes:
        Q_max_kW: heat capacity, kW. 200 (report).
        efficiency: heat out / electricity in. 0.99 (iPower reference, electric heaters).
    """

    Q_max_kW: ArrayLike = 200.0
    efficiency: ArrayLike = 0.99

    def __post_init__(self) -> None:
        _check_range("Q_max_kW", self.Q_max_kW, 0.0, np.inf)
        _check_range("efficiency", self.efficiency, 0.0, 1.0, lo_open=True)


class ElectricBoiler:
    """N electric boilers boosting a water flow (modes 2, 4, 5 of the FlexHeat plant)."""

    def __init__(self, params: ElectricBoilerParams = ElectricBoilerParams(), n: int = 1) -> None:
        self.n = _check_n(n)
        self.params = params
        self._p = _per_unit(params, self.n)
        self._E_el_kWh = np.zeros(self.n)

    def step(self, dt_s: float, m_flow_kg_per_s: ArrayLike, T_in_C: ArrayLike,
             T_target_C: ArrayLike, Q_limit_kW: ArrayLike | None = None) -> dict[str, np.ndarray]:
        """Heat the flow ``m_flow_kg_per_s`` (>= 0) from ``T_in_C`` towards ``T_target_C`` (°C)
        for ``dt_s`` seconds, at most ``Q_max_kW`` and ``Q_limit_kW`` (>= 0; None or inf = no
        limit; 0 switches the boiler off). Returns fresh (N,) arrays: ``Q_th_kW``, ``P_el_kW``,
        ``T_out_C`` (= T_in_C without flow or boost) and the cumulative ``E_el_kWh``."""
        dt = _check_dt(dt_s)
        n = self.n
        m = _input("m_flow_kg_per_s", m_flow_kg_per_s, n, 0.0)
        t_in = _input("T_in_C", T_in_C, n)
        t_tgt = _input("T_target_C", T_target_C, n)
        cap = self._p["Q_max_kW"]
        if Q_limit_kW is not None:
            cap = np.minimum(cap, _input("Q_limit_kW", Q_limit_kW, n, 0.0, inf_ok=True))
        need_kW = m * CP_WATER_J_PER_KGK * (t_tgt - t_in) / 1000.0
        q = np.clip(need_kW, 0.0, cap)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_out = np.where(m > 0.0, t_in + q * 1000.0 / (m * CP_WATER_J_PER_KGK), t_in)
        p_el = q / self._p["efficiency"]
        self._E_el_kWh = self._E_el_kWh + p_el * dt / S_PER_H
        return {"Q_th_kW": q, "P_el_kW": p_el, "T_out_C": t_out,
                "E_el_kWh": self._E_el_kWh.copy()}


@dataclass(frozen=True)
class OilBoilerParams:
    """Oil backup boiler parameters (scalars or length-N arrays); one unit = the whole set.

    Attributes:
        n_boilers: number of boilers. 2 (report: "two oil boilers").
        Q_unit_kW: capacity of each, kW. 500 [ASSUMPTION: 2 × 500 kW ≥ 0.71 MW peak demand].
        efficiency: heat out / fuel in (LHV). 0.90 [ASSUMPTION, non-condensing oil boilers].
        fuel_price_DKK_per_MWh: price per MWh of fuel (LHV), DKK. 700 [ASSUMPTION, see module].
    """

    n_boilers: ArrayLike = 2
    Q_unit_kW: ArrayLike = 500.0
    efficiency: ArrayLike = 0.90
    fuel_price_DKK_per_MWh: ArrayLike = 700.0

    def __post_init__(self) -> None:
        nb = _check_range("n_boilers", self.n_boilers, 0.0, 100.0)
        if np.any(nb != np.round(nb)):
            raise ValueError(f"n_boilers={self.n_boilers!r} is not allowed; use an integer >= 0")
        _check_range("Q_unit_kW", self.Q_unit_kW, 0.0, np.inf)
        _check_range("efficiency", self.efficiency, 0.0, 1.0, lo_open=True)
        _check_range("fuel_price_DKK_per_MWh", self.fuel_price_DKK_per_MWh, 0.0, np.inf)


class OilBoiler:
    """N oil backup plants (each ``n_boilers`` × ``Q_unit_kW``) delivering a heat set point."""

    def __init__(self, params: OilBoilerParams = OilBoilerParams(), n: int = 1) -> None:
        self.n = _check_n(n)
        self.params = params
        self._p = _per_unit(params, self.n)
        self.Q_max_kW: np.ndarray = self._p["n_boilers"] * self._p["Q_unit_kW"]
        """Total capacity per unit, kW."""
        self._fuel_kWh = np.zeros(self.n)
        self._cost = np.zeros(self.n)

    def step(self, dt_s: float, Q_set_kW: ArrayLike) -> dict[str, np.ndarray]:
        """Deliver ``Q_set_kW`` (>= 0, clipped to the capacity) for ``dt_s`` seconds. Returns fresh
        (N,) arrays: ``Q_th_kW``, ``P_fuel_kW`` (fuel power, LHV), ``cost_DKK`` (this step),
        cumulative ``E_fuel_kWh`` and ``cost_total_DKK``."""
        dt = _check_dt(dt_s)
        q = np.minimum(_input("Q_set_kW", Q_set_kW, self.n, 0.0), self.Q_max_kW)
        p_fuel = q / self._p["efficiency"]
        e_kWh = p_fuel * dt / S_PER_H
        cost = e_kWh / 1000.0 * self._p["fuel_price_DKK_per_MWh"]
        self._fuel_kWh = self._fuel_kWh + e_kWh
        self._cost = self._cost + cost
        return {"Q_th_kW": q, "P_fuel_kW": p_fuel, "cost_DKK": cost,
                "E_fuel_kWh": self._fuel_kWh.copy(), "cost_total_DKK": self._cost.copy()}

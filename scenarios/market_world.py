"""Market-coupled fleet runs: N houses whose aggregator bids the fleet's flexibility day-ahead.

A scenario with ``[market]`` is assembled here (``scenarios.world.assemble`` dispatches). Two
small cores sit on top of the residential models (all vectorised over the fleet, one mosaik
entity per model):

* :class:`DayAheadMarketSim` — the market simulator. At the first step at or after each gate
  closure (12:00 local on D-1; for the first delivery day, whose gate closure lies before the
  run, at t = 0) it takes the participant's bid (a JSON-safe attribute, see
  :func:`simulators.market.make_bid`), clears delivery day D with
  :class:`simulators.market.DayAheadMarket` against a background curve fitted to the scenario's
  price series (``[prices]``: bundled synthetic or Energi Data Service CSV) and publishes the
  per-MTU prices and the accepted schedule of day D (``schedule``, JSON-safe) ahead of delivery.
  ``mode = "price_taker"``: price = target, no feedback. Coupled mode reads the target series
  as the price WITH the fleet consuming its baseline (historical prices already contain the
  heat pumps' inflexible demand): the bid declares ``baseline_MW`` per MTU and the background
  is fitted to ``target − slope · baseline``, so an inflexible fleet clears exactly at the
  target and only the fleet's flexibility moves the price.
* :class:`MarketAggregator` — the fleet's aggregator and dispatcher. Bid: per MTU of day D it
  forecasts the fleet's electric baseline ``P_b`` from the weather forecast (perfect forecast of
  the scenario weather) — space heat ``H·(T_set − T_out) − gains`` and mean hot-water heat, each
  divided by the heat pump's COP at that outdoor temperature — corrected by the measured
  ratio metered/forecast of the run so far. It bids a stepwise demand curve (``f`` =
  ``flex_share``, ``p_lo``/``p_hi`` = the day's ``cheap``/``expensive`` quantiles of its price
  forecast = the target series)::

      (1 − f)·P_b at the price cap   — the inflexible part
      f·P_b       at ≤ p_hi          — skipped in expensive MTUs (set-back)
      f·P_b       at ≤ p_lo          — extra in cheap MTUs (pre-heating, hot-water boost)

  scaled by ``represents_houses / n_houses`` (the simulated fleet stands for a larger one, so
  that its volume is large enough to move the price). Dispatch, each step: the set-point
  fraction ``r = r_DA + r_act + r_fb`` moves the fleet's room set point by ``r · offset_K``
  inside the comfort band (like the price-rule controller): ``r_DA = (accepted − P_b)/(f·P_b)``
  ∈ [−1, 1] of the current MTU (feed-forward; compares the schedule with the baseline of the
  bid itself), ``r_act`` = the ordered mFRR change / (f·P_b), and ``r_fb`` the schedule
  feedback — a PI (``feedback_kp``, ``feedback_Ti``; integral running across ISPs, frozen at
  the band edges) on the normalised error between target (accepted + activated) and the
  metered fleet power of the step before. For ``r_DA + r_act`` ≥ 0.5 / ≤ −0.5 hot-water
  charging is boosted / deferred. The metered vs scheduled energy (imbalance) is a KPI: on the
  bundled scenario the feedback cuts it from 26.3 % to 11.6 % of the accepted energy.
  With ``[market.mfrr]`` the aggregator also bids, each step, the room its day-ahead dispatch
  leaves (``mfrr_bid``) for the next MTUs before the bid gate closure, and follows its
  activation.
* :class:`scenarios.market_balancing.BalancingMarketSim` (only with ``[market.mfrr]``) — the
  mFRR energy activation market: each 15-min MTU, at the step before it begins, it activates
  the merit order of the fleet's bids and a parametric background stack of other BSPs for a
  synthetic (AR(1)) or CSV system imbalance with :func:`simulators.market.activate_mfrr` and
  publishes ``activation`` (time-shifted to the aggregator) and the balancing price (recorded,
  measurement ``balancing``).

With ``market.comparison`` a twin fleet (same seed, entities ``ref*``) bids into a market of the
other mode in the same run, so the run reports coupled vs price-taker side by side.
Settlement (energy, imbalance, activation revenue, tariffs, tax, VAT) is booked after the run
from the recorded series with :class:`simulators.market.SettlementLedger` (:func:`market_kpis`):
without mFRR the imbalance is priced at the day-ahead price per MTU; with mFRR each 15-min ISP
is settled with :func:`simulators.market.settle_imbalance` at the balancing price, for the fleet
and for the whole balancing system (fleet, rest of the system, background BSPs, TSO;
:func:`mfrr_settlement`), whose positions and cash sum to zero.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.records import SourceInfo
from scenarios.market_balancing import (
    BALANCING_OUT,
    MFRR_MTU_S,
    BalancingMarketSim,
    imbalance_at,
    load_imbalance_csv,
    synthetic_imbalance,
)
from scenarios.schema import MarketConfig, Scenario
from scenarios.world import (
    BUILDING_OUT,
    CONTROLLER_OUT,
    HEATPUMP_IN,
    HEATPUMP_OUT,
    TANK_OUT,
    WEATHER_OUT,
    Assembled,
    Site,
    _floats,
    _HeatPumpInputs,
    _Source,
    _tariff,
    build_site,
    house_loop,
    new_world,
    start_recorders,
)
from simulators import prices as prices_mod
from simulators import weather as weather_mod
from simulators.cosim.base import StartOfStep
from simulators.market import (
    LEDGER_COLUMNS,
    PRICE_CAP_EUR_PER_MWH,
    DayAheadMarket,
    RetailPriceModel,
    SettlementLedger,
    make_bid,
    settle_imbalance,
)

MARKET_FLEET_OUT = [
    "price_spot_DKK_per_MWh", "tariff_DKK_per_MWh", "tax_DKK_per_MWh", "vat_DKK_per_MWh",
    "price_total_DKK_per_MWh", "price_target_EUR_per_MWh", "price_cleared_EUR_per_MWh",
    "accepted_MW", "accepted_fleet_kW", "P_el_fleet_kW", "P_base_fleet_kW", "dispatch_frac",
    "feedback_frac",
]  # fmt: skip
"""Per-step record of the market entity of a variant (measurement ``market``, one row per step):
retail components of the current MTU (DKK/MWh; tariff = DSO + TSO), target and cleared price
(EUR/MWh), accepted volume (real-market MW and simulated-fleet kW), the metered fleet power, the
aggregator's baseline forecast (kW), its set-point fraction r (day-ahead feed-forward + mFRR
activation + schedule feedback, −2 … 2; ±1 = ±``offset_K``) and the feedback part of r."""

_LOT_MW = 0.1
_TICK = 0.01


def _local_days(sc: Scenario, until_s: float, tz: str) -> list[date]:
    """Local delivery days overlapping the run [start, start + until_s)."""
    t0 = pd.Timestamp(sc.start).tz_convert(tz)
    t1 = (pd.Timestamp(sc.start) + pd.Timedelta(seconds=until_s - 1e-3)).tz_convert(tz)
    return [d.date() for d in pd.date_range(t0.normalize(), t1.normalize(), freq="D")]


class DayAheadMarketSim:
    """Event-like day-ahead market core (stepped with the scenario step; works only at gate
    closures). Inputs: ``bid`` (JSON dict with ``delivery_day``), ``P_el_kW`` (metered per house,
    kW), ``P_base_fleet_kW`` / ``dispatch_frac`` (the aggregator's state, passed through for the
    record). Outputs: :data:`MARKET_FLEET_OUT` and ``schedule`` (JSON-safe: ``days``, MTU starts
    ``t_s`` in s since the scenario start, ``price_EUR_per_MWh``, ``fleet_kW``)."""

    needs_time = True

    def __init__(self, market: DayAheadMarket, target: pd.Series, start: Any, days: list[date],
                 retail: RetailPriceModel, kW_to_MW: float) -> None:
        self.market = market
        self.target = target
        self.t0 = pd.Timestamp(start)
        self.days = days
        self.retail = retail
        self.kW_to_MW = float(kW_to_MW)
        self._gc = [(self.market.gate_closure(d) - self.t0).total_seconds() for d in days]
        self._cleared: set[date] = set()
        self._t = np.zeros(0)
        self._cols: dict[str, np.ndarray] = {}
        self.schedule: dict[str, Any] = {"days": [], "t_s": [], "mtu_s": market.mtu_s,
                                         "price_EUR_per_MWh": [], "fleet_kW": []}
        self.results: list[Any] = []

    def _clear(self, day: date, bid: dict[str, Any] | None) -> None:
        times = self.market.mtus(day)
        tgt = self.market.target_from_series(self.target, times)
        bids = [bid] if bid and bid.get("delivery_day") == day.isoformat() else []
        bg = tgt
        if bids and self.market.mode == "coupled" and bids[0].get("baseline_MW") is not None:
            # the target series already contains the fleet's inflexible (baseline) demand:
            # fit the background so that the baseline bid inflexibly clears at the target
            base = np.asarray(bids[0]["baseline_MW"], dtype=float)
            bg = np.clip(tgt - self.market.slope * base, self.market.price_floor,
                         self.market.price_cap)
        res = self.market.clear(bg, bids, times)
        self.results.append(res)
        acc = res.net_MW[0] if res.participants else np.zeros(len(times))
        comp = self.retail.components(times, res.price_EUR_per_MWh, 1.0)
        t_s = (times - self.t0).total_seconds().to_numpy(dtype=float)
        new = {
            "price_target_EUR_per_MWh": tgt, "price_cleared_EUR_per_MWh": res.price_EUR_per_MWh,
            "accepted_MW": acc, "accepted_fleet_kW": acc / self.kW_to_MW,
            "price_spot_DKK_per_MWh": comp["spot_DKK_per_MWh"],
            "tariff_DKK_per_MWh": comp["dso_tariff_DKK_per_MWh"] + comp["tso_tariff_DKK_per_MWh"],
            "tax_DKK_per_MWh": comp["electricity_tax_DKK_per_MWh"],
            "vat_DKK_per_MWh": comp["vat_DKK_per_MWh"],
            "price_total_DKK_per_MWh": comp["total_DKK_per_MWh"],
        }
        order = np.argsort(np.concatenate([self._t, t_s]), kind="stable")
        self._t = np.concatenate([self._t, t_s])[order]
        self._cols = {k: np.concatenate([self._cols.get(k, np.zeros(0)), v])[order]
                      for k, v in new.items()}
        self._cleared.add(day)
        s = self.schedule  # publish a NEW object (receivers may hold the old one)
        self.schedule = {
            "days": [*s["days"], day.isoformat()], "t_s": self._t.tolist(),
            "mtu_s": self.market.mtu_s,
            "price_EUR_per_MWh": self._cols["price_cleared_EUR_per_MWh"].tolist(),
            "fleet_kW": self._cols["accepted_fleet_kW"].tolist(),
        }

    def step(self, dt_s: float, t_s: float, bid: dict[str, Any] | None = None,
             P_el_kW: Any = 0.0, P_base_fleet_kW: float = float("nan"),
             dispatch_frac: float = float("nan"),
             feedback_frac: float = float("nan")) -> dict[str, Any]:
        """Clear every delivery day whose gate closure has passed; report the current MTU."""
        for d, gc in zip(self.days, self._gc, strict=True):
            if d not in self._cleared and gc <= t_s:
                self._clear(d, bid)
        out: dict[str, Any] = {k: float("nan") for k in MARKET_FLEET_OUT}
        i = int(np.searchsorted(self._t, t_s, side="right")) - 1
        if i >= 0 and t_s < self._t[i] + self.market.mtu_s:
            out.update({k: float(v[i]) for k, v in self._cols.items()})
        out["P_el_fleet_kW"] = float(np.sum(P_el_kW))
        out["P_base_fleet_kW"] = float(P_base_fleet_kW)
        out["dispatch_frac"] = float(dispatch_frac)
        out["feedback_frac"] = float(feedback_frac)
        out["schedule"] = self.schedule
        return out


class MarketAggregator:
    """The fleet's aggregator: bids day-ahead and dispatches the houses (see the module doc).

    Wraps the fleet's :class:`~simulators.controllers.thermostat.Thermostat` (room PI + DHW
    hysteresis), whose set points it moves each step. Inputs: ``T_room_C``, ``T_out_C``,
    ``T_layers_C`` (as the thermostat), ``schedule`` (the market's publication) and ``P_el_kW``
    (metered, time-shifted). Outputs: the controller attributes, ``bid`` (for the next uncleared
    delivery day), ``P_base_fleet_kW`` (baseline forecast of the current step, kW) and
    ``dispatch_frac``."""

    needs_time = True

    def __init__(self, thermo: Any, site: Site, sc: Scenario, market: DayAheadMarket,
                 target: pd.Series, days: list[date], kW_to_MW: float, name: str,
                 forecast: Any = None) -> None:
        mc = sc.market
        assert mc is not None
        self.thermo = thermo
        self.hp = site.heatpump
        self.weather = site.weather if forecast is None else forecast
        self.market = market
        self.target = target
        self.days = days
        self.kW_to_MW = float(kW_to_MW)
        self.name = name
        self.t0 = pd.Timestamp(sc.start)
        self.mc: MarketConfig = mc
        b = site.building
        self.H_kW_per_K = np.asarray(b.H_W_per_K, dtype=float).ravel() / 1000.0
        self.gains_kW = np.broadcast_to(np.asarray(
            getattr(getattr(b, "_p", None), "Q_gains_W", 0.0), dtype=float).ravel(),
            self.H_kW_per_K.shape) / 1000.0
        self.Q_dhw_kW = sc.site.dhw.kwh_per_day / 24.0
        self.T_set0 = float(thermo.T_set)
        c = sc.site.comfort
        self.T_lo, self.T_hi = c.T_low_C + 0.3, c.T_high_C - 0.3
        self.dhw_on0 = float(thermo.dhw_T_on)
        self.dhw_boost = float(thermo.dhw_T_off) - 1.0
        self.dhw_min = float(thermo.dhw_T_min)
        self._bids: dict[date, dict[str, Any]] = {}
        self._bid_base_kW: dict[int, float] = {}  # MTU start (s) -> baseline kW of the bid
        self._E_met = 0.0
        self._E_base = 0.0
        self._last_base = float("nan")
        # schedule feedback (PI on the power error vs schedule + activation)
        self.feedback = bool(mc.schedule_feedback)
        self.kp = float(mc.feedback_kp)
        self.Ti_s = float(mc.feedback_Ti)
        self._fb_I_s = 0.0  # integral of the normalised error in the current ISP, s
        self._fb_r = 0.0  # feedback fraction of the last step
        self._sat = 0  # +1 / −1: the last step's set point sat at the top / bottom of the band
        self._prev: tuple[int, float, float] | None = None  # (ISP start s, target kW, f·P_b kW)
        # mFRR
        mf = mc.mfrr
        self.mfrr = mf if mf is not None and mf.enabled else None
        self._act_kW: dict[int, float] = {}  # ISP start (s) -> ordered consumption change, kW

    # -- baseline forecast -----------------------------------------------------------------
    def baseline_kW(self, t_s: float) -> float:
        """Fleet electric baseline at ``t_s`` (s since start) without flexibility, kW: space heat
        ``max(H·(T_set − T_out) − gains, 0)`` / COP(space heating) + mean DHW heat / COP(DHW),
        COP = compressor capacity / compressor power at capacity."""
        lo, hi = self.weather.covered_s
        w = self.weather.at(min(max(t_s, min(lo + 7 * 86400.0, hi)), hi))
        args = (w["T_out_C"], w["T_out_24h_C"], w["T_out_168h_C"])
        q_cap = np.asarray(self.hp.compressor_capacity_kW(w["T_out_C"]), dtype=float)
        p_sh = np.asarray(self.hp.compressor_power_range_kW(*args, False)[1], dtype=float)
        p_dhw = np.asarray(self.hp.compressor_power_range_kW(*args, True)[1], dtype=float)
        q_sh = np.maximum(self.H_kW_per_K * (self.T_set0 - w["T_out_C"]) - self.gains_kW, 0.0)
        return float(np.sum(q_sh * p_sh / q_cap + self.Q_dhw_kW * p_dhw / q_cap))

    def capacity_kW(self, t_s: float) -> float:
        """Fleet electric power with every compressor at full speed in space heating at the
        forecast outdoor temperature of ``t_s``, kW (what the fleet can draw at most without
        its backup heaters)."""
        lo, hi = self.weather.covered_s
        w = self.weather.at(min(max(t_s, min(lo + 7 * 86400.0, hi)), hi))
        args = (w["T_out_C"], w["T_out_24h_C"], w["T_out_168h_C"])
        return float(np.sum(self.hp.compressor_power_range_kW(*args, False)[1]))

    @property
    def correction(self) -> float:
        """Metered / forecast fleet energy so far (1 until a few hours are measured)."""
        if self._E_base < 3 * 3600 * max(self._last_base, 1e-9) or self._E_base <= 0:
            return 1.0
        return float(np.clip(self._E_met / self._E_base, 0.5, 2.0))

    # -- bidding ---------------------------------------------------------------------------
    def make_day_bid(self, day: date) -> dict[str, Any]:
        """The stepwise demand curve for delivery day ``day`` (JSON-safe, MW, EUR/MWh)."""
        times = self.market.mtus(day)
        tgt = self.market.target_from_series(self.target, times)
        p_lo = round(float(np.quantile(tgt, self.mc.cheap_quantile)), 2)
        p_hi = round(float(np.quantile(tgt, self.mc.expensive_quantile)), 2)
        k = self.correction
        f = self.mc.flex_share
        curves = []
        base: list[float] = []
        for ts in times:
            t_s = (ts - self.t0).total_seconds()
            pb = k * self.baseline_kW(t_s) * self.kW_to_MW
            q0 = round(round((1.0 - f) * pb / _LOT_MW) * _LOT_MW, 1)
            q1 = round(round(f * pb / _LOT_MW) * _LOT_MW, 1)
            # the extra (pre-heating) step only up to what the compressors can deliver: a
            # cold night's baseline is already close to it, and a schedule the fleet cannot
            # meet is imbalance by construction
            room = self.mc.bid_capacity_frac * self.capacity_kW(t_s) * self.kW_to_MW - pb
            q2 = round(max(0.0, min(f * pb, room)) // _LOT_MW * _LOT_MW, 1)
            steps = [(PRICE_CAP_EUR_PER_MWH, q0), (p_hi, q1), (p_lo, q2)]
            curves.append([(p, q) for p, q in steps if q > 0])
            base.append(round(pb, 3))
            self._bid_base_kW[int(round(t_s))] = pb / self.kW_to_MW
        bid = make_bid(self.name, buy=curves)
        bid["baseline_MW"] = base
        bid["delivery_day"] = day.isoformat()
        bid["correction"] = k
        return bid

    # -- dispatch --------------------------------------------------------------------------
    def _plan(self, t_s: float, schedule: dict[str, Any] | None,
              base: float) -> tuple[float, float, float] | None:
        """(accepted kW, bid baseline P_b kW, cleared price EUR/MWh) of the day-ahead MTU that
        contains ``t_s``; None when none is published (or P_b ≤ 0)."""
        if not schedule or not schedule.get("t_s"):
            return None
        ts = schedule["t_s"]
        i = int(np.searchsorted(ts, t_s, side="right")) - 1
        if i < 0 or t_s >= ts[i] + schedule["mtu_s"]:
            return None
        pb = self._bid_base_kW.get(int(round(ts[i])), self.correction * base)
        if pb <= 0:
            return None
        return float(schedule["fleet_kW"][i]), pb, float(schedule["price_EUR_per_MWh"][i])

    def _dispatch_frac(self, t_s: float, schedule: dict[str, Any] | None, base: float) -> float:
        """Feed-forward day-ahead fraction ``r = (accepted − P_b)/(f·P_b)`` ∈ [−1, 1]."""
        plan = self._plan(t_s, schedule, base)
        if plan is None:
            return 0.0
        acc, pb, _ = plan
        return float(np.clip((acc - pb) / (self.mc.flex_share * pb), -1, 1))

    def _feedback(self, dt_s: float, P_el_kW: Any) -> float:
        """Schedule feedback: a PI on the normalised power error ``e = (target − metered) /
        (f·P_b)`` of the step before (target = accepted day-ahead + ordered mFRR change of that
        step's ISP, metered = the fleet's power in that step, both kW): ``r_fb = Kp·(e + ∫e dt /
        Ti)``, added to the set-point fraction r. The integral runs on across ISP boundaries
        (the error is dominated by slow biases — baseline forecast error, the rooms' state after
        a set-point move — that a 15-min integral cannot learn: resetting it each ISP left
        19 % imbalance against 12.5 %, docs/markets.md) and is frozen while the set point sits
        at a comfort-band edge in the error's direction (anti-windup)."""
        prev = self._prev
        if not self.feedback or prev is None or P_el_kW is None:
            self._fb_I_s = 0.0
            return 0.0
        e = (prev[1] - float(np.sum(P_el_kW))) / prev[2]
        if not (self._sat != 0 and np.sign(e) == self._sat):
            self._fb_I_s += e * dt_s
        return self.kp * (e + self._fb_I_s / self.Ti_s)

    def _mfrr_bid(self, t_s: float, schedule: dict[str, Any] | None,
                  base: float) -> dict[str, Any] | None:
        """The fleet's mFRR bids for the next two MTUs whose bid gate closure has not passed
        (JSON-safe, real-market MW, EUR/MWh): up (consume less) ``share·(1 + r)·f·P_b`` and
        down (consume more) ``share·(1 − r)·f·P_b`` — the room left by the day-ahead dispatch
        fraction r of that MTU inside ±f·P_b —, scaled by ``represents_houses / n`` and rounded
        down to the 0.1 MW lot (0 below ``min_bid_MW``), priced at spot ± the markups."""
        m = self.mfrr
        if m is None:
            return None
        s1 = int(np.ceil((t_s + m.gate_closure) / MFRR_MTU_S - 1e-9)) * MFRR_MTU_S
        f = self.mc.flex_share
        out: dict[str, Any] = {"bidder": self.name, "t_s": [], "up_MW": [], "down_MW": [],
                               "up_price_EUR_per_MWh": [], "down_price_EUR_per_MWh": []}
        for s in (s1, s1 + MFRR_MTU_S):
            plan = self._plan(float(s), schedule, base)
            if plan is None:
                continue
            acc, pb, spot = plan
            r = float(np.clip((acc - pb) / (f * pb), -1, 1))
            vol = []
            for room in (1.0 + r, 1.0 - r):
                q = np.floor(m.volume_share * room * f * pb * self.kW_to_MW / _LOT_MW + 1e-9)
                q = round(float(q) * _LOT_MW, 1)
                vol.append(q if q >= m.min_bid_MW - 1e-9 else 0.0)
            out["t_s"].append(float(s))
            out["up_MW"].append(vol[0])
            out["down_MW"].append(vol[1])
            out["up_price_EUR_per_MWh"].append(round(spot + m.markup_up_EUR_per_MWh, 2))
            out["down_price_EUR_per_MWh"].append(round(spot - m.markup_down_EUR_per_MWh, 2))
        return out

    def _take_activation(self, activation: dict[str, Any] | None) -> None:
        if not activation:
            return
        mine = activation.get("setpoint_delta_MW", {}).get(self.name)
        if mine is None:
            return
        for s, d in zip(activation["t_s"], mine, strict=True):
            self._act_kW[int(round(float(s)))] = float(d) / self.kW_to_MW

    def step(self, dt_s: float, t_s: float, T_room_C: Any, T_out_C: Any, T_layers_C: Any,
             schedule: dict[str, Any] | None = None, P_el_kW: Any = None,
             activation: dict[str, Any] | None = None) -> dict[str, Any]:
        """Bid for the next uncleared day (and the next mFRR MTUs), then move the set points
        (day-ahead feed-forward + mFRR activation + schedule feedback) and run the thermostat."""
        if P_el_kW is not None and np.isfinite(self._last_base) and t_s > 0:
            self._E_met += float(np.sum(P_el_kW)) * dt_s
            self._E_base += self._last_base * dt_s
        published = set(schedule["days"]) if schedule else set()
        nxt = next((d for d in self.days if d.isoformat() not in published), None)
        if nxt is not None and nxt not in self._bids:
            self._bids[nxt] = self.make_day_bid(nxt)
        self._take_activation(activation)
        base = self.baseline_kW(t_s)
        self._last_base = base
        isp = int(t_s // MFRR_MTU_S) * MFRR_MTU_S
        plan = self._plan(t_s, schedule, base)
        r_da = self._dispatch_frac(t_s, schedule, base)
        act = self._act_kW.get(isp, 0.0)
        r_act = act / (self.mc.flex_share * plan[1]) if plan is not None else 0.0
        r_fb = self._feedback(dt_s, P_el_kW) if plan is not None else 0.0
        r_ff = r_da + r_act
        r = float(np.clip(r_ff + r_fb, -2.0, 2.0))
        T_set = self.T_set0 + r * self.mc.offset_K
        self._sat = 1 if T_set >= self.T_hi else -1 if T_set <= self.T_lo else 0
        self.thermo.T_set = float(np.clip(T_set, self.T_lo, self.T_hi))
        self.thermo.dhw_T_on = (self.dhw_boost if r_ff >= 0.5 else
                                self.dhw_min if r_ff <= -0.5 else self.dhw_on0)
        self._prev = None if plan is None else (
            isp, plan[0] + act, self.mc.flex_share * plan[1])
        self._fb_r = r_fb
        for old in [k for k in self._act_kW if k < isp - MFRR_MTU_S]:
            del self._act_kW[old]
        out = dict(self.thermo.step(dt_s, T_room_C, T_out_C, T_layers_C, None, t_s))
        out["bid"] = self._bids.get(nxt) if nxt is not None else None
        out["P_base_fleet_kW"] = base * self.correction
        out["dispatch_frac"] = r
        out["feedback_frac"] = r_fb
        out["mfrr_bid"] = self._mfrr_bid(t_s, schedule, base)
        return out


def _target_series(sc: Scenario, until_s: float, seed: int) -> pd.Series:
    """The scenario's day-ahead price series (DKK/MWh, UTC), covering D-1 … end + 2 days."""
    end = sc.start + timedelta(seconds=until_s)
    if sc.prices.source == "synthetic":
        return prices_mod.synthetic_dk_day_ahead(
            sc.start - timedelta(days=2), end + timedelta(days=3), seed=seed,
            mean_DKK_per_MWh=sc.prices.mean_DKK_per_MWh)
    assert sc.prices.path is not None
    return prices_mod.load_energidataservice_csv(sc.prices.path, sc.prices.price_area)


def mfrr_imbalance(sc: Scenario, until_s: float, seed: int) -> np.ndarray:
    """The rest-of-system imbalance of every 15-min MTU of the run (+1), MW (generation − load):
    ``[market.mfrr]`` ``imbalance_source = "profile"`` → :func:`synthetic_imbalance` seeded with
    the run's seed; ``"csv"`` → :func:`load_imbalance_csv` held per MTU (a relative path is
    taken from the working directory)."""
    mc = sc.market
    assert mc is not None and mc.mfrr is not None
    mf = mc.mfrr
    n = int(np.ceil(until_s / MFRR_MTU_S)) + 1
    if mf.imbalance_source == "profile":
        return synthetic_imbalance(n, sigma_MW=mf.imbalance_sigma_MW, corr=mf.imbalance_corr,
                                   mean_MW=mf.imbalance_mean_MW, seed=seed)
    assert mf.imbalance_path is not None
    times = pd.date_range(pd.Timestamp(sc.start), periods=n, freq=f"{MFRR_MTU_S}s")
    return imbalance_at(load_imbalance_csv(mf.imbalance_path), times)


def retail_model(sc: Scenario) -> RetailPriceModel:
    """Retail price model of the scenario: DSO tariff from ``[prices.tariff]``, TSO tariff and
    VAT from ``[market]``, the electric-heating tax ``prices.tax_DKK_per_MWh`` on all energy."""
    mc = sc.market
    assert mc is not None
    return RetailPriceModel(
        _tariff(sc), tso_tariff_DKK_per_MWh=mc.tso_tariff_DKK_per_MWh,
        reduced_heating_tax_DKK_per_MWh=sc.prices.tax_DKK_per_MWh, electric_heating=True,
        reduced_tax_threshold_kWh_per_year=0.0, vat_frac=mc.vat_frac)


def assemble_market_fleet(sc: Scenario, out_dir: Path, run_id: str,
                          until_s: float | None = None, seed: int | None = None) -> Assembled:
    """The market-coupled fleet world (everything at the scenario ``step``)::

        weather ─> building, heat pumps, aggregator
        aggregator ─Q_req, dhw, SG─> heat pumps ─> building, tank <─ demand
        aggregator ─bid─> market ─schedule (time-shifted)─> aggregator
        heat pumps ─P_el─> market (metered, recorded); building/tank ─(time-shifted)─> aggregator
        [market.mfrr]: aggregator ─mfrr_bid─> balancing <─schedule─ market;
                       balancing ─activation (time-shifted)─> aggregator

    Variant ``house`` bids into a market of ``market.mode``; with ``market.comparison`` the twin
    ``ref`` into one of the other mode."""
    mc = sc.market
    assert mc is not None
    seed = sc.seed if seed is None else seed
    n = sc.site.n_houses
    dur = sc.duration_s if until_s is None else float(until_s)
    other = "price_taker" if mc.mode == "coupled" else "coupled"
    modes = {"house": mc.mode, **({"ref": other} if mc.comparison else {})}
    variants = {tag: build_site(sc, seed) for tag in modes}
    site = variants["house"]
    forecast = site.weather  # perfect forecast; the reference year extended past the run's end
    if sc.weather.source == "reference":
        forecast = weather_mod.Weather(
            weather_mod.reference_weather(sc.start, dur + 3 * 86400.0, seed=seed), sc.start)
    target = _target_series(sc, dur, seed)
    retail = retail_model(sc)
    kW_to_MW = (mc.represents_houses or n) / n / 1000.0
    res = sc.time_resolution
    step = int(round(sc.step / res))
    w_step = max(1, int(round(sc.weather.step / res)))
    until = int(round(dur / res))
    world, sim = new_world(sc)

    weather = sim("Weather", [], WEATHER_OUT, w_step).create(
        1, core=_Source(lambda t, dt: _floats(site.weather.at(t))), eid="weather")[0]
    m_market = sim("Market", ["bid", "P_el_kW", "P_base_fleet_kW", "dispatch_frac",
                              "feedback_frac"], [*MARKET_FLEET_OUT, "schedule"], step)
    mf = mc.mfrr if mc.mfrr is not None and mc.mfrr.enabled else None
    imbalance = None
    if mf is not None:
        if step * res > MFRR_MTU_S:
            raise ValueError(f"market.mfrr needs a scenario step ≤ 15min (the mFRR MTU); "
                             f"step = {sc.step:g}s")
        imbalance = mfrr_imbalance(sc, dur, seed)
        m_bal = sim("Balancing", ["mfrr_bid", "schedule"], [*BALANCING_OUT, "activation"], step)
    m_demand = sim("Demand", [], ["Q_dhw_demand_kW"], step)
    m_building = sim("Building", ["Q_heat_kW", "T_out_C"], BUILDING_OUT, step)
    m_tank = sim("Tank", ["Q_charge_kW", "T_charge_C", "Q_draw_kW"], TANK_OUT, step)
    agg_out = [*CONTROLLER_OUT, "bid", "P_base_fleet_kW", "dispatch_frac", "feedback_frac",
               "mfrr_bid"]
    m_agg = sim("Controller", ["T_room_C", "T_out_C", "T_layers_C", "schedule", "P_el_kW",
                               "activation"], agg_out, step)
    m_hp = sim("HeatPump", HEATPUMP_IN, HEATPUMP_OUT, step)
    sources: dict[str, SourceInfo] = {weather.full_id: SourceInfo("weather", "weather")}
    links: list[tuple[Any, list[str]]] = [(weather, WEATHER_OUT)]
    cores: dict[str, DayAheadMarketSim] = {}
    for tag, st in variants.items():
        mkt = DayAheadMarket(mc.mtu, mode=modes[tag],
                             slope_EUR_per_MWh_per_MW=mc.slope_EUR_per_MWh_per_MW)
        days = _local_days(sc, dur, mkt.tz)
        mcore = DayAheadMarketSim(mkt, target, sc.start, days, retail, kW_to_MW)
        cores[tag] = mcore
        market = m_market.create(1, core=mcore, eid=f"market_{tag}")[0]
        agg = MarketAggregator(st.controller, st, sc, mkt, target, days, kW_to_MW,
                               name=f"fleet_{tag}", forecast=forecast)
        controller = m_agg.create(1, core=agg, eid=f"controller_{tag}")[0]
        demand = m_demand.create(1, core=_Source(
            lambda t, dt, d=st.demand: {"Q_dhw_demand_kW": d.mean_kW(t, t + dt)}),
            eid=f"demand_{tag}")[0]
        hp_core = StartOfStep(_HeatPumpInputs(st.heatpump), ("starts",),
                              {"starts": np.zeros(n)})
        hp = m_hp.create(1, core=hp_core, eid=f"heatpump_{tag}")[0]
        building, tank, T0 = house_loop(
            world, m_building, m_tank, st.building, st.tank, tag, weather=weather,
            controller=controller, heatpump=hp, demand=demand, controller_to_hp=CONTROLLER_OUT[:3])
        world.connect(controller, market, "bid", "P_base_fleet_kW", "dispatch_frac",
                      "feedback_frac")
        if mf is not None:
            bcore = BalancingMarketSim(imbalance, mf, kW_to_MW, bidder=agg.name)
            bal = m_bal.create(1, core=bcore, eid=f"balancing_{tag}")[0]
            world.connect(controller, bal, "mfrr_bid")
            world.connect(market, bal, "schedule")
            world.connect(bal, controller, "activation", time_shifted=True,
                          initial_data={"activation": None})
            sources[bal.full_id] = SourceInfo("balancing", tag)
            links.append((bal, BALANCING_OUT))
        world.connect(market, controller, "schedule", time_shifted=True,
                      initial_data={"schedule": None})
        world.connect(hp, market, "P_el_kW")
        world.connect(hp, controller, "P_el_kW", time_shifted=True,
                      initial_data={"P_el_kW": None})
        for ent, meas, attrs in ((market, "market", MARKET_FLEET_OUT),
                                 (building, "building", BUILDING_OUT),
                                 (tank, "tank", TANK_OUT),
                                 (hp, "heatpump", HEATPUMP_OUT)):  # controller: not recorded
            sources[ent.full_id] = SourceInfo(meas, tag)
            links.append((ent, attrs))

    ts_dir = out_dir / "timeseries"
    for rec in start_recorders(world, sc, out_dir, ts_dir, run_id, sources, step):
        for ent, attrs in links:
            world.connect(ent, rec, *attrs)
    site.info["market_modes"] = modes
    site.info["represents_houses"] = mc.represents_houses or n
    return Assembled(world, until, site, ts_dir)


# --------------------------------------------------------------------------------------------
# KPIs: settlement from the recorded series
# --------------------------------------------------------------------------------------------


def _per_mtu(df: pd.DataFrame, mtu_s: int) -> pd.DataFrame:
    """Means per complete MTU of one variant's ``market`` records."""
    d = df.sort_values("time").copy()
    t = pd.DatetimeIndex(d["time"])
    d["mtu"] = t.floor(f"{mtu_s}s")
    g = d.groupby("mtu")
    out = g[["P_el_fleet_kW", "accepted_fleet_kW", "price_cleared_EUR_per_MWh",
             "price_target_EUR_per_MWh", "P_base_fleet_kW"]].mean()
    span = g["time"].agg(["min", "max", "count"])
    step = (t[1] - t[0]).total_seconds() if len(t) > 1 else mtu_s
    full = span["count"] * step >= mtu_s - 1e-6
    out = out[full & out["price_cleared_EUR_per_MWh"].notna()]
    return out


def _mfrr_on(sc: Scenario) -> bool:
    mc = sc.market
    return mc is not None and mc.mfrr is not None and mc.mfrr.enabled


def mfrr_settlement(market: pd.DataFrame, balancing: pd.DataFrame, sc: Scenario,
                    n_houses: int) -> pd.DataFrame:
    """Per 15-min ISP of one variant: the day-ahead plan, the mFRR activation and the
    single-price imbalance settlement (:func:`simulators.market.settle_imbalance`) at the
    balancing price, for the fleet on the simulated scale (``*_sim``: the N simulated houses,
    what the fleet's ledger books) and for the whole balancing system on the real-market scale
    (MW, EUR): the fleet (× ``represents_houses / N``), the rest of the system (its imbalance
    ``x`` = ``system_imbalance_MW``; the background BSPs inside it follow their activation) and
    the TSO's counter-position. Activation revenue = (up − down) × balancing price × ¼ h, paid
    by the TSO. Columns: see the code; all positions MW (consumption positive, position =
    scheduled + activated − metered), costs EUR (> 0 = the party pays)."""
    mc = sc.market
    assert mc is not None
    m = _per_mtu(market, MFRR_MTU_S)
    b = balancing.sort_values("time").copy()
    b["isp"] = pd.DatetimeIndex(b["time"]).floor(f"{MFRR_MTU_S}s")
    b = b.groupby("isp")[BALANCING_OUT].mean()
    d = m.join(b, how="inner")
    d = d[d["balancing_price_EUR_per_MWh"].notna()]
    h = MFRR_MTU_S / 3600.0
    scale = (mc.represents_houses or n_houses) / n_houses  # real MW per simulated MW
    p = d["balancing_price_EUR_per_MWh"].to_numpy(float)
    met = d["P_el_fleet_kW"].to_numpy(float) / 1000.0
    da = d["accepted_fleet_kW"].to_numpy(float) / 1000.0
    up = d["fleet_up_MW"].to_numpy(float)
    dn = d["fleet_down_MW"].to_numpy(float)
    act = (dn - up) / scale
    fleet = settle_imbalance(da[None, :], met[None, :], p, activated_MW=act[None, :])
    x = d["system_imbalance_MW"].to_numpy(float)
    bg = d["background_down_MW"].to_numpy(float) - d["background_up_MW"].to_numpy(float)
    system = settle_imbalance(
        np.vstack([da * scale, np.zeros_like(x)]), np.vstack([met * scale, bg - x]), p,
        activated_MW=np.vstack([dn - up, bg]))
    out = pd.DataFrame(index=d.index)
    out["spot_EUR_per_MWh"] = d["price_cleared_EUR_per_MWh"].to_numpy(float)
    out["balancing_price_EUR_per_MWh"] = p
    out["direction"] = d["direction"].to_numpy(float)
    for c in ("system_imbalance_MW", "activation_need_MW", "fleet_bid_up_MW", "fleet_bid_down_MW",
              "background_up_MW", "background_down_MW", "shortfall_MW"):
        out[c] = d[c].to_numpy(float)
    out["metered_sim_MW"] = met
    out["accepted_sim_MW"] = da
    out["activated_sim_MW"] = act
    out["fleet_up_MW"] = up
    out["fleet_down_MW"] = dn
    out["position_sim_MW"] = fleet["position_MW"][0]
    out["imbalance_cost_sim_EUR"] = fleet["cost_EUR"][0]
    out["activation_revenue_sim_EUR"] = -act * p * h
    out["position_fleet_MW"] = system["position_MW"][0]
    out["position_rest_MW"] = system["position_MW"][1]
    out["position_tso_MW"] = system["tso_position_MW"]
    out["imbalance_cost_fleet_EUR"] = system["cost_EUR"][0]
    out["imbalance_cost_rest_EUR"] = system["cost_EUR"][1]
    out["imbalance_cost_tso_EUR"] = system["tso_cost_EUR"]
    out["activation_revenue_fleet_EUR"] = (up - dn) * p * h
    out["activation_revenue_background_EUR"] = -bg * p * h
    return out


def _mfrr_kpis(t: pd.DataFrame) -> dict[str, float]:
    """System-level mFRR and settlement KPIs (real-market scale) of :func:`mfrr_settlement`."""
    h = MFRR_MTU_S / 3600.0
    sp = t["spot_EUR_per_MWh"].to_numpy(float)
    p = t["balancing_price_EUR_per_MWh"].to_numpy(float)
    dirn = t["direction"].to_numpy(float)
    act = dirn != 0
    f_up = t["fleet_up_MW"].to_numpy(float) > 0
    f_dn = t["fleet_down_MW"].to_numpy(float) > 0
    prem = np.abs(p - sp)[act]
    rev_f = float(t["activation_revenue_fleet_EUR"].sum())
    rev_bg = float(t["activation_revenue_background_EUR"].sum())
    c_f = float(t["imbalance_cost_fleet_EUR"].sum())
    c_r = float(t["imbalance_cost_rest_EUR"].sum())
    c_t = float(t["imbalance_cost_tso_EUR"].sum())
    out = {
        "mfrr_isps_settled": float(len(t)),
        "mfrr_isps_activated": float(act.sum()),
        "mfrr_isps_fleet_up": float(f_up.sum()),
        "mfrr_isps_fleet_down": float(f_dn.sum()),
        "mfrr_fleet_up_MWh": float(t["fleet_up_MW"].sum() * h),
        "mfrr_fleet_down_MWh": float(t["fleet_down_MW"].sum() * h),
        "mfrr_balancing_price_mean_EUR_per_MWh": float(p.mean()),
        "mfrr_premium_median_activated_EUR_per_MWh": float(np.median(prem)) if act.any()
        else 0.0,
        "mfrr_premium_mean_activated_EUR_per_MWh": float(prem.mean()) if act.any() else 0.0,
        "mfrr_position_fleet_MWh": float(t["position_fleet_MW"].sum() * h),
        "mfrr_position_rest_MWh": float(t["position_rest_MW"].sum() * h),
        "mfrr_position_tso_MWh": float(t["position_tso_MW"].sum() * h),
        "mfrr_fleet_imbalance_cost_EUR": c_f,
        "mfrr_rest_imbalance_cost_EUR": c_r,
        "mfrr_tso_imbalance_cost_EUR": c_t,
        "mfrr_fleet_activation_revenue_EUR": rev_f,
        "mfrr_background_activation_revenue_EUR": rev_bg,
        "mfrr_tso_activation_payment_EUR": rev_f + rev_bg,
        # money received from balancing, per party: sums to zero over parties + TSO
        "mfrr_cash_fleet_EUR": rev_f - c_f,
        "mfrr_cash_rest_EUR": -c_r,
        "mfrr_cash_background_EUR": rev_bg,
        "mfrr_cash_tso_EUR": -c_t - rev_f - rev_bg,
    }
    if f_up.any():  # how much of the ordered up-regulation the fleet delivered (simulated kW)
        s = t[f_up]
        out["mfrr_fleet_up_delivery_ratio"] = float(
            (s["accepted_sim_MW"] - s["metered_sim_MW"]).sum() / -s["activated_sim_MW"].sum())
    return out


def market_kpis(df: pd.DataFrame, sc: Scenario, n_houses: int,
                balancing: pd.DataFrame | None = None) -> dict[str, float]:
    """Market and settlement KPIs of one variant from its ``market`` records (and, with
    ``[market.mfrr]``, its ``balancing`` records; see docs/markets.md): price change vs the
    target in cheap / expensive MTUs, energy metered vs scheduled (imbalance) and the fleet's
    cost per ledger component, DKK. Without mFRR the imbalance is priced at the day-ahead price
    per MTU; with mFRR it is settled per 15-min ISP at the balancing price on the position
    (accepted + activated − metered), the activation revenue is booked, and the
    system-level ``mfrr_*`` KPIs (:func:`mfrr_settlement`) are added."""
    mc = sc.market
    assert mc is not None
    tab = None
    if _mfrr_on(sc) and balancing is not None and len(balancing):
        tab = mfrr_settlement(df, balancing, sc, n_houses)
        m = _per_mtu(df, MFRR_MTU_S).loc[tab.index]
        mtu_s = MFRR_MTU_S
    else:
        m = _per_mtu(df, mc.mtu)
        mtu_s = mc.mtu
    if not len(m):
        return {}
    h = mtu_s / 3600.0
    tgt = m["price_target_EUR_per_MWh"].to_numpy(float)
    clr = m["price_cleared_EUR_per_MWh"].to_numpy(float)
    days = pd.DatetimeIndex(m.index).tz_convert(prices_mod.LOCAL_TZ).date
    cheap = np.zeros(len(m), dtype=bool)
    dear = np.zeros(len(m), dtype=bool)
    for d in np.unique(days):
        sel = days == d
        cheap[sel] = tgt[sel] <= np.quantile(tgt[sel], mc.cheap_quantile)
        dear[sel] = tgt[sel] >= np.quantile(tgt[sel], mc.expensive_quantile)
    met_MW = m["P_el_fleet_kW"].to_numpy(float) / 1000.0
    da_MW = m["accepted_fleet_kW"].to_numpy(float) / 1000.0
    ledger = SettlementLedger(["fleet"], retail_model(sc), households=n_houses, mtu_s=mtu_s)
    times = pd.DatetimeIndex(m.index)
    if tab is None:
        act_MW = np.zeros_like(da_MW)
        imb_EUR = (met_MW - da_MW) * h * clr  # imbalance priced at the day-ahead price
        rev_EUR = np.zeros_like(da_MW)
    else:
        act_MW = tab["activated_sim_MW"].to_numpy(float)
        imb_EUR = tab["imbalance_cost_sim_EUR"].to_numpy(float)
        rev_EUR = tab["activation_revenue_sim_EUR"].to_numpy(float)
    ledger.post(times, clr, da_MW[None, :], met_MW[None, :], imbalance_cost_EUR=imb_EUR[None, :],
                activation_revenue_EUR=rev_EUR[None, :])
    tot = {c: float(v[0]) for c, v in ledger.totals().items()}
    e_met = float(met_MW.sum() * h * 1000.0)
    e_da = float(da_MW.sum() * h * 1000.0)
    e_sched = float((da_MW + act_MW).sum() * h * 1000.0)
    e_abs = float(np.abs(met_MW - da_MW - act_MW).sum() * h * 1000.0)
    out: dict[str, float] = {
        "market_price_change_cheap_EUR_per_MWh": float(np.mean((clr - tgt)[cheap])),
        "market_price_change_expensive_EUR_per_MWh": float(np.mean((clr - tgt)[dear])),
        "market_price_change_abs_mean_EUR_per_MWh": float(np.mean(np.abs(clr - tgt))),
        "market_price_target_mean_EUR_per_MWh": float(tgt.mean()),
        "market_price_cleared_mean_EUR_per_MWh": float(clr.mean()),
        "market_mtus_settled": float(len(m)),
        "fleet_energy_metered_kWh": e_met,
        "fleet_energy_accepted_kWh": e_da,
        "fleet_energy_activated_kWh": e_sched - e_da,
        "fleet_imbalance_kWh": e_met - e_sched,
        "fleet_imbalance_abs_kWh": e_abs,
        "fleet_imbalance_abs_frac": e_abs / e_sched if e_sched > 0 else float("nan"),
        "fleet_energy_cheap_share": float(met_MW[cheap].sum() / max(met_MW.sum(), 1e-12)),
        "fleet_energy_expensive_share": float(met_MW[dear].sum() / max(met_MW.sum(), 1e-12)),
    }
    for c in LEDGER_COLUMNS:
        out[f"fleet_{c}"] = tot[c]
    out["fleet_cost_per_house_DKK"] = tot["net_cost_DKK"] / n_houses
    if e_met > 0:
        out["fleet_mean_price_paid_DKK_per_kWh"] = tot["net_cost_DKK"] / e_met
        out["fleet_spot_paid_EUR_per_MWh"] = float(
            np.sum(met_MW * clr) / max(met_MW.sum(), 1e-12))
    if tab is not None:
        out.update(_mfrr_kpis(tab))
    return out


def market_run_kpis(frames: dict[str, pd.DataFrame], sc: Scenario) -> tuple[
        dict[str, pd.DataFrame], dict[str, float], dict[str, float]]:
    """(fleet frames, KPIs, reference KPIs) of a market fleet run: the residential KPIs of each
    variant plus :func:`market_kpis`; ``vs_<other mode>_*`` differences in the KPIs."""
    from scenarios.kpi import compute_kpis, split_fleet_frames

    mc = sc.market
    assert mc is not None
    comfort = sc.site.comfort
    fleet, ref = split_fleet_frames(frames)
    n = sc.site.n_houses
    kpis = compute_kpis(fleet, comfort.T_low_C, comfort.T_high_C, step_s=sc.step)
    kpis.update(market_kpis(fleet["market"], sc, n, fleet.get("balancing")))
    ref_kpis: dict[str, float] = {}
    if "market" in ref and "building" in ref:
        ref_kpis = compute_kpis(ref, comfort.T_low_C, comfort.T_high_C, step_s=sc.step)
        ref_kpis.update(market_kpis(ref["market"], sc, n, ref.get("balancing")))
        other = "price_taker" if mc.mode == "coupled" else "coupled"
        for k in ("fleet_net_cost_DKK", "fleet_energy_cost_DKK", "fleet_imbalance_abs_kWh",
                  "fleet_activation_revenue_DKK", "fleet_imbalance_cost_DKK",
                  "fleet_energy_metered_kWh", "thermal_discomfort_Kh", "mean_T_room_C",
                  "market_price_change_cheap_EUR_per_MWh",
                  "market_price_change_expensive_EUR_per_MWh"):
            if k in kpis and k in ref_kpis:
                kpis[f"vs_{other}_{k}"] = kpis[k] - ref_kpis[k]
    return fleet, kpis, ref_kpis

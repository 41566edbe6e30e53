"""The Nordic mFRR energy activation market in the market-coupled fleet world (``[market.mfrr]``).

One small core, :class:`BalancingMarketSim`, and its boundary data (see docs/markets.md, "The mFRR
world"):

* **System imbalance** per 15-min MTU, generation − load in MW (the sign of
  :func:`simulators.market.activate_mfrr`): a seeded synthetic series
  (:func:`synthetic_imbalance`, AR(1)) or a CSV series (:func:`load_imbalance_csv`). It is the
  imbalance of the REST of the system; the TSO activates mFRR for it when ``|x| ≥``
  ``activation_threshold_MW`` (smaller imbalances are left to aFRR/FCR). Defaults, calibrated to
  the Danish regulating-power statistics of the iPower report §8.1/§8.4: σ = 150 MW and a
  100 MW threshold give no activation in 49.5 % of the MTUs (reference: ≈ 4 200 of 8 760 h/yr,
  48 %) and a mean activated volume of 190 MW (reference: 2013 average 185 MW up); the lag-1
  correlation 0.9 per 15 min (0.66 per hour, correlation time 2.4 h) is an ASSUMPTION: Nordic
  imbalances come from wind and load forecast errors that persist for hours.
* **Background merit order of the other BSPs** (:func:`background_bids`): per direction a stack
  of ``step`` MW bids whose premium over spot rises exponentially with the cumulative volume Q,
  ``a·exp(Q/Q_e)`` EUR/MWh (up bids at spot + premium, down bids at spot − premium). The defaults
  a = 1 EUR/MWh, Q_e = 80 MW are fitted so that with the default imbalance the premium of the
  activated MTUs has a median of 8.9 EUR/MWh and a mean of 19.9 EUR/MWh — the reference's
  2008–13 DK spreads |regulating − spot| of ≈ 60 DKK/MWh (median) and ≈ 150 DKK/MWh (mean)
  (iPower §8.4). 1000 MW per direction; the price is capped at the day-ahead limits.
* **Timing.** The aggregator publishes its bids for the MTUs ahead every step (``mfrr_bid``);
  the market keeps, per MTU, the last bid it received at or before the bid gate closure
  (``gate_closure`` before the MTU, 45 min, ref. standards §6.3 [R]). At the last step before an
  MTU begins it activates the merit order of that MTU (the activation order; the Nordic
  scheduled activation is ordered 7.5 min before the MTU) and publishes ``activation`` for it,
  which the aggregator receives (time-shifted) at the MTU's first step and follows for the
  whole MTU. Each step it records the current MTU (:data:`BALANCING_OUT`, measurement
  ``balancing``).

Pure numpy/pandas; the settlement of the recorded series is in
:func:`scenarios.market_world.mfrr_settlement`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulators.market import (
    PRICE_CAP_EUR_PER_MWH,
    PRICE_FLOOR_EUR_PER_MWH,
    activate_mfrr,
)

MFRR_MTU_S: int = 900
"""mFRR MTU and imbalance settlement period, s (15 min, ref. standards §6.3)."""

BACKGROUND_BIDDER = "background"
"""Bidder name of the other BSPs' merit order."""

BALANCING_OUT = [
    "system_imbalance_MW", "activation_need_MW", "direction", "spot_EUR_per_MWh",
    "balancing_price_EUR_per_MWh", "fleet_bid_up_MW", "fleet_bid_down_MW", "fleet_up_MW",
    "fleet_down_MW", "fleet_activation_kW", "background_up_MW", "background_down_MW",
    "shortfall_MW",
]  # fmt: skip
"""Per-step record of a variant's balancing market (measurement ``balancing``), all of the
current 15-min MTU: the rest-of-system imbalance (generation − load, MW), the need the TSO
activates (0 below the threshold), direction (+1 up, −1 down, 0 none), day-ahead spot and
balancing price (EUR/MWh), the fleet's bids and activated volumes (real-market MW), its ordered
consumption change scaled to the simulated fleet (kW, consumption positive: −up + down), the
background BSPs' activated MW and the uncovered need (MW)."""


def synthetic_imbalance(n_mtu: int, *, sigma_MW: float = 150.0, corr: float = 0.9,
                        mean_MW: float = 0.0, seed: int = 0) -> np.ndarray:
    """A stationary AR(1) system-imbalance series, MW per 15-min MTU (generation − load).

    ``x_k = μ + φ·(x_{k−1} − μ) + σ·√(1 − φ²)·ε_k``, ``x_0 ~ N(μ, σ²)``, ε standard normal from
    ``numpy.random.default_rng([seed, 0x6D465252])`` (its own stream: the same seed gives the
    same imbalance whatever else the scenario draws). σ is the stationary standard deviation
    and φ = ``corr`` the lag-1 (15 min) autocorrelation."""
    if n_mtu < 0 or sigma_MW < 0 or not 0 <= corr < 1:
        raise ValueError(f"need n_mtu ≥ 0, sigma_MW ≥ 0, 0 ≤ corr < 1; got {n_mtu}, "
                         f"{sigma_MW}, {corr}")
    rng = np.random.default_rng([int(seed), 0x6D465252])
    eps = rng.standard_normal(n_mtu)
    x = np.empty(n_mtu)
    innov = sigma_MW * np.sqrt(1.0 - corr * corr)
    prev = 0.0
    for k in range(n_mtu):
        prev = sigma_MW * eps[0] if k == 0 else corr * prev + innov * eps[k]
        x[k] = prev
    return x + mean_MW


def load_imbalance_csv(path: str | Path) -> pd.Series:
    """A system-imbalance series from a CSV file with the columns ``time`` (ISO 8601, UTC when
    no offset is given; the start of the interval) and ``imbalance_MW`` (generation − load).
    Returns a UTC-indexed, sorted series. A malformed row raises ValueError naming its line."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: cannot read the imbalance CSV: {exc}") from exc
    cols = {c.strip(): c for c in df.columns}
    if "time" not in cols or "imbalance_MW" not in cols:
        raise ValueError(f"{path}: expected the columns 'time' and 'imbalance_MW', found "
                         f"{', '.join(map(str, df.columns))}")
    times, vals = [], []
    for i, (t, v) in enumerate(zip(df[cols["time"]], df[cols["imbalance_MW"]], strict=True)):
        line = i + 2  # header is line 1
        try:
            ts = pd.Timestamp(str(t).strip())
            x = float(str(v).strip())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: line {line}: malformed row time={t!r}, "
                             f"imbalance_MW={v!r}") from exc
        if not np.isfinite(x) or pd.isna(ts):
            raise ValueError(f"{path}: line {line}: malformed row time={t!r}, imbalance_MW={v!r}")
        times.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
        vals.append(x)
    if not vals:
        raise ValueError(f"{path}: the imbalance CSV has no rows")
    return pd.Series(vals, index=pd.DatetimeIndex(times), name="imbalance_MW").sort_index()


def imbalance_at(series: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
    """The series held over each MTU (the last value at or before each MTU start), MW; raises
    ValueError when the series starts after the first MTU."""
    if times[0] < series.index[0]:
        raise ValueError(f"the imbalance series starts at {series.index[0]}, after the run's "
                         f"first MTU {times[0]}")
    idx = np.searchsorted(series.index.asi8, times.asi8, side="right") - 1
    return series.to_numpy(dtype=float)[idx]


def background_bids(spot_EUR_per_MWh: float, *, markup_EUR_per_MWh: float = 1.0,
                    scale_MW: float = 80.0, capacity_MW: float = 1000.0,
                    step_MW: float = 10.0, mtu: int = 0) -> list[dict[str, Any]]:
    """The other BSPs' mFRR bids of one MTU (JSON-safe, :func:`activate_mfrr` format): per
    direction ``capacity/step`` bids of ``step`` MW; the bid covering the cumulative volume
    [Q, Q + step) has the premium ``markup·exp((Q + step/2)/scale)`` EUR/MWh over spot (up) or
    under spot (down), rounded to 0.01 and kept within the day-ahead price limits."""
    n = max(1, int(round(capacity_MW / step_MW)))
    q_mid = (np.arange(n) + 0.5) * step_MW
    prem = markup_EUR_per_MWh * np.exp(np.minimum(q_mid / scale_MW, 50.0))
    up = np.round(np.minimum(spot_EUR_per_MWh + prem, PRICE_CAP_EUR_PER_MWH), 2)
    dn = np.round(np.maximum(spot_EUR_per_MWh - prem, PRICE_FLOOR_EUR_PER_MWH), 2)
    bids = [{"bidder": BACKGROUND_BIDDER, "direction": "up", "mtu": mtu, "MW": float(step_MW),
             "price_EUR_per_MWh": float(p)} for p in up]
    bids += [{"bidder": BACKGROUND_BIDDER, "direction": "down", "mtu": mtu,
              "MW": float(step_MW), "price_EUR_per_MWh": float(p)} for p in dn]
    return bids


class BalancingMarketSim:
    """Event-like mFRR EAM core of one variant (stepped with the scenario step).

    Args:
        imbalance_MW: (M,) rest-of-system imbalance of the run's MTUs (MTU k starts at
            ``k·900`` s after the scenario start), MW, generation − load.
        cfg: the ``[market.mfrr]`` settings (:class:`scenarios.schema.MfrrConfig`).
        kW_to_MW: real-market MW per simulated-fleet kW (``represents_houses / n / 1000``).
        bidder: the fleet's bidder name (its bids are accepted only under this name).

    Inputs: ``mfrr_bid`` (the aggregator's JSON bids: ``bidder``, ``t_s`` MTU starts,
    ``up_MW``/``down_MW`` and ``up_price_EUR_per_MWh``/``down_price_EUR_per_MWh`` lists) and
    ``schedule`` (the day-ahead publication, for the spot price of each MTU). Outputs:
    :data:`BALANCING_OUT` of the current MTU and ``activation`` (JSON-safe, the MTUs activated
    at this step: ``mtu_s``, ``t_s``, ``direction``, ``balancing_price_EUR_per_MWh`` and
    ``setpoint_delta_MW`` per bidder — the ordered change of consumption, −up + down)."""

    needs_time = True

    def __init__(self, imbalance_MW: np.ndarray, cfg: Any, kW_to_MW: float, bidder: str) -> None:
        self.imb = np.asarray(imbalance_MW, dtype=float)
        self.cfg = cfg
        self.kW_to_MW = float(kW_to_MW)
        self.bidder = bidder
        self.mtu_s = MFRR_MTU_S
        self._bids: dict[int, dict[str, float]] = {}  # MTU start (s) -> the fleet's bid
        self._rec: dict[int, dict[str, float]] = {}  # MTU start (s) -> recorded fields
        self._next = 0  # index of the next MTU to activate
        self.rejected_bids = 0
        self.activation: dict[str, Any] | None = None

    def need_MW(self, k: int) -> float:
        """The imbalance the TSO activates mFRR for in MTU k (0 below the threshold), MW."""
        x = float(self.imb[k]) if 0 <= k < self.imb.size else 0.0
        return x if abs(x) >= self.cfg.activation_threshold_MW else 0.0

    def _collect(self, t_s: float, bid: dict[str, Any] | None) -> None:
        if not bid or bid.get("bidder") != self.bidder:
            return
        for i, s in enumerate(bid.get("t_s", [])):
            s_i = int(round(float(s)))
            if t_s <= s_i - self.cfg.gate_closure + 1e-6:  # before the bid gate closure
                self._bids[s_i] = {
                    "up_MW": float(bid["up_MW"][i]), "down_MW": float(bid["down_MW"][i]),
                    "up_price": float(bid["up_price_EUR_per_MWh"][i]),
                    "down_price": float(bid["down_price_EUR_per_MWh"][i])}

    @staticmethod
    def _spot(schedule: dict[str, Any] | None, s: float) -> float:
        if not schedule or not schedule.get("t_s"):
            return float("nan")
        ts = schedule["t_s"]
        i = int(np.searchsorted(ts, s, side="right")) - 1
        if i < 0 or s >= ts[i] + schedule["mtu_s"]:
            return float("nan")
        return float(schedule["price_EUR_per_MWh"][i])

    def _activate(self, k: int, schedule: dict[str, Any] | None) -> dict[str, float]:
        s = k * self.mtu_s
        c = self.cfg
        spot = self._spot(schedule, s)
        x = float(self.imb[k]) if k < self.imb.size else 0.0
        need = self.need_MW(k)
        fb = self._bids.pop(s, None)
        rec = {"system_imbalance_MW": x, "activation_need_MW": need, "spot_EUR_per_MWh": spot,
               "fleet_bid_up_MW": 0.0, "fleet_bid_down_MW": 0.0}
        if not np.isfinite(spot):  # no day-ahead price: no balancing market for this MTU
            rec.update({f: 0.0 for f in BALANCING_OUT if f not in rec})
            rec["balancing_price_EUR_per_MWh"] = float("nan")
            return rec
        bids = background_bids(spot, markup_EUR_per_MWh=c.background_markup_EUR_per_MWh,
                               scale_MW=c.background_scale_MW,
                               capacity_MW=c.background_capacity_MW,
                               step_MW=c.background_step_MW)
        if fb is not None:
            for d in ("up", "down"):
                q = round(fb[f"{d}_MW"], 1)
                if q <= 0:
                    continue
                if q < c.min_bid_MW - 1e-9:
                    self.rejected_bids += 1
                    continue
                rec[f"fleet_bid_{d}_MW"] = q
                bids.append({"bidder": self.bidder, "direction": d, "mtu": 0, "MW": q,
                             "price_EUR_per_MWh": round(fb[f"{d}_price"], 2)})
        res = activate_mfrr(bids, [need], [spot], mtu_s=self.mtu_s, min_bid_MW=c.min_bid_MW)
        ix = {b: i for i, b in enumerate(res.bidders)}
        f = ix.get(self.bidder)
        g = ix.get(BACKGROUND_BIDDER)
        up = float(res.up_MW[f, 0]) if f is not None else 0.0
        dn = float(res.down_MW[f, 0]) if f is not None else 0.0
        rec.update({
            "direction": float(res.direction[0]),
            "balancing_price_EUR_per_MWh": float(res.balancing_price_EUR_per_MWh[0]),
            "fleet_up_MW": up, "fleet_down_MW": dn,
            "fleet_activation_kW": (dn - up) / self.kW_to_MW,
            "background_up_MW": float(res.up_MW[g, 0]) if g is not None else 0.0,
            "background_down_MW": float(res.down_MW[g, 0]) if g is not None else 0.0,
            "shortfall_MW": float(res.shortfall_MW[0]),
        })
        return rec

    def step(self, dt_s: float, t_s: float, mfrr_bid: dict[str, Any] | None = None,
             schedule: dict[str, Any] | None = None) -> dict[str, Any]:
        """Collect the fleet's bids, activate every MTU that begins by the next step, report
        the current MTU."""
        self._collect(t_s, mfrr_bid)
        new: list[int] = []
        while self._next * self.mtu_s <= t_s + dt_s - 1e-6 or self._next * self.mtu_s <= t_s:
            k = self._next
            self._rec[k * self.mtu_s] = self._activate(k, schedule)
            new.append(k)
            self._next += 1
        if new:  # publish a NEW object (receivers may hold the old one)
            recs = [self._rec[k * self.mtu_s] for k in new]
            self.activation = {
                "mtu_s": self.mtu_s,
                "t_s": [float(k * self.mtu_s) for k in new],
                "direction": [r["direction"] for r in recs],
                "balancing_price_EUR_per_MWh": [r["balancing_price_EUR_per_MWh"] for r in recs],
                "setpoint_delta_MW": {
                    self.bidder: [r["fleet_down_MW"] - r["fleet_up_MW"] for r in recs],
                    BACKGROUND_BIDDER: [r["background_down_MW"] - r["background_up_MW"]
                                        for r in recs]},
            }
        cur = int(t_s // self.mtu_s) * self.mtu_s
        out: dict[str, Any] = dict(self._rec.get(cur, {k: float("nan") for k in BALANCING_OUT}))
        for old in [s for s in self._rec if s < cur - 4 * self.mtu_s]:
            del self._rec[old]
        out["activation"] = self.activation
        return out


__all__ = ["BACKGROUND_BIDDER", "BALANCING_OUT", "BalancingMarketSim", "MFRR_MTU_S",
           "background_bids", "imbalance_at", "load_imbalance_csv", "synthetic_imbalance"]

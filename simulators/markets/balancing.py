"""Nordic mFRR energy activation market (15-min MTU) and single-price imbalance settlement.

mFRR EAM (ref. standards §6.3; iPower §8.1): balance service providers (BSPs) submit upward and
downward energy bids (MW, EUR/MWh) per 15-min MTU. The system imbalance of the MTU is covered by
activating the merit order — upward bids cheapest first, downward bids highest price first — and
every activated bid is settled at the marginal activated price (the balancing price).
Up-regulation providers receive it, down-regulation providers pay it (iPower §8.1, Fig. 53).

Imbalance settlement (ref. standards §6.3): single price, single position, 15-min imbalance
settlement period (ISP). Position = (scheduled + ordered activation) − metered, consumption
positive; a party that consumed more than it bought (position < 0) buys the difference from the
TSO at the imbalance price. The TSO takes the counter-position so that positions and cash sum to
zero. Pure numpy core; see ``docs/markets.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.markets._common import MTU_15MIN_S, finite_array, names_index, positive
from simulators.markets.reserves import clear_capacity_auction

MIN_MFRR_BID_MW: float = 1.0
"""Minimum mFRR bid, MW (Fingrid's mFRR minimum 1 MW, ref. standards §6.3). Configurable: a
testbed aggregator may be allowed smaller bids (``min_bid_MW=0.1``)."""


@dataclass
class MfrrResult:
    """Activation of one set of MTUs (arrays fresh; bidders in first-appearance order)."""

    bidders: list[str]
    direction: np.ndarray
    """(T,) +1 up-regulation, -1 down-regulation, 0 none."""
    balancing_price_EUR_per_MWh: np.ndarray
    """(T,) marginal activated price (spot where nothing was activated)."""
    up_MW: np.ndarray
    """(B, T) activated upward volume per bidder (>= 0)."""
    down_MW: np.ndarray
    """(B, T) activated downward volume per bidder (>= 0)."""
    shortfall_MW: np.ndarray
    """(T,) regulation need not covered by bids."""
    mtu_s: int
    bid_activated_MW: list[float]
    """Activated MW of each input bid (input order)."""

    @property
    def setpoint_delta_MW(self) -> np.ndarray:
        """(B, T) ordered change of consumption (consumption positive): −up + down."""
        return self.down_MW - self.up_MW

    @property
    def revenue_EUR(self) -> np.ndarray:
        """(B, T) activation revenue: up volume paid, down volume charged at the balancing
        price, energy = MW × MTU duration."""
        h = self.mtu_s / 3600.0
        return (self.up_MW - self.down_MW) * self.balancing_price_EUR_per_MWh[None, :] * h

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "direction": self.direction.tolist(),
            "balancing_price_EUR_per_MWh": self.balancing_price_EUR_per_MWh.tolist(),
            "setpoint_delta_MW": {
                b: self.setpoint_delta_MW[i].tolist() for i, b in enumerate(self.bidders)
            },
            "shortfall_MW": self.shortfall_MW.tolist(),
            "bid_activated_MW": list(self.bid_activated_MW),
        }


def activate_mfrr(
    bids: Sequence[Mapping[str, Any]],
    system_imbalance_MW: Sequence[float] | np.ndarray,
    spot_EUR_per_MWh: Sequence[float] | np.ndarray,
    *,
    mtu_s: int = MTU_15MIN_S,
    min_bid_MW: float = MIN_MFRR_BID_MW,
    spot_bound: bool = True,
) -> MfrrResult:
    """Activate the mFRR merit order for T MTUs.

    Args:
        bids: JSON-safe ``{"bidder": str, "direction": "up" | "down", "mtu": int (0..T-1),
            "MW": float, "price_EUR_per_MWh": float}``.
        system_imbalance_MW: (T,) generation − load, the sign of the frequency simulator's
            ``imbalance_MW``: negative (deficit) -> up-regulation of −imbalance MW; positive
            (surplus) -> down-regulation.
        spot_EUR_per_MWh: (T,) day-ahead price of each MTU.
        mtu_s: MTU length, s (900).
        min_bid_MW: minimum bid volume.
        spot_bound: Nordic rule (ASSUMPTION, standard Nordic practice, not in the references):
            the up price is at least spot, the down price at most spot.
    """
    imb = finite_array("system_imbalance_MW", system_imbalance_MW)
    if imb.ndim != 1 or imb.size == 0:
        raise ValueError(f"system_imbalance_MW must be 1-D, non-empty; shape {imb.shape}")
    T = imb.size
    spot = finite_array("spot_EUR_per_MWh", spot_EUR_per_MWh, (T,))
    min_bid = positive("min_bid_MW", min_bid_MW, allow_zero=True)
    positive("mtu_s", mtu_s)

    grp: list[int] = []  # group = direction (0 up, 1 down) * T + mtu
    key: list[float] = []  # merit key: up price, or −down price (highest down price first)
    qty: list[float] = []
    names: list[str] = []
    for b, bid in enumerate(bids):
        who = str(bid.get("bidder", b))
        names.append(who)
        d = bid.get("direction")
        if d not in ("up", "down"):
            raise ValueError(f"bid {who!r}: direction={d!r}; allowed 'up' or 'down'")
        t = bid.get("mtu")
        if not isinstance(t, int | np.integer) or not 0 <= t < T:
            raise ValueError(f"bid {who!r}: mtu={t!r} must be an int in 0..{T - 1}")
        q = positive(f"bid {who!r} MW", bid.get("MW", float("nan")))
        if q < min_bid:
            raise ValueError(f"bid {who!r}: MW={q!r} below the minimum {min_bid:g} MW")
        p = float(
            finite_array(
                f"bid {who!r} price_EUR_per_MWh", bid.get("price_EUR_per_MWh", float("nan"))
            )
        )
        grp.append((0 if d == "up" else 1) * T + int(t))
        key.append(p if d == "up" else -p)
        qty.append(q)
    need_up = np.maximum(-imb, 0.0)
    need_down = np.maximum(imb, 0.0)
    acc, marg = clear_capacity_auction(
        np.asarray(grp, dtype=np.int64),
        np.asarray(key),
        np.asarray(qty),
        np.concatenate([need_up, need_down]),
    )
    p_up, p_down = marg[:T], -marg[T:]
    direction = np.where(need_up > 0, 1, np.where(need_down > 0, -1, 0)).astype(np.int64)
    price = spot.copy()
    up_act = direction == 1
    dn_act = direction == -1
    price[up_act] = np.where(np.isnan(p_up[up_act]), spot[up_act], p_up[up_act])
    price[dn_act] = np.where(np.isnan(p_down[dn_act]), spot[dn_act], p_down[dn_act])
    if spot_bound:
        price[up_act] = np.maximum(price[up_act], spot[up_act])
        price[dn_act] = np.minimum(price[dn_act], spot[dn_act])

    idx = names_index(names)
    B = len(idx)
    up = np.zeros((B, T))
    down = np.zeros((B, T))
    g = np.asarray(grp, dtype=np.int64)
    if acc.size:
        owner = np.array([idx[n] for n in names], dtype=np.int64)
        is_up = g < T
        np.add.at(up, (owner[is_up], g[is_up] % T), acc[is_up])
        np.add.at(down, (owner[~is_up], g[~is_up] % T), acc[~is_up])
    shortfall = np.maximum(need_up - up.sum(axis=0), 0.0) + np.maximum(
        need_down - down.sum(axis=0), 0.0
    )
    return MfrrResult(
        bidders=list(idx),
        direction=direction,
        balancing_price_EUR_per_MWh=price,
        up_MW=up,
        down_MW=down,
        shortfall_MW=shortfall,
        mtu_s=int(mtu_s),
        bid_activated_MW=acc.tolist(),
    )


def settle_imbalance(
    scheduled_MW: np.ndarray | Sequence[Sequence[float]],
    metered_MW: np.ndarray | Sequence[Sequence[float]],
    imbalance_price_EUR_per_MWh: np.ndarray | Sequence[float],
    *,
    activated_MW: np.ndarray | Sequence[Sequence[float]] | float = 0.0,
    isp_s: int = MTU_15MIN_S,
) -> dict[str, np.ndarray]:
    """Single-price imbalance settlement of N balance-responsible parties over T ISPs.

    All powers are ISP means, consumption positive (production negative).

    Args:
        scheduled_MW: (N, T) day-ahead (+ intraday) net purchase per party.
        metered_MW: (N, T) metered net consumption.
        imbalance_price_EUR_per_MWh: (T,) single imbalance price (e.g. the mFRR balancing price).
        activated_MW: (N, T) TSO-ordered change of consumption (mFRR ``setpoint_delta_MW``);
            it is added to the schedule, so following an activation is not an imbalance.
        isp_s: imbalance settlement period, s (900).

    Returns:
        ``position_MW`` (N, T) = scheduled + activated − metered (negative = short),
        ``imbalance_MWh`` (N, T), ``cost_EUR`` (N, T) = −position × price × ISP (positive = the
        party pays), ``tso_position_MW`` (T,) and ``tso_cost_EUR`` (T,): the TSO's
        counter-position, so that parties + TSO sum to zero.
    """
    sched = finite_array("scheduled_MW", scheduled_MW)
    if sched.ndim != 2:
        raise ValueError(f"scheduled_MW must be 2-D (N parties, T ISPs); shape {sched.shape}")
    shape = sched.shape
    met = finite_array("metered_MW", metered_MW, shape)
    act = finite_array("activated_MW", activated_MW, shape)
    price = finite_array("imbalance_price_EUR_per_MWh", imbalance_price_EUR_per_MWh, shape[1:])
    h = positive("isp_s", isp_s) / 3600.0
    position = sched + act - met
    energy = position * h
    cost = -energy * price[None, :]
    return {
        "position_MW": position,
        "imbalance_MWh": energy,
        "cost_EUR": cost,
        "tso_position_MW": -position.sum(axis=0),
        "tso_cost_EUR": -cost.sum(axis=0),
    }


__all__ = ["MIN_MFRR_BID_MW", "MfrrResult", "activate_mfrr", "settle_imbalance"]

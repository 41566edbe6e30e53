"""FCR capacity auctions (FCR-N, FCR-D up, FCR-D down; DK2/SE joint market), marginal pricing.

Since 1 Feb 2024 Svenska kraftnät and Energinet procure FCR in two complementary D-1 auctions at
marginal price, hourly products (ref. standards §1.11). Per product and hour the TSO buys the
demanded capacity from the cheapest bids; every accepted bid is paid the price of the most
expensive accepted bid (EUR per MW per hour). Bids are divisible; bids at the marginal price are
accepted pro rata. The second auction is the same call with the residual demand
(``demand − awarded in the first``). Pure numpy core; see ``docs/markets.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.markets._common import finite_array, names_index, positive

FCR_PRODUCTS: tuple[str, ...] = ("FCR-N", "FCR-D up", "FCR-D down")
"""Nordic FCR products of the DK2/SE joint capacity market."""

DEFAULT_FCR_DEMAND_MW: dict[str, float] = {
    "FCR-N": 258.0,
    "FCR-D up": 610.0,
    "FCR-D down": 589.0,
}
"""Hourly demand of the joint DK2/SE market, MW (ref. standards §1.11): FCR-D up/down = the 2024
common DK–SE need 610 / 589 MW; FCR-N = the 2021 shares Energinet 18 MW + SvK 240 MW."""

MIN_FCR_BID_MW: float = 0.1
"""Minimum FCR bid, MW ([R] Nordic FCR markets commonly quoted at 0.1 MW, ref. standards §1.11;
DK value not confirmed). Configurable."""


def clear_capacity_auction(
    group: np.ndarray, price: np.ndarray, qty: np.ndarray, demand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Marginal-price capacity auction for G independent groups (product × hour), vectorised.

    Args:
        group: (n,) int group index of each bid (0..G-1).
        price: (n,) bid price (e.g. EUR/MW/h).
        qty: (n,) offered capacity, MW (> 0).
        demand: (G,) capacity demanded per group, MW (>= 0).

    Returns:
        accepted (n,) MW (cheapest first, pro rata among bids at the marginal price) and the
        clearing price (G,) = highest accepted bid price (NaN where nothing was accepted).
    """
    g = np.asarray(group, dtype=np.int64)
    p = np.asarray(price, dtype=np.float64)
    q = np.asarray(qty, dtype=np.float64)
    d = np.asarray(demand, dtype=np.float64)
    G = d.size
    n = q.size
    accepted = np.zeros(n)
    clearing = np.full(G, np.nan)
    if n == 0:
        return accepted, clearing
    order = np.lexsort((p, g))
    gs, ps, qs = g[order], p[order], q[order]
    # price levels within groups: (group, price) runs
    new = np.ones(n, dtype=bool)
    new[1:] = (gs[1:] != gs[:-1]) | (ps[1:] != ps[:-1])
    lvl = np.cumsum(new) - 1
    lvl_q = np.bincount(lvl, weights=qs)
    lvl_g = gs[new]
    lvl_p = ps[new]
    cum = np.cumsum(lvl_q)
    g_first = np.ones(lvl_q.size, dtype=bool)
    g_first[1:] = lvl_g[1:] != lvl_g[:-1]
    start_cum = np.maximum.accumulate(np.where(g_first, cum - lvl_q, 0.0))
    before = cum - lvl_q - start_cum  # volume of cheaper levels in the same group
    lvl_acc = np.clip(d[lvl_g] - before, 0.0, lvl_q)
    frac = np.divide(lvl_acc, lvl_q, out=np.zeros_like(lvl_q), where=lvl_q > 0)
    accepted[order] = qs * frac[lvl]
    took = lvl_acc > 1e-12
    if np.any(took):
        np.fmax.at(clearing, lvl_g[took], lvl_p[took])
    return accepted, clearing


@dataclass
class FcrResult:
    """Result of one FCR auction over H hourly products."""

    products: tuple[str, ...]
    providers: list[str]
    price_EUR_per_MW_h: dict[str, np.ndarray]
    """product -> (H,) marginal capacity price, EUR per MW per hour (NaN: nothing accepted)."""
    awarded_MW: dict[str, np.ndarray]
    """product -> (P, H) awarded capacity per provider."""
    shortfall_MW: dict[str, np.ndarray]
    """product -> (H,) demand not covered by bids."""
    bid_awarded_MW: list[float]
    """Awarded MW of each input bid (input order)."""

    @property
    def revenue_EUR(self) -> np.ndarray:
        """(P, H) capacity revenue per provider and hour, summed over products (1-h products)."""
        total = np.zeros_like(next(iter(self.awarded_MW.values())))
        for prod in self.products:
            total += self.awarded_MW[prod] * np.nan_to_num(self.price_EUR_per_MW_h[prod])
        return total

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "price_EUR_per_MW_h": {k: v.tolist() for k, v in self.price_EUR_per_MW_h.items()},
            "awarded_MW": {
                k: {p: v[i].tolist() for i, p in enumerate(self.providers)}
                for k, v in self.awarded_MW.items()
            },
            "shortfall_MW": {k: v.tolist() for k, v in self.shortfall_MW.items()},
            "bid_awarded_MW": list(self.bid_awarded_MW),
        }


def clear_fcr_auction(
    bids: Sequence[Mapping[str, Any]],
    n_hours: int = 24,
    demand_MW: Mapping[str, float | Sequence[float]] | None = None,
    *,
    min_bid_MW: float = MIN_FCR_BID_MW,
) -> FcrResult:
    """Clear one FCR capacity auction for ``n_hours`` hourly products of each FCR product.

    Args:
        bids: JSON-safe bids ``{"provider": str, "product": "FCR-N" | "FCR-D up" |
            "FCR-D down", "hour": int | [int, ...] (0..n_hours-1, local delivery-day hour
            index), "capacity_MW": float, "price_EUR_per_MW_h": float}``; a list of hours means
            the same divisible offer in each of them.
        n_hours: hourly products per auction (23/24/25 on DST days).
        demand_MW: product -> scalar or (n_hours,) demand; default :data:`DEFAULT_FCR_DEMAND_MW`.
            Products missing from the mapping are not procured (demand 0).
        min_bid_MW: minimum offered capacity.
    """
    H = int(n_hours)
    if H != n_hours or H <= 0:
        raise ValueError(f"n_hours={n_hours!r} must be a positive integer")
    dem_in = DEFAULT_FCR_DEMAND_MW if demand_MW is None else demand_MW
    for k in dem_in:
        if k not in FCR_PRODUCTS:
            raise ValueError(f"demand_MW has unknown product {k!r}; allowed {list(FCR_PRODUCTS)}")
    demand = np.zeros((len(FCR_PRODUCTS), H))
    for j, prod in enumerate(FCR_PRODUCTS):
        if prod in dem_in:
            demand[j] = finite_array(f"demand_MW[{prod!r}]", dem_in[prod], (H,))
    if np.any(demand < 0):
        raise ValueError("demand_MW must be >= 0")
    min_bid = positive("min_bid_MW", min_bid_MW, allow_zero=True)

    grp: list[int] = []
    prc: list[float] = []
    cap: list[float] = []
    src: list[int] = []
    names: list[str] = []
    for b, bid in enumerate(bids):
        who = str(bid.get("provider", b))
        names.append(who)
        prod = bid.get("product")
        if prod not in FCR_PRODUCTS:
            raise ValueError(f"bid {who!r}: product={prod!r}; allowed {list(FCR_PRODUCTS)}")
        hours = bid.get("hour")
        hl = [hours] if isinstance(hours, int | np.integer) else hours
        if not isinstance(hl, Sequence) or not hl:
            raise ValueError(f"bid {who!r}: hour={hours!r} must be an int or a list of ints")
        q = positive(f"bid {who!r} capacity_MW", bid.get("capacity_MW", float("nan")))
        if q < min_bid:
            raise ValueError(f"bid {who!r}: capacity_MW={q!r} below the minimum {min_bid:g} MW")
        p = bid.get("price_EUR_per_MW_h", float("nan"))
        p = float(finite_array(f"bid {who!r} price_EUR_per_MW_h", p))
        for h in hl:
            if not isinstance(h, int | np.integer) or not 0 <= h < H:
                raise ValueError(f"bid {who!r}: hour {h!r} must be an int in 0..{H - 1}")
            grp.append(FCR_PRODUCTS.index(prod) * H + int(h))
            prc.append(p)
            cap.append(q)
            src.append(b)
    acc, clearing = clear_capacity_auction(
        np.asarray(grp, dtype=np.int64), np.asarray(prc), np.asarray(cap), demand.ravel()
    )
    idx = names_index(names)
    P = len(idx)
    owner = np.array([idx[names[b]] for b in src], dtype=np.int64)
    grp_a = np.asarray(grp, dtype=np.int64)
    awarded = np.zeros((len(FCR_PRODUCTS), P, H))
    if acc.size:
        np.add.at(awarded, (grp_a // H, owner, grp_a % H), acc)
    per_bid = np.zeros(len(bids))
    if acc.size:
        np.add.at(per_bid, np.asarray(src, dtype=np.int64), acc)
    got = awarded.sum(axis=1)
    clearing = clearing.reshape(len(FCR_PRODUCTS), H)
    return FcrResult(
        products=FCR_PRODUCTS,
        providers=list(idx),
        price_EUR_per_MW_h={k: clearing[j].copy() for j, k in enumerate(FCR_PRODUCTS)},
        awarded_MW={k: awarded[j].copy() for j, k in enumerate(FCR_PRODUCTS)},
        shortfall_MW={k: np.maximum(demand[j] - got[j], 0.0) for j, k in enumerate(FCR_PRODUCTS)},
        bid_awarded_MW=per_bid.tolist(),
    )


__all__ = [
    "DEFAULT_FCR_DEMAND_MW",
    "FCR_PRODUCTS",
    "FcrResult",
    "MIN_FCR_BID_MW",
    "clear_capacity_auction",
    "clear_fcr_auction",
]

"""Day-ahead auction (SDAC-like): uniform-price clearing of stepwise bid curves per MTU.

Pure numpy core, vectorised over all MTUs of a delivery day. Concepts (``docs/markets.md``):

* a **step** ``(price EUR/MWh, quantity MW)`` of a *buy* curve means "buy up to quantity at any
  price <= price"; of a *sell* curve "sell up to quantity at any price >= price". A curve is a set
  of such independent steps (aggregate demand is non-increasing, supply non-decreasing in price);
* the **background** (rest of the market) is a linear *net* supply
  ``N(p) = (p - target) / slope`` MW per MTU: it buys when the price is below ``target`` and
  sells when above, so that with no participant volume the clearing price is exactly ``target``
  and a participant net demand ``X`` moves the price by ``slope * X`` (``slope`` EUR/MWh per MW);
* **clearing** per MTU: the price ``p*`` where participant demand − participant supply = N(p*)
  (welfare maximum of the bids plus the background). Steps strictly in the money are accepted in
  full, steps exactly at ``p*`` pro rata (same fraction for every step of one side at that
  price), volume maximal among welfare-optimal solutions. Without a background an interval of
  prices can clear the market (a vertical crossing); then ``p*`` is its midpoint, rounded to the
  tick if that stays inside;
* **price-taker** mode: ``p* = target``, in-the-money steps (ties included) accepted in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from simulators.markets._common import (
    LOT_MW,
    MTU_15MIN_S,
    PRICE_CAP_EUR_PER_MWH,
    PRICE_FLOOR_EUR_PER_MWH,
    TICK_EUR_PER_MWH,
    check_on_grid,
    delivery_mtus,
    finite_array,
    gate_closure_utc,
    names_index,
)
from simulators.prices import EUR_TO_DKK, LOCAL_TZ, to_resolution

DEFAULT_SLOPE_EUR_PER_MWH_PER_MW: float = 0.05
"""Slope of the background net-supply curve around the target price, EUR/MWh per MW.

ASSUMPTION (the references give no merit-order slope): chosen so that 100 MW of extra demand
raises the price by 5 EUR/MWh, ~7 % of the iPower 71 EUR/MWh mean price (ref. iPower §6.4) —
the order of magnitude of the residual-supply slope of a small coupled bidding zone (DK1/DK2,
a few GW of load). Equivalent price elasticity of the background at Q ≈ 4 GW and 71 EUR/MWh:
(dp/p)/(dQ/Q) = 0.05·4000/71 ≈ 2.8. Configurable per market and per MTU."""

_SPAN = 8192.0  # row offset for the flattened per-row searchsorted (> cap - floor)


# --------------------------------------------------------------------------------------------
# clearing engine on padded arrays
# --------------------------------------------------------------------------------------------


def _row_sums_lt_le(
    prices: np.ndarray, qty: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row t: sum of ``qty[t]`` over steps with price < x[t, m] and <= x[t, m]; row totals.

    prices, qty: (T, K); x: (T, M). One global sort/searchsorted with row offsets."""
    T, K = prices.shape
    M = x.shape[1]
    if K == 0:
        z = np.zeros((T, M))
        return z, z.copy(), np.zeros(T)
    order = np.argsort(prices, axis=1, kind="stable")
    ps = np.take_along_axis(prices, order, axis=1)
    qs = np.take_along_axis(qty, order, axis=1)
    off = (np.arange(T, dtype=np.float64) * _SPAN)[:, None]
    keys = (ps + off).ravel()
    cum = np.concatenate([[0.0], np.cumsum(qs.ravel())])
    xk = (x + off).ravel()
    base = (np.arange(T) * K)[:, None]
    i_lt = np.searchsorted(keys, xk, side="left").reshape(T, M)
    i_le = np.searchsorted(keys, xk, side="right").reshape(T, M)
    c0 = cum[base]
    s_lt = cum[i_lt] - c0
    s_le = cum[i_le] - c0
    total = cum[base[:, 0] + K] - cum[base[:, 0]]
    return s_lt, s_le, total


def clear_uniform_price(
    buy_price: np.ndarray,
    buy_qty: np.ndarray,
    sell_price: np.ndarray,
    sell_qty: np.ndarray,
    *,
    target_EUR_per_MWh: np.ndarray | float | None = None,
    slope_EUR_per_MWh_per_MW: np.ndarray | float | None = None,
    price_taker: bool = False,
    price_floor: float = PRICE_FLOOR_EUR_PER_MWH,
    price_cap: float = PRICE_CAP_EUR_PER_MWH,
    tick: float = TICK_EUR_PER_MWH,
) -> dict[str, np.ndarray]:
    """Uniform-price clearing of T independent MTUs with stepwise curves (padded arrays).

    Args:
        buy_price, buy_qty: (T, Kb) buy steps, EUR/MWh and MW (padding: quantity 0).
        sell_price, sell_qty: (T, Ks) sell steps.
        target_EUR_per_MWh: (T,) background target price; None = no background.
        slope_EUR_per_MWh_per_MW: background slope (> 0, scalar or (T,)); required with a target
            unless ``price_taker``.
        price_taker: price = target, no feedback (needs a target).
        price_floor, price_cap: clearing-price limits, EUR/MWh (the target must lie inside).
        tick: price tick used to round a midpoint price (vertical crossings only).

    Returns:
        dict of fresh arrays: ``price_EUR_per_MWh`` (T,), ``buy_accepted_MW`` (T, Kb),
        ``sell_accepted_MW`` (T, Ks), ``background_net_supply_MW`` (T,) (= accepted buy −
        accepted sell; negative = the background buys), ``price_lo_EUR_per_MWh`` /
        ``price_hi_EUR_per_MWh`` (T,) the interval of clearing prices (equal unless vertical).
    """
    bp = np.asarray(buy_price, dtype=np.float64)
    bq = np.asarray(buy_qty, dtype=np.float64)
    sp = np.asarray(sell_price, dtype=np.float64)
    sq = np.asarray(sell_qty, dtype=np.float64)
    if bp.ndim != 2 or bp.shape != bq.shape or sp.ndim != 2 or sp.shape != sq.shape:
        raise ValueError(
            f"buy/sell price and qty must be 2-D (T, K) pairs of equal shape; got "
            f"{bp.shape}, {bq.shape}, {sp.shape}, {sq.shape}"
        )
    if bp.shape[0] != sp.shape[0]:
        raise ValueError(f"buy has {bp.shape[0]} MTUs, sell has {sp.shape[0]}; must be equal")
    T = bp.shape[0]
    if np.any(bq < 0) or np.any(sq < 0):
        raise ValueError("step quantities must be >= 0")
    # zero-quantity steps must not create price levels: move them to the cap
    bp = np.where(bq > 0, bp, price_cap)
    sp = np.where(sq > 0, sp, price_cap)

    has_bg = target_EUR_per_MWh is not None
    if has_bg:
        target = finite_array("target_EUR_per_MWh", target_EUR_per_MWh, (T,))
        if np.any(target < price_floor) or np.any(target > price_cap):
            bad = float(target[(target < price_floor) | (target > price_cap)][0])
            raise ValueError(
                f"target_EUR_per_MWh={bad!r} is outside the price limits "
                f"[{price_floor:g}, {price_cap:g}]"
            )
    else:
        target = np.zeros(T)
    if price_taker:
        if not has_bg:
            raise ValueError("price_taker=True needs target_EUR_per_MWh")
        return _clear_price_taker(bp, bq, sp, sq, target)
    if has_bg:
        if slope_EUR_per_MWh_per_MW is None:
            raise ValueError("a background target needs slope_EUR_per_MWh_per_MW > 0")
        slope = finite_array("slope_EUR_per_MWh_per_MW", slope_EUR_per_MWh_per_MW, (T,))
        if np.any(slope <= 0):
            raise ValueError(
                f"slope_EUR_per_MWh_per_MW={float(slope[slope <= 0][0])!r} must be > 0 "
                "(use price_taker=True for a price-taking market)"
            )
        inv_slope = 1.0 / slope
    else:
        slope = np.full(T, np.inf)
        inv_slope = np.zeros(T)

    # -- candidate price levels: every step price plus the limits ---------------------------
    levels = np.concatenate(
        [bp, sp, np.full((T, 1), price_floor), np.full((T, 1), price_cap)], axis=1
    )
    levels.sort(axis=1)
    b_lt, b_le, tb = _row_sums_lt_le(bp, bq, levels)
    s_lt, s_le, ts = _row_sums_lt_le(sp, sq, levels)
    d_ge = tb[:, None] - b_lt  # buy volume with price >= level
    d_gt = tb[:, None] - b_le  # buy volume with price > level
    n_lv = (levels - target[:, None]) * inv_slope[:, None]  # background net supply
    e_above = d_gt - s_le - n_lv  # excess demand just above the level
    e_below = d_ge - s_lt - n_lv  # excess demand just below the level
    tol = 1e-9 * (1.0 + np.maximum(tb, ts))[:, None]

    i = np.argmax(e_above <= tol, axis=1)  # first level where demand no longer exceeds supply
    rows = np.arange(T)
    at_level = e_below[rows, i] >= -tol[:, 0]
    price = levels[rows, i].copy()
    lo = price.copy()
    hi = price.copy()
    # crossing on a sloped background segment between levels i-1 and i
    seg = ~at_level
    if np.any(seg):
        j = np.maximum(i[seg] - 1, 0)
        net = d_gt[seg, :][np.arange(seg.sum()), j] - s_le[seg, :][np.arange(seg.sum()), j]
        p_seg = target[seg] + slope[seg] * net
        p_seg = np.clip(p_seg, levels[seg, :][np.arange(seg.sum()), j], price[seg])
        price[seg] = p_seg
        lo[seg] = p_seg
        hi[seg] = p_seg
    # vertical crossing (no background): every price up to the next level clears the market
    vert = at_level & (not has_bg) & (np.abs(e_above[rows, i]) <= tol[:, 0])
    if np.any(vert):
        nxt = np.sum(levels[vert] <= price[vert][:, None], axis=1)
        M = levels.shape[1]
        hi_v = np.where(
            nxt < M, levels[vert, :][np.arange(vert.sum()), np.minimum(nxt, M - 1)], price_cap
        )
        lo_v = price[vert]
        mid = 0.5 * (lo_v + hi_v)
        r = np.round(np.round(mid / tick) * tick, 9)
        price[vert] = np.where((r >= lo_v) & (r <= hi_v), r, mid)
        hi[vert] = hi_v

    # -- volumes at the final price (masked sums, exact comparisons) ------------------------
    pc = price[:, None]
    bgt = np.sum(np.where(bp > pc, bq, 0.0), axis=1)
    bge = bgt + np.sum(np.where(bp == pc, bq, 0.0), axis=1)
    slt = np.sum(np.where(sp < pc, sq, 0.0), axis=1)
    sle = slt + np.sum(np.where(sp == pc, sq, 0.0), axis=1)
    n_star = np.where(has_bg, (price - target) * inv_slope, 0.0)
    vb = np.clip(np.minimum(bge, sle + n_star), bgt, bge)  # volume-maximising
    vs = np.clip(vb - n_star, slt, sle)
    fb = np.divide(vb - bgt, bge - bgt, out=np.zeros(T), where=(bge - bgt) > 0)
    fs = np.divide(vs - slt, sle - slt, out=np.zeros(T), where=(sle - slt) > 0)
    buy_acc = bq * np.where(bp > pc, 1.0, np.where(bp == pc, fb[:, None], 0.0))
    sell_acc = sq * np.where(sp < pc, 1.0, np.where(sp == pc, fs[:, None], 0.0))
    return {
        "price_EUR_per_MWh": price,
        "buy_accepted_MW": buy_acc,
        "sell_accepted_MW": sell_acc,
        "background_net_supply_MW": buy_acc.sum(axis=1) - sell_acc.sum(axis=1),
        "price_lo_EUR_per_MWh": lo,
        "price_hi_EUR_per_MWh": hi,
    }


def _clear_price_taker(
    bp: np.ndarray, bq: np.ndarray, sp: np.ndarray, sq: np.ndarray, target: np.ndarray
) -> dict[str, np.ndarray]:
    """Price = target; steps in the money or at the money accepted in full."""
    tc = target[:, None]
    buy_acc = np.where(bp >= tc, bq, 0.0)
    sell_acc = np.where(sp <= tc, sq, 0.0)
    return {
        "price_EUR_per_MWh": target.copy(),
        "buy_accepted_MW": buy_acc,
        "sell_accepted_MW": sell_acc,
        "background_net_supply_MW": buy_acc.sum(axis=1) - sell_acc.sum(axis=1),
        "price_lo_EUR_per_MWh": target.copy(),
        "price_hi_EUR_per_MWh": target.copy(),
    }


# --------------------------------------------------------------------------------------------
# JSON-safe bids
# --------------------------------------------------------------------------------------------


@dataclass
class _FlatSteps:
    """All steps of one side as flat arrays (owner = bid index, mtu, price, qty)."""

    owner: np.ndarray
    mtu: np.ndarray
    price: np.ndarray
    qty: np.ndarray

    def padded(self, T: int, pad_price: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(T, K) price and qty arrays and the (T, K) flat index (-1 = padding)."""
        n = self.mtu.size
        counts = np.bincount(self.mtu, minlength=T) if n else np.zeros(T, dtype=np.int64)
        K = int(counts.max()) if T else 0
        price = np.full((T, K), pad_price)
        qty = np.zeros((T, K))
        flat = np.full((T, K), -1, dtype=np.int64)
        if n:
            order = np.argsort(self.mtu, kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            pos = np.arange(n) - starts[self.mtu[order]]
            price[self.mtu[order], pos] = self.price[order]
            qty[self.mtu[order], pos] = self.qty[order]
            flat[self.mtu[order], pos] = order
        return price, qty, flat


def _parse_side(
    bids: Sequence[Mapping[str, Any]],
    side: str,
    T: int,
    limits: tuple[float, float],
    tick: float,
    lot: float,
) -> _FlatSteps:
    owners: list[np.ndarray] = []
    mtus: list[np.ndarray] = []
    prices: list[np.ndarray] = []
    qtys: list[np.ndarray] = []
    for b, bid in enumerate(bids):
        curves = bid.get(side)
        if curves is None:
            continue
        who = bid.get("participant", b)
        if not isinstance(curves, Sequence) or isinstance(curves, str) or len(curves) != T:
            n = len(curves) if isinstance(curves, Sequence) else type(curves).__name__
            raise ValueError(
                f"bid {who!r}: {side!r} must be a list of {T} curves (one per MTU), got {n}"
            )
        for t, curve in enumerate(curves):
            if curve is None or len(curve) == 0:
                continue
            try:
                arr = np.asarray(curve, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"bid {who!r} {side} MTU {t}: curve {curve!r} is not a list of "
                    "[price_EUR_per_MWh, quantity_MW] pairs"
                ) from None
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(
                    f"bid {who!r} {side} MTU {t}: curve {curve!r} is not a list of "
                    "[price_EUR_per_MWh, quantity_MW] pairs"
                )
            p, q = arr[:, 0], arr[:, 1]
            where = f"bid {who!r} {side} MTU {t}"
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{where}: non-finite value in {curve!r}")
            if np.any(p < limits[0]) or np.any(p > limits[1]):
                bad = float(p[(p < limits[0]) | (p > limits[1])][0])
                raise ValueError(
                    f"{where}: price {bad!r} EUR/MWh outside [{limits[0]:g}, {limits[1]:g}]"
                )
            if np.any(q <= 0):
                raise ValueError(f"{where}: quantity {float(q[q <= 0][0])!r} MW must be > 0")
            check_on_grid(f"{where}: price", p, tick)
            check_on_grid(f"{where}: quantity", q, lot)
            owners.append(np.full(p.size, b, dtype=np.int64))
            mtus.append(np.full(p.size, t, dtype=np.int64))
            prices.append(p)
            qtys.append(q)
    if not owners:
        e = np.zeros(0)
        return _FlatSteps(e.astype(np.int64), e.astype(np.int64), e, e.copy())
    return _FlatSteps(
        np.concatenate(owners), np.concatenate(mtus), np.concatenate(prices), np.concatenate(qtys)
    )


def make_bid(
    participant: str,
    buy: Sequence[Sequence[tuple[float, float]]] | None = None,
    sell: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> dict[str, Any]:
    """A JSON-safe day-ahead bid: ``{"participant": str, "buy": [[[p, q], ...] per MTU],
    "sell": [...]}`` with plain Python floats (prices EUR/MWh, quantities MW)."""
    out: dict[str, Any] = {"participant": str(participant)}
    for key, curves in (("buy", buy), ("sell", sell)):
        if curves is not None:
            out[key] = [[[float(p), float(q)] for p, q in c] for c in curves]
    return out


# --------------------------------------------------------------------------------------------
# market object
# --------------------------------------------------------------------------------------------


@dataclass
class DayAheadResult:
    """Result of one day-ahead auction (all arrays fresh; MTU axis last)."""

    times: pd.DatetimeIndex
    """UTC start of each MTU."""
    price_EUR_per_MWh: np.ndarray
    """(T,) clearing price."""
    participants: list[str]
    """Participant names, order of the per-participant arrays."""
    bought_MW: np.ndarray
    """(P, T) accepted buy volume per participant."""
    sold_MW: np.ndarray
    """(P, T) accepted sell volume per participant."""
    background_net_supply_MW: np.ndarray
    """(T,) volume taken by the background (positive = background sells)."""
    step_accepted_MW: list[dict[str, list[list[float]]]] = field(default_factory=list)
    """Per bid (input order): accepted MW of each step, same nesting as the bid."""

    @property
    def net_MW(self) -> np.ndarray:
        """(P, T) net accepted purchase per participant (consumption positive)."""
        return self.bought_MW - self.sold_MW

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (ISO UTC times, lists of floats)."""
        return {
            "times_utc": [t.isoformat() for t in self.times],
            "price_EUR_per_MWh": self.price_EUR_per_MWh.tolist(),
            "net_MW": {p: self.net_MW[i].tolist() for i, p in enumerate(self.participants)},
            "background_net_supply_MW": self.background_net_supply_MW.tolist(),
            "step_accepted_MW": self.step_accepted_MW,
        }


class DayAheadMarket:
    """SDAC-like day-ahead auction of one bidding zone: bids collected until gate closure
    (12:00 local on D-1) for the MTUs of delivery day D, cleared per MTU at a uniform price.

    Args:
        mtu_s: 900 (15-min MTU, since 1 Oct 2025) or 3600 (hourly history).
        mode: ``"coupled"`` (participants move the price along the background curve),
            ``"price_taker"`` (price = target; no feedback) or ``"steps"`` (no parametric
            background: only the submitted curves clear, e.g. a stepwise background merit
            order submitted as an ordinary bid).
        slope_EUR_per_MWh_per_MW: background net-supply slope (scalar or per MTU), see
            :data:`DEFAULT_SLOPE_EUR_PER_MWH_PER_MW`.
        price_floor, price_cap, tick, lot: order limits (defaults SDAC, ref. standards §6.2).
        eur_to_dkk: exchange rate for DKK target series (default iPower 7.45).
        tz: local time zone of delivery days and gate closure.
    """

    def __init__(
        self,
        mtu_s: int = MTU_15MIN_S,
        *,
        mode: str = "coupled",
        slope_EUR_per_MWh_per_MW: float | Sequence[float] = DEFAULT_SLOPE_EUR_PER_MWH_PER_MW,
        price_floor: float = PRICE_FLOOR_EUR_PER_MWH,
        price_cap: float = PRICE_CAP_EUR_PER_MWH,
        tick: float = TICK_EUR_PER_MWH,
        lot: float = LOT_MW,
        eur_to_dkk: float = EUR_TO_DKK,
        tz: str = LOCAL_TZ,
    ) -> None:
        if int(mtu_s) != mtu_s or int(mtu_s) not in (900, 1800, 3600):
            raise ValueError(f"mtu_s={mtu_s!r} is not allowed; use 900, 1800 or 3600")
        if mode not in ("coupled", "price_taker", "steps"):
            raise ValueError(
                f"mode={mode!r} is not allowed; use 'coupled', 'price_taker' or 'steps'"
            )
        if not price_floor < price_cap:
            raise ValueError(f"price_floor={price_floor!r} must be < price_cap={price_cap!r}")
        if price_cap - price_floor >= _SPAN:
            raise ValueError(f"price range {price_cap - price_floor:g} must be < {_SPAN:g}")
        self.mtu_s = int(mtu_s)
        self.mode = mode
        slope = finite_array("slope_EUR_per_MWh_per_MW", slope_EUR_per_MWh_per_MW)
        if np.any(slope <= 0):
            raise ValueError(f"slope_EUR_per_MWh_per_MW={slope_EUR_per_MWh_per_MW!r} must be > 0")
        self.slope = slope
        self.price_floor = float(price_floor)
        self.price_cap = float(price_cap)
        self.tick = float(tick)
        self.lot = float(lot)
        self.eur_to_dkk = float(eur_to_dkk)
        self.tz = tz

    # -- timing ----------------------------------------------------------------------------
    def mtus(self, day: date | datetime | str) -> pd.DatetimeIndex:
        """UTC MTU starts of delivery day ``day`` (92/96/100 quarter-hours, 23/24/25 hours)."""
        return delivery_mtus(day, self.mtu_s, self.tz)

    def gate_closure(self, day: date | datetime | str) -> pd.Timestamp:
        """UTC gate closure for delivery day ``day`` (12:00 local on D-1)."""
        return gate_closure_utc(day, self.tz)

    def target_from_series(self, series: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
        """Target prices (EUR/MWh) for ``times`` from a price series (e.g.
        :func:`simulators.prices.synthetic_dk_day_ahead` or an Energi Data Service import);
        DKK series (``attrs['currency']``, default DKK) are divided by ``eur_to_dkk``; hourly
        series are held over quarter-hours, finer ones averaged."""
        s = to_resolution(series, self.mtu_s)
        missing = times.difference(s.index)
        if len(missing):
            raise ValueError(
                f"the price series does not cover {len(missing)} MTU(s), first {missing[0]}"
            )
        vals = s.reindex(times).to_numpy(dtype=np.float64)
        if series.attrs.get("currency", "DKK") == "DKK":
            vals = vals / self.eur_to_dkk
        return np.clip(vals, self.price_floor, self.price_cap)

    # -- clearing --------------------------------------------------------------------------
    def clear(
        self,
        target_EUR_per_MWh: np.ndarray | Sequence[float],
        bids: Sequence[Mapping[str, Any]] = (),
        times: pd.DatetimeIndex | None = None,
    ) -> DayAheadResult:
        """Clear all MTUs of one auction.

        Args:
            target_EUR_per_MWh: (T,) price the background reproduces with no participants
                (ignored in mode ``"steps"``, where it only fixes T).
            bids: JSON-safe bids (see :func:`make_bid`); each ``"buy"`` / ``"sell"`` a list of
                T curves ``[[price_EUR_per_MWh, quantity_MW], ...]``.
            times: UTC MTU starts (default: T MTUs of ``mtu_s`` from 1970, for tests).
        """
        target = finite_array("target_EUR_per_MWh", target_EUR_per_MWh)
        if target.ndim != 1 or target.size == 0:
            raise ValueError(f"target_EUR_per_MWh must be 1-D, non-empty; shape {target.shape}")
        T = target.size
        if times is None:
            times = pd.date_range(0, periods=T, freq=pd.Timedelta(seconds=self.mtu_s), tz="UTC")
        if len(times) != T:
            raise ValueError(f"times has {len(times)} entries, target_EUR_per_MWh has {T}")
        limits = (self.price_floor, self.price_cap)
        buys = _parse_side(bids, "buy", T, limits, self.tick, self.lot)
        sells = _parse_side(bids, "sell", T, limits, self.tick, self.lot)
        bp, bq, bflat = buys.padded(T, self.price_cap)
        sp, sq, sflat = sells.padded(T, self.price_cap)
        res = clear_uniform_price(
            bp, bq, sp, sq,
            target_EUR_per_MWh=None if self.mode == "steps" else target,
            slope_EUR_per_MWh_per_MW=np.broadcast_to(self.slope, (T,)),
            price_taker=self.mode == "price_taker",
            price_floor=self.price_floor, price_cap=self.price_cap, tick=self.tick,
        )  # fmt: skip
        names = [str(b.get("participant", i)) for i, b in enumerate(bids)]
        idx = names_index(names)
        P = len(idx)
        acc_b = np.zeros(buys.qty.size)
        acc_s = np.zeros(sells.qty.size)
        acc_b[bflat[bflat >= 0]] = res["buy_accepted_MW"][bflat >= 0]
        acc_s[sflat[sflat >= 0]] = res["sell_accepted_MW"][sflat >= 0]
        owner_p = np.array([idx[n] for n in names], dtype=np.int64)
        bought = np.zeros(P * T)
        sold = np.zeros(P * T)
        if buys.qty.size:
            np.add.at(bought, owner_p[buys.owner] * T + buys.mtu, acc_b)
        if sells.qty.size:
            np.add.at(sold, owner_p[sells.owner] * T + sells.mtu, acc_s)
        return DayAheadResult(
            times=times,
            price_EUR_per_MWh=res["price_EUR_per_MWh"],
            participants=list(idx),
            bought_MW=bought.reshape(P, T),
            sold_MW=sold.reshape(P, T),
            background_net_supply_MW=res["background_net_supply_MW"],
            step_accepted_MW=_nest(bids, T, buys, acc_b, sells, acc_s),
        )


def _nest(
    bids: Sequence[Mapping[str, Any]],
    T: int,
    buys: _FlatSteps,
    acc_b: np.ndarray,
    sells: _FlatSteps,
    acc_s: np.ndarray,
) -> list[dict[str, list[list[float]]]]:
    """Accepted MW per step in the nesting of the input bids."""
    out: list[dict[str, list[list[float]]]] = []
    for b, bid in enumerate(bids):
        entry: dict[str, list[list[float]]] = {}
        for side, flat, acc in (("buy", buys, acc_b), ("sell", sells, acc_s)):
            if bid.get(side) is None:
                continue
            mine = flat.owner == b
            per = [[] for _ in range(T)]  # type: list[list[float]]
            for t, a in zip(flat.mtu[mine].tolist(), acc[mine].tolist(), strict=True):
                per[t].append(a)
            entry[side] = per
        out.append(entry)
    return out


__all__ = [
    "DEFAULT_SLOPE_EUR_PER_MWH_PER_MW",
    "DayAheadMarket",
    "DayAheadResult",
    "clear_uniform_price",
    "make_bid",
]

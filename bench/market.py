"""Benchmark: clear one day-ahead day (96 MTUs) with 1000 bid steps per MTU vs the LP.

Prints one JSON line: wall time of the vectorised uniform-price clearing
(``simulators.markets.dayahead.clear_uniform_price`` on padded arrays, best of ``--repeat``), of
the full JSON-bid path (``DayAheadMarket.clear`` with 10 participants' dict bids and the linear
background), and of the welfare-maximising LP of the same step book solved with
``scipy.optimize.linprog(method="highs")`` in the same run (one LP for the whole day), plus the
ratio and the agreement (welfare, prices where unique). Usage: python bench/market.py
[--steps 1000] [--mtus 96] [--repeat 5] [--seed 0].
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.markets.dayahead import DayAheadMarket, clear_uniform_price  # noqa: E402


def _book(rng: np.random.Generator, T: int, K: int) -> tuple[np.ndarray, ...]:
    """K/2 buy and K/2 sell steps per MTU, prices on the 0.01 tick, quantities on 0.1 MW."""
    kb = K // 2
    ks = K - kb
    level = rng.uniform(30.0, 120.0, (T, 1))
    bp = np.round(level + rng.normal(0.0, 40.0, (T, kb)), 2).clip(-500, 4000)
    sp = np.round(level + rng.normal(0.0, 40.0, (T, ks)), 2).clip(-500, 4000)
    bq = np.round(rng.integers(1, 200, (T, kb)) * 0.1, 1)
    sq = np.round(rng.integers(1, 200, (T, ks)) * 0.1, 1)
    return bp, bq, sp, sq


def _lp(bp: np.ndarray, bq: np.ndarray, sp: np.ndarray, sq: np.ndarray) -> tuple[float, ...]:
    """Solve the welfare LP; returns (wall s, welfare, dual prices)."""
    T, kb = bp.shape
    ks = sp.shape[1]
    t0 = time.perf_counter()
    c = np.concatenate([-bp.ravel(), sp.ravel()])
    rows = np.concatenate([np.repeat(np.arange(T), kb), np.repeat(np.arange(T), ks)])
    vals = np.concatenate([np.ones(T * kb), -np.ones(T * ks)])
    A = csr_matrix((vals, (rows, np.arange(c.size))), shape=(T, c.size))
    ub = np.concatenate([bq.ravel(), sq.ravel()])
    res = linprog(c, A_eq=A, b_eq=np.zeros(T), bounds=np.column_stack([0 * ub, ub]),
                  method="highs")  # fmt: skip
    wall = time.perf_counter() - t0
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    return wall, -res.fun, -np.asarray(res.eqlin.marginals)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000, help="bid steps per MTU")
    ap.add_argument("--mtus", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    T, K = args.mtus, args.steps
    bp, bq, sp, sq = _book(rng, T, K)

    best = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = clear_uniform_price(bp, bq, sp, sq)
        best = min(best, time.perf_counter() - t0)
    lp_wall, lp_welfare, lp_price = np.inf, 0.0, None
    for _ in range(max(1, args.repeat // 2)):
        w, lp_welfare, lp_price = _lp(bp, bq, sp, sq)
        lp_wall = min(lp_wall, w)
    welfare = float((bp * res["buy_accepted_MW"]).sum() - (sp * res["sell_accepted_MW"]).sum())
    unique = res["price_hi_EUR_per_MWh"] == res["price_lo_EUR_per_MWh"]
    dp = np.abs(res["price_EUR_per_MWh"] - lp_price)[unique]

    # the full path: 10 participants' JSON-safe bids + linear background
    P = 10
    bids = []
    for p in range(P):
        sl = slice(p * (K // 2) // P, (p + 1) * (K // 2) // P)
        bids.append({
            "participant": f"p{p}",
            "buy": [np.column_stack([bp[t, sl], bq[t, sl]]).tolist() for t in range(T)],
            "sell": [np.column_stack([sp[t, sl], sq[t, sl]]).tolist() for t in range(T)],
        })  # fmt: skip
    market = DayAheadMarket(900)
    target = np.full(T, 60.0)
    full = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        market.clear(target, bids)
        full = min(full, time.perf_counter() - t0)

    print(json.dumps({
        "bench": "market_dayahead_clearing",
        "mtus": T,
        "steps_per_mtu": K,
        "clear_s": round(best, 5),
        "clear_json_bids_with_background_s": round(full, 5),
        "lp_highs_s": round(lp_wall, 5),
        "lp_over_clear": round(lp_wall / best, 1),
        "welfare_rel_diff": abs(welfare - lp_welfare) / max(1.0, abs(lp_welfare)),
        "max_price_diff_unique_EUR_per_MWh": float(dp.max()) if dp.size else 0.0,
        "mtus_with_unique_price": int(unique.sum()),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

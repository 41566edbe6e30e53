"""Benchmark: time per feeder power flow for 150 and 1000 houses (power-flow part).

For each fleet size N the bundled Danish grid is built (N houses; 200 per 400 kVA substation,
so 1000 houses = 5 substations in one network), loaded with a sampled fleet's household base
load plus a seeded on/off heat-pump draw, and stepped ``--n-pf`` times. Figures per size: build
time; mean wall time per ``Feeder.step`` (one recycled Newton–Raphson power flow plus the
vectorised mapping and result extraction) and per pandapower ``runpp`` inside it; the floor
measured in the same run — a plain ``pandapower.runpp`` on the same network with default
options (fresh model, full result tables) — and the ratio; the number of power flows per
simulated week at 5-min flows (2016) times the step cost. numba compile time is excluded by
warm-up steps. Prints one JSON line.

Usage: python bench/feeder_fleet.py [--sizes 150 1000] [--n-pf 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandapower as pp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.feeder import Feeder  # noqa: E402
from simulators.fleet import sample_fleet  # noqa: E402

WEEK_FLOWS_5MIN = 7 * 24 * 12


def _loads(n: int, seed: int, steps: int) -> np.ndarray:
    """(steps, n) house powers, kW: base load + heat pump on (rated/3 electric) or off."""
    fleet = sample_fleet(n, seed=seed)
    base = fleet.base_load(datetime(2024, 1, 15))
    rng = np.random.default_rng(seed)
    p_hp = fleet.Q_rated_kW / 3.0  # ~ rated heat / COP 3
    out = np.empty((steps, n))
    for k in range(steps):
        on = rng.random(n) < 0.6
        out[k] = base.step(300.0, 16 * 3600.0 + 300.0 * k) + on * p_hp
    return out


def bench_size(n: int, n_pf: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    feeder = Feeder.danish(n)
    build_s = time.perf_counter() - t0
    loads = _loads(n, seed, n_pf + 3)
    for k in range(3):  # warm-up: first (full) power flow and numba compilation
        feeder.step(300.0, loads[k])
    feeder.n_power_flows, feeder.pf_time_s = 0, 0.0
    t0 = time.perf_counter()
    for k in range(3, n_pf + 3):
        out = feeder.step(300.0, loads[k])
    step_s = (time.perf_counter() - t0) / n_pf
    # floor: plain pandapower on the same network and loads, default options
    net = copy.deepcopy(feeder.net)
    pp.runpp(net)
    reps = max(5, n_pf // 10)
    t0 = time.perf_counter()
    for _ in range(reps):
        pp.runpp(net)
    plain_s = (time.perf_counter() - t0) / reps
    return {
        "houses": n,
        "buses": feeder.n_bus,
        "transformers": int(len(feeder.net.trafo)),
        "build_s": round(build_s, 3),
        "us_per_step": round(step_s * 1e6, 1),
        "us_per_runpp": round(feeder.mean_pf_time_us, 1),
        "us_per_plain_runpp": round(plain_s * 1e6, 1),
        "plain_over_step": round(plain_s / step_s, 2),
        "week_5min_flows_s": round(step_s * WEEK_FLOWS_5MIN, 1),
        "trafo_loading_max_pct_last": round(float(out["trafo_loading_max_pct"]), 1),
        "v_min_pu_last": round(float(out["v_min_pu"]), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 1000])
    ap.add_argument("--n-pf", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = [bench_size(n, args.n_pf, args.seed) for n in args.sizes]
    print(json.dumps({
        "bench": "feeder_power_flow",
        "pandapower": pp.__version__,
        "n_pf": args.n_pf,
        "sizes": results,
    }))


if __name__ == "__main__":
    main()

"""Benchmark: the dynamic Nordic frequency model at dt = 0.1 s, inside mosaik vs bare.

Prints one JSON line: simulated seconds per wall second of ``NordicFrequency`` stepped by the
generic in-process adapter (``simulators.cosim.base:CoreSim``, one entity, mosaik World with
time_resolution = 0.1 and step_size 1) and of the same model stepped in a plain Python loop in the
same run (the floor), plus their ratio.  Usage: python bench/frequency.py [--hours H] (default 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mosaik  # noqa: E402

from simulators.frequency import NordicFrequency  # noqa: E402

OUTPUTS = ["f_Hz", "rocof_Hz_per_s", "imbalance_MW", "fcr_n_activation_frac",
           "fcr_d_up_activation_frac", "fcr_d_down_activation_frac"]  # fmt: skip
DT_S = 0.1


def _bare(steps: int) -> float:
    """Wall time of ``steps`` bare model steps."""
    model = NordicFrequency(seed=1, incidents=[(600.0, 1450.0)])
    step = model.step
    t0 = time.perf_counter()
    for _ in range(steps):
        step(DT_S, 0.0)
    return time.perf_counter() - t0


def _mosaik(steps: int) -> float:
    """Wall time of ``steps`` steps of the model inside mosaik (one in-process simulator)."""
    world = mosaik.World({"Core": {"python": "simulators.cosim.base:CoreSim"}},
                         time_resolution=DT_S, debug=False, cache=False, skip_greetings=True)
    sim = world.start("Core", sim_id="Grid", model="Grid", inputs=["P_hp_response_MW"],
                      outputs=OUTPUTS, step_size=1)
    sim.Grid.create(1, core=NordicFrequency(seed=1, incidents=[(600.0, 1450.0)]), eid="grid")
    t0 = time.perf_counter()
    world.run(until=steps, print_progress=False)
    wall = time.perf_counter() - t0
    world.shutdown()
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1.0)
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logging.disable(logging.INFO)
    sim_s = args.hours * 3600.0
    steps = int(round(sim_s / DT_S))
    bare_s = _bare(steps)
    mosaik_s = _mosaik(steps)
    print(json.dumps({
        "bench": "frequency", "dt_s": DT_S, "sim_s": sim_s, "steps": steps,
        "mosaik_wall_s": round(mosaik_s, 3), "bare_wall_s": round(bare_s, 3),
        "mosaik_sim_s_per_wall_s": round(sim_s / mosaik_s, 1),
        "bare_sim_s_per_wall_s": round(sim_s / bare_s, 1),
        "mosaik_us_per_step": round(mosaik_s / steps * 1e6, 2),
        "bare_us_per_step": round(bare_s / steps * 1e6, 2),
        "ratio": round(mosaik_s / bare_s, 2),
    }))


if __name__ == "__main__":
    main()

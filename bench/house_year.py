"""Benchmark: one house, one year at 60 s steps, all simulators and the Parquet recorder.

Prints one JSON line: wall time, simulated seconds per wall second, and the ratio to the floor —
the same mosaik topology with no-op simulators and a no-op recorder, measured in the same run.
Usage: python bench/house_year.py [--days N] (default 365).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _floor import Frozen, NoOpRecorder  # noqa: E402,F401

from adapters import parquet as parquet_mod  # noqa: E402
from scenarios import schema  # noqa: E402
from scenarios.catalog import resolve_scenario_path  # noqa: E402
from scenarios.world import SIM_CONFIG, Site, assemble, build_site  # noqa: E402


def _frozen_site(sc: schema.Scenario) -> Site:
    """Cores replaced by constants captured from one real step of each."""
    real = build_site(sc)
    w = real.weather.at(0.0)
    p = {**real.prices.at(0.0), "price_forecast": real.prices.forecast(0.0)}
    d = {"Q_dhw_demand_kW": real.demand.mean_kW(0.0, sc.step)}
    b = real.building.step(sc.step, Q_heat_kW=1.0, T_out_C=0.0)
    hp = real.heatpump.step(sc.step, Q_req_kW=1.0, T_out_C=0.0, T_out_24h_C=0.0,
                            T_out_168h_C=0.0)
    t = real.tank.step(sc.step)
    t["E_stored_kWh"] = real.tank.energy_kWh()
    c = real.controller.step(sc.step, T_room_C=np.full(1, 21.0), T_out_C=0.0,
                             T_layers_C=t["T_layers_C"], price_forecast=p["price_forecast"])
    return Site(Frozen(w), Frozen(p), Frozen(d), Frozen(b), Frozen(hp), Frozen(t),
                Frozen(c, needs_time=True), real.info)


def _run(sc: schema.Scenario, floor: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if floor:
            cfg = {**SIM_CONFIG, "Recorder": {"python": "_floor:NoOpRecorder"}}
            a = assemble(sc, Path(tmp), "bench", sim_config=cfg, site=_frozen_site(sc))
        else:
            a = assemble(sc, Path(tmp), "bench")
        t0 = time.perf_counter()
        a.world.run(until=a.until, print_progress=False)
        for rec in list(parquet_mod.ACTIVE):
            rec.close()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=365.0)
    args = ap.parse_args()
    import logging

    from loguru import logger
    logger.remove()
    logging.disable(logging.INFO)
    sc, _ = schema.load_scenario(resolve_scenario_path("residential_house"))
    sc = schema.validate_data({**schema.resolved_dict(sc), "duration": args.days * 86400.0})
    sim_s = sc.duration_s
    floor_s = _run(sc, floor=True)
    real_s = _run(sc, floor=False)
    steps = int(sim_s // sc.step)
    print(json.dumps({
        "bench": "house_year", "simulated_days": args.days, "step_s": sc.step, "steps": steps,
        "wall_s": round(real_s, 2), "sim_s_per_wall_s": round(sim_s / real_s, 1),
        "us_per_step": round(real_s / steps * 1e6, 1),
        "floor_wall_s": round(floor_s, 2), "floor_us_per_step": round(floor_s / steps * 1e6, 1),
        "ratio_to_floor": round(real_s / floor_s, 3), "target_ratio": 1.5,
    }))


if __name__ == "__main__":
    main()

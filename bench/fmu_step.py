"""Benchmark: per instance-step cost of the FMU simulator inside mosaik vs raw fmpy doStep.

For n = 1 and n = 100 instances of the counter2 test FMU (one Real input, one Real output):
(a) raw fmpy: setReal / doStep / getReal on FMU2Slave with preallocated ctypes arrays;
(b) FmuUnits hosted by CoreSim in a mosaik World, fed by a second CoreSim source, minus
(c) the floor: the same World with a no-op core in place of FmuUnits.
Prints one JSON line; ratio = (b - c) / a per instance-step (target <= 2).
At n = 1 the adapter's few microseconds sit on a mosaik floor of ~200 us per step, so that
figure is noisy; n = 100 is the meaningful one.
Usage: python bench/fmu_step.py [--steps1 N] [--steps100 N] [--repeat N]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from simulators.fmu import FmuMapping, FmuUnits, extract_fmu, read_description  # noqa: E402
from simulators.fmu_build import build_fmu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAPPING = FmuMapping(inputs={"rate": "rate"}, outputs={"level": "level"})


class _Const:
    """Source / no-op core: returns the same outputs every step."""

    def __init__(self, outputs: dict[str, Any]):
        self.outputs = outputs

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        return self.outputs


def raw_fmpy(path: Path, n: int, steps: int) -> float:
    """Seconds per instance-step of a plain fmpy loop with preallocated arrays."""
    from fmpy.fmi2 import FMU2Slave

    md = read_description(path)
    unzip = extract_fmu(path)
    vr_in = (ctypes.c_uint * 1)(0)
    vr_out = (ctypes.c_uint * 1)(2)
    val_in = (ctypes.c_double * 1)(0.5)
    val_out = (ctypes.c_double * 1)()
    fmus = []
    for i in range(n):
        f = FMU2Slave(guid=md.guid, unzipDirectory=str(unzip),
                      modelIdentifier=md.coSimulation.modelIdentifier, instanceName=f"raw{i}")
        f.instantiate()
        f.setupExperiment(startTime=0.0)
        f.enterInitializationMode()
        f.exitInitializationMode()
        fmus.append(f)
    pairs = [(f, f.component) for f in fmus]
    t0 = time.perf_counter()
    t = 0.0
    for _ in range(steps):
        for f, c in pairs:
            f.fmi2SetReal(c, vr_in, 1, val_in)
            f.fmi2DoStep(c, t, 1.0, 1)
            f.fmi2GetReal(c, vr_out, 1, val_out)
        t += 1.0
    dt = time.perf_counter() - t0
    for f in fmus:
        f.terminate()
        f.freeInstance()
    return dt / (steps * n)


def in_mosaik(path: Path, n: int, steps: int, floor: bool) -> float:
    """Wall seconds of ``steps`` mosaik steps: source -> FMU fleet (or a no-op core)."""
    import mosaik

    world = mosaik.World({"Core": {"python": "simulators.cosim.base:CoreSim"}},
                         time_resolution=1.0, debug=False, cache=False, skip_greetings=True)
    rate = np.full(n, 0.5)
    src_sim = world.start("Core", sim_id="Src", model="Src", inputs=[], outputs=["rate"],
                          step_size=1)
    src = src_sim.Src.create(1, core=_Const({"rate": rate}), eid="src")[0]
    core: Any
    if floor:
        core = _Const({"level": np.zeros(n)})
    else:
        core = FmuUnits(path, n, MAPPING, step_s=1.0)
    f_sim = world.start("Core", sim_id="Fmu", model="Fmu", inputs=["rate"], outputs=["level"],
                        step_size=1)
    fmu = f_sim.Fmu.create(1, core=core, eid="fmu", initial={"level": np.zeros(n)})[0]
    world.connect(src, fmu, "rate")
    t0 = time.perf_counter()
    world.run(until=steps, print_progress=False)
    dt = time.perf_counter() - t0
    if not floor:
        core.terminate()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps1", type=int, default=10000, help="mosaik steps with n = 1")
    ap.add_argument("--repeat", type=int, default=3, help="repeats (min is reported)")
    ap.add_argument("--steps100", type=int, default=1000, help="mosaik steps with n = 100")
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_fmu(ROOT / "tests" / "fmus" / "counter2", out_dir=tmp,
                         shared=ROOT / "tests" / "fmus" / "common2")
        result: dict[str, Any] = {"bench": "fmu_step", "fmu": "counter2 (FMI 2.0 CS)",
                                  "io": "1 Real in, 1 Real out", "target_ratio": 2.0}
        for n, steps in ((1, args.steps1), (100, args.steps100)):
            raw = min(raw_fmpy(path, n, steps) for _ in range(args.repeat))
            in_mosaik(path, n, min(steps, 2000), floor=True)  # warm-up
            floors, fulls = [], []
            for _ in range(args.repeat):  # interleaved, min of repeats: the machine is shared
                floors.append(in_mosaik(path, n, steps, floor=True))
                fulls.append(in_mosaik(path, n, steps, floor=False))
            floor, full = min(floors), min(fulls)
            adapter = (full - floor) / (steps * n)
            result[f"n{n}"] = {
                "steps": steps,
                "raw_fmpy_us": round(raw * 1e6, 2),
                "mosaik_floor_us_per_step": round(floor / steps * 1e6, 1),
                "mosaik_fmu_us_per_step": round(full / steps * 1e6, 1),
                "adapter_us_per_instance_step": round(adapter * 1e6, 2),
                "ratio_adapter_to_raw": round(adapter / raw, 2),
            }
        print(json.dumps(result))


if __name__ == "__main__":
    main()

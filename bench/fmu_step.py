"""Benchmark: per instance-step cost of the FMU simulator (mosaik adapter) vs raw fmpy.

What is compared (same FMU, same variables set and got, same number of steps, n = 1 and 100
instances of the counter2 test FMU: one Real input, one Real output):

- ``raw_fmpy_us``: a plain fmpy loop — ``fmi2SetReal`` / ``fmi2DoStep`` / ``fmi2GetReal`` of
  ``FMU2Slave`` with preallocated ctypes value-reference and value arrays (the fastest way to
  drive an FMU from Python through fmpy).
- ``adapter_us``: what mosaik asks of the FMU simulator each step — ``CoreSim.step`` (input
  merge, ``FmuUnits.step``: unit mapping, set / doStep / get for every instance, fresh output
  arrays) plus ``CoreSim.get_data`` — called with inputs shaped as mosaik delivers them.
  ``ratio_adapter_to_raw`` = adapter_us / raw_fmpy_us is the issue's target (<= 2).
- Beside it, not part of either: ``coresim_noop_us`` (the same CoreSim calls around a no-op
  core: the generic adapter's share) and the mosaik scheduler, measured in a World (source ->
  core) with three cores in turn: a no-op (``mosaik_floor_us_per_step``: the scheduler's own
  cost), raw fmpy as a core (``_RawFmpy``: input copied into a preallocated array, the same fmpy
  calls, output a view — the least any adapter must do) and FmuUnits.  Their differences to the
  floor per instance-step (``mosaik_raw_diff_us_per_instance_step``,
  ``mosaik_fmu_diff_us_per_instance_step``) and ``ratio_in_mosaik_fmu_to_raw`` compare the two in
  the same surroundings: inside the scheduler both cost more than in a tight loop, and at
  n = 1 these differences sit within the noise of the ~200 us floor.

Times are CPU seconds of this process (``time.process_time``; everything runs in its one
thread, so other load on a shared machine is largely not counted) and every figure is the median of
``--repeat`` interleaved repeats.
Prints one JSON line.  Usage: python bench/fmu_step.py [--steps1 N] [--steps100 N] [--repeat N]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from simulators.cosim.base import CoreSim  # noqa: E402
from simulators.fmu import FmuMapping, FmuUnits, extract_fmu, read_description  # noqa: E402
from simulators.fmu_build import build_fmu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAPPING = FmuMapping(inputs={"rate": "rate"}, outputs={"level": "level"})
RATE = 0.5
_clock = time.process_time
"""CPU seconds of this process: every part (fmpy, the adapter, mosaik with in-process simulators)
runs in this one thread, and other load on a shared machine does not count against it."""


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
    by_name = {v.name: v for v in md.modelVariables}
    vr_in = (ctypes.c_uint * 1)(by_name["rate"].valueReference)
    vr_out = (ctypes.c_uint * 1)(by_name["level"].valueReference)
    val_in = (ctypes.c_double * 1)(RATE)
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
    t0 = _clock()
    t = 0.0
    for _ in range(steps):
        for f, c in pairs:
            f.fmi2SetReal(c, vr_in, 1, val_in)
            f.fmi2DoStep(c, t, 1.0, 1)
            f.fmi2GetReal(c, vr_out, 1, val_out)
        t += 1.0
    dt = _clock() - t0
    for f in fmus:
        f.terminate()
        f.freeInstance()
    return dt / (steps * n)


def adapter_direct(path: Path | None, n: int, steps: int) -> float:
    """Seconds per instance-step of CoreSim.step + get_data hosting FmuUnits (None: no-op core),
    called as mosaik calls them (inputs keyed by entity, attribute and source)."""
    sim = CoreSim()
    sim.init("Fmu", 1.0, model="Fmu", inputs=["rate"], outputs=["level"], step_size=1)
    core: Any = (_Const({"level": np.zeros(n)}) if path is None
                 else FmuUnits(path, n, MAPPING, step_s=1.0))
    sim.create(1, "Fmu", core=core, eid="fmu", initial={"level": np.zeros(n)})
    inputs = {"fmu": {"rate": {"Src-0.src": np.full(n, RATE)}}}
    request = {"fmu": ["level"]}
    step, get_data = sim.step, sim.get_data
    t0 = _clock()
    for k in range(steps):
        step(k, inputs, steps)
        get_data(request)
    dt = _clock() - t0
    if path is not None:
        core.terminate()
    return dt / (steps * n)


class _RawFmpy:
    """raw fmpy as a mosaik core: the input copied into a preallocated array, then fmpy's
    fmi2SetReal / fmi2DoStep / fmi2GetReal per instance with prebuilt pointers into it; the
    output is a view of the value array (no conversion, no fresh arrays)."""

    def __init__(self, path: Path, n: int):
        from fmpy.fmi2 import FMU2Slave

        md = read_description(path)
        unzip = extract_fmu(path)
        by_name = {v.name: v for v in md.modelVariables}
        self.vr_in = (ctypes.c_uint * 1)(by_name["rate"].valueReference)
        self.vr_out = (ctypes.c_uint * 1)(by_name["level"].valueReference)
        self.val_in, self.val_out = np.full(n, RATE), np.zeros(n)
        dp = ctypes.POINTER(ctypes.c_double)
        self.fmus, self.calls = [], []
        for i in range(n):
            f = FMU2Slave(guid=md.guid, unzipDirectory=str(unzip),
                          modelIdentifier=md.coSimulation.modelIdentifier, instanceName=f"rw{i}")
            f.instantiate()
            f.setupExperiment(startTime=0.0)
            f.enterInitializationMode()
            f.exitInitializationMode()
            self.fmus.append(f)
            self.calls.append((f, f.component,
                               ctypes.cast(self.val_in.ctypes.data + 8 * i, dp),
                               ctypes.cast(self.val_out.ctypes.data + 8 * i, dp)))
        self.out = {"level": self.val_out}
        self.t = 0.0

    def step(self, dt_s: float, rate: Any) -> dict[str, Any]:
        self.val_in[:] = rate
        vr_in, vr_out, t = self.vr_in, self.vr_out, self.t
        for f, c, p_in, p_out in self.calls:
            f.fmi2SetReal(c, vr_in, 1, p_in)
            f.fmi2DoStep(c, t, dt_s, 1)
            f.fmi2GetReal(c, vr_out, 1, p_out)
        self.t = t + dt_s
        return self.out

    def terminate(self) -> None:
        for f in self.fmus:
            f.terminate()
            f.freeInstance()


def in_mosaik(path: Path, n: int, steps: int, mode: str) -> float:
    """CPU seconds per step of a mosaik World: source -> FMU fleet (mode "fmu"), raw fmpy
    ("raw") or a no-op core ("floor")."""
    import mosaik

    world = mosaik.World({"Core": {"python": "simulators.cosim.base:CoreSim"}},
                         time_resolution=1.0, debug=False, cache=False, skip_greetings=True)
    src_sim = world.start("Core", sim_id="Src", model="Src", inputs=[], outputs=["rate"],
                          step_size=1)
    src = src_sim.Src.create(1, core=_Const({"rate": np.full(n, RATE)}), eid="src")[0]
    core: Any = {"floor": lambda: _Const({"level": np.zeros(n)}), "raw": lambda: _RawFmpy(path, n),
                 "fmu": lambda: FmuUnits(path, n, MAPPING, step_s=1.0)}[mode]()
    f_sim = world.start("Core", sim_id="Fmu", model="Fmu", inputs=["rate"], outputs=["level"],
                        step_size=1)
    fmu = f_sim.Fmu.create(1, core=core, eid="fmu", initial={"level": np.zeros(n)})[0]
    world.connect(src, fmu, "rate")
    t0 = _clock()
    world.run(until=steps, print_progress=False)
    dt = _clock() - t0
    if mode != "floor":
        core.terminate()
    return dt / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps1", type=int, default=10000, help="steps with n = 1")
    ap.add_argument("--steps100", type=int, default=1000, help="steps with n = 100")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved repeats (median reported)")
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logging.disable(logging.INFO)
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        path = build_fmu(ROOT / "tests" / "fmus" / "counter2", out_dir=tmp,
                         shared=ROOT / "tests" / "fmus" / "common2")
        result: dict[str, Any] = {
            "bench": "fmu_step", "fmu": "counter2 (FMI 2.0 CS)", "io": "1 Real in, 1 Real out",
            "target_ratio": 2.0,
            "compared": "adapter_us = CoreSim.step + CoreSim.get_data hosting FmuUnits (input "
                        "merge, unit mapping, set/doStep/get, output arrays) vs raw_fmpy_us = "
                        "fmpy FMU2Slave fmi2SetReal/fmi2DoStep/fmi2GetReal with preallocated "
                        "ctypes arrays; same FMU, variables and steps; per instance-step; the "
                        "mosaik scheduler is in neither and is reported beside (mosaik_*: a "
                        "World with a no-op core = floor, with raw fmpy as a core, with FmuUnits; "
                        "ratio_in_mosaik_fmu_to_raw compares their costs above the floor)",
            "statistic": f"process CPU time, median of {args.repeat} interleaved repeats",
        }
        for n, steps in ((1, args.steps1), (100, args.steps100)):
            in_mosaik(path, n, min(steps, 2000), "floor")  # warm-up
            adapter_direct(path, n, min(steps, 2000))
            runs: dict[str, list[float]] = {k: [] for k in ("raw", "adapter", "noop", "floor",
                                                            "world_raw", "world_fmu")}
            for _ in range(args.repeat):
                runs["raw"].append(raw_fmpy(path, n, steps))
                runs["adapter"].append(adapter_direct(path, n, steps))
                runs["noop"].append(adapter_direct(None, n, steps))
                for mode in ("floor", "raw", "fmu"):
                    runs["world_raw" if mode == "raw" else "world_fmu" if mode == "fmu"
                         else "floor"].append(in_mosaik(path, n, steps, mode))
            raw, adapter, noop = med(runs["raw"]), med(runs["adapter"]), med(runs["noop"])
            fl = runs["floor"]
            d_fmu = med(b - a for a, b in zip(fl, runs["world_fmu"], strict=True)) / n
            d_raw = med(b - a for a, b in zip(fl, runs["world_raw"], strict=True)) / n
            result[f"n{n}"] = {
                "steps": steps,
                "raw_fmpy_us": round(raw * 1e6, 2),
                "adapter_us": round(adapter * 1e6, 2),
                "ratio_adapter_to_raw": round(adapter / raw, 2),
                "adapter_added_us": round((adapter - raw) * 1e6, 2),
                "coresim_noop_us": round(noop * 1e6, 2),
                "mosaik_floor_us_per_step": round(med(fl) * 1e6, 1),
                "mosaik_raw_fmpy_us_per_step": round(med(runs["world_raw"]) * 1e6, 1),
                "mosaik_fmu_us_per_step": round(med(runs["world_fmu"]) * 1e6, 1),
                "mosaik_raw_diff_us_per_instance_step": round(d_raw * 1e6, 2),
                "mosaik_fmu_diff_us_per_instance_step": round(d_fmu * 1e6, 2),
                "ratio_in_mosaik_fmu_to_raw": round(d_fmu / d_raw, 2),
            }
        print(json.dumps(result))


if __name__ == "__main__":
    main()

"""HIL timing: step lateness with two Modbus devices, hil/pacer.py vs mosaik's own rt_factor.

Two virtual SG-Ready heat pumps run as separate processes (``heatflex serve``). A mosaik world
steps a pacer and two Modbus client entities (write SG-Ready state + heartbeat, read every point)
for ``--steps`` steps at 1 s and at 0.1 s. Lateness = when a client entity starts its step minus
the step's ideal wall time t0 + t (t0: the pacer's start; for rt_factor the median offset). The
same topology without the pacer, run with ``world.run(rt_factor=1)``, is the floor it is
compared against. Also: p99 of a Modbus read of 10 registers on loopback.

Prints one JSON line. Targets on this machine (issue #6): pacer p99 ≤ 5 ms at 0.1 s steps,
≤ 2 ms at 1 s steps; 10-register read p99 ≤ 2 ms.
Usage: ``python bench/hil.py [--steps 600] [--dts 1,0.1]`` (600 steps at 1 s take 10 min per mode).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mosaik
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.modbus import ClientCore, ModbusDeviceClient  # noqa: E402
from hil.pacer import Pacer  # noqa: E402
from hil.profile import load_profile  # noqa: E402

SIM_CONFIG = {"Core": {"python": "simulators.cosim.base:CoreSim"}}
HEATFLEX = str(Path(sys.executable).with_name("heatflex"))


class Stamped:
    """Records the monotonic time at which each step starts, then steps the wrapped core."""

    def __init__(self, core: Any, stamps: list[float]):
        self.core, self.stamps = core, stamps

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        self.stamps.append(time.monotonic())
        inputs.pop("wall_time_s", None)
        return self.core.step(dt_s, **inputs)


def _serve() -> tuple[subprocess.Popen[str], int]:
    p = subprocess.Popen([HEATFLEX, "serve", "sg_ready_heat_pump", "--port", "0", "--step",
                          "0.1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    return p, int(json.loads(p.stdout.readline())["port"])


def _percentiles(late_ms: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(late_ms, 50)), 3),
            "p99_ms": round(float(np.percentile(late_ms, 99)), 3),
            "max_ms": round(float(np.max(late_ms)), 3),
            "early_share": round(float(np.mean(late_ms < -0.5)), 3)}


def run_mode(ports: list[int], dt_s: float, steps: int, paced: bool,
             layout: str = "one") -> dict[str, float]:
    """Lateness of the device entities' steps (ms; negative = early) for one pacing mode.

    ``layout``: ``one`` = all devices in one simulator stepped in parallel threads (what
    scenarios/hil_world.py does); ``separate`` = one simulator per device (stepped one after
    the other by mosaik — the earlier layout, kept as a comparison)."""
    res = dt_s
    world = mosaik.World(SIM_CONFIG, time_resolution=res, skip_greetings=True)
    profile = load_profile("sg_ready_heat_pump")
    stamps: list[list[float]] = []
    cores = []
    pacer = Pacer(speed=1.0) if paced else None
    p_ent = None
    if pacer is not None:
        sim = world.start("Core", sim_id="Pacer", model="Pacer", inputs=[],
                          outputs=["wall_time_s", "lateness_ms"], step_size=1)
        p_ent = sim.Pacer.create(1, core=pacer, eid="pacer")[0]
    rb = [p.attr for p in profile.points if p.attr and p.readable]
    shared = None
    if layout == "one":
        shared = world.start("Core", sim_id="Devices", model="Device", inputs=["wall_time_s"],
                             outputs=[*rb, "device_ok", "latency_ms"], step_size=1,
                             parallel=True)
    for i, port in enumerate(ports):
        s: list[float] = []
        stamps.append(s)
        client = ModbusDeviceClient(profile, f"modbus://127.0.0.1:{port}", timeout_s=0.5)
        core = ClientCore(client)
        cores.append(core)
        sim = shared or world.start("Core", sim_id=f"Dev{i}", model="Device",
                                    inputs=["wall_time_s"],
                                    outputs=[*rb, "device_ok", "latency_ms"], step_size=1)
        ent = sim.Device.create(1, core=Stamped(core, s), eid=f"dev{i}")[0]
        if p_ent is not None:
            world.connect(p_ent, ent, "wall_time_s")
    t0 = time.monotonic()
    if paced:
        world.run(until=steps, print_progress=False)
    else:
        world.run(until=steps, rt_factor=1.0, print_progress=False)
    for c in cores:
        c.close()
    # ideal wall time of step k: t_ref + k·dt. The paced run's reference is the pacer's own
    # t0; for rt_factor it is the median offset of the device steps from the grid (the most
    # favourable constant for mosaik: only jitter and early firing remain)
    late = []
    for s in stamps:
        arr = np.asarray(s) - np.arange(len(s)) * dt_s
        ref = pacer._t0 if pacer is not None and pacer._t0 is not None else float(np.median(arr))
        late.append((arr - ref) * 1e3)
    out = _percentiles(np.concatenate(late))
    out["wall_s"] = round(time.monotonic() - t0, 2)
    if pacer is not None:
        ps = pacer.stats.summary()
        out["pacer_wake_p99_ms"] = round(float(ps["lateness_p99_ms"]), 3)
    return out


def read_latency(port: int, n: int = 2000) -> dict[str, float]:
    """Latency of reading 10 input registers, ms."""
    from pymodbus.client import ModbusTcpClient

    c = ModbusTcpClient("127.0.0.1", port=port, timeout=1)
    c.connect()
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        rr = c.read_input_registers(0, count=10, device_id=1)
        lat.append((time.perf_counter() - t) * 1e3)
        assert not rr.isError()
    c.close()
    a = np.asarray(lat)
    return {"read10_p50_ms": round(float(np.percentile(a, 50)), 3),
            "read10_p99_ms": round(float(np.percentile(a, 99)), 3), "reads": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--dts", default="1,0.1", help="step lengths, s (comma-separated)")
    ap.add_argument("--modes", default="pacer,rt_factor",
                    help="pacer and/or rt_factor (the floor), comma-separated")
    ap.add_argument("--layout", default="one", choices=["one", "separate"],
                    help="devices in one parallel simulator (default) or one simulator each")
    args = ap.parse_args()
    procs = [_serve(), _serve()]
    try:
        time.sleep(1.0)
        ports = [p for _, p in procs]
        result: dict[str, Any] = {"bench": "hil", "steps": args.steps, "devices": len(ports),
                                  "layout": args.layout}
        for dt in (float(x) for x in args.dts.split(",")):
            key = f"dt_{dt:g}s"
            modes = args.modes.split(",")
            result[key] = {}
            if "pacer" in modes:
                result[key]["pacer"] = run_mode(ports, dt, args.steps, paced=True,
                                                     layout=args.layout)
            if "rt_factor" in modes:
                result[key]["mosaik_rt_factor_floor"] = run_mode(ports, dt, args.steps,
                                                                 paced=False, layout=args.layout)
        result.update(read_latency(ports[0]))
    finally:
        for p, _ in procs:
            p.terminate()
            p.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

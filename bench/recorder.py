"""Fleet recording into InfluxDB: prints ONE JSON line of field values/s, ours vs the Point floor.

A fleet of ``--houses`` houses (default 1000) is recorded for ``--steps`` steps of ``--step-s``
seconds (default one simulated day of 60 s steps) through :class:`adapters.influx.InfluxRecorder`
exactly as mosaik drives it: one ``step()`` per time step whose inputs are the fleet's vectorised
arrays (``inputs[eid][attr][src] = ndarray(N)``; tank layers ``(N, L)``) for the building,
heat-pump and tank attribute sets of ``scenarios.world``; the recorder flushes every
``--flush-s`` of simulated time (the scenario default, 600 s) into a real victoria-metrics started
here on 127.0.0.1 (Debian package ``victoria-metrics``, v2 write API).

The floor, measured in the same run on the same data (the first ``--floor-steps`` steps, scaled
per field value): mosaik-influxdb2's approach — one influxdb-client ``Point`` per attribute and
entity, through the client's batching ``WriteApi``.  ``point_rows`` is a kinder variant (one
``Point`` per entity and step carrying all its fields), reported for reference.

Zero loss is verified by read-back: victoria-metrics counts the samples of each run
(``count_over_time`` over the whole run) and they must equal the field values sent.
Time of our path: only the recorder's ``step()`` calls and its ``finalize()`` (the fleet's own
array generation is excluded; so is the floor's).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from servers import VictoriaMetrics, http  # noqa: E402

from adapters.influx import InfluxRecorder  # noqa: E402
from adapters.records import SourceInfo  # noqa: E402
from scenarios.world import BUILDING_OUT, HEATPUMP_OUT, TANK_OUT  # noqa: E402

START = datetime(2026, 1, 12, tzinfo=UTC)
BUCKET = "bench"
N_LAYERS = 8
SOURCES = {"Fleet.building": ("building", BUILDING_OUT),
           "Fleet.heatpump": ("heatpump", HEATPUMP_OUT), "Fleet.tank": ("tank", TANK_OUT)}
"""Fleet sources (mosaik full ids) -> (measurement, attributes), as scenarios/world.py records."""


class Fleet:
    """Vectorised fleet outputs per step, as the fleet simulators hand them to a recorder."""

    def __init__(self, n_houses: int, seed: int = 1):
        self.n = n_houses
        self.rng = np.random.default_rng(seed)

    def outputs(self, k: int) -> dict[str, dict[str, np.ndarray]]:
        """``{attr: {src_full_id: array}}`` of step ``k`` (fresh arrays: never mutated later)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for src, (_m, attrs) in SOURCES.items():
            for a in attrs:
                if a == "T_layers_C":
                    v = 55.0 - 3.0 * np.arange(N_LAYERS) + self.rng.normal(0, 1, (self.n, N_LAYERS))
                elif a in ("on", "starts"):
                    v = (self.rng.random(self.n) < 0.4).astype(float) * (1 + k // 60)
                else:
                    v = self.rng.normal(20.0, 5.0, self.n)
                out.setdefault(a, {})[src] = v
        return out

    def values_per_step(self) -> int:
        """Field values one step produces (layers count one each)."""
        per_house = sum(len(attrs) for _m, attrs in SOURCES.values()) - 1 + N_LAYERS
        return self.n * per_house


def sources() -> dict[str, SourceInfo]:
    return {src: SourceInfo(m, "house") for src, (m, _a) in SOURCES.items()}


def run_ours(url: str, tmp: Path, run_id: str, fleet: Fleet, steps: int, step_s: int,
             flush_s: float, batch_size: int, gzip: bool, background: bool,
             profile: bool) -> tuple[float, dict[str, Any],
                                                                      str | None]:
    """Record through InfluxRecorder as mosaik drives it; return (seconds, stats, profile)."""
    rec = InfluxRecorder()
    rec.init("Influx0", time_resolution=1.0, step_size=step_s)
    cpu = 0.0
    rec.create(1, "Recorder", out_dir=str(tmp / run_id), run_id=run_id, scenario="bench",
               start=START, sources=sources(), url=url, api="v2", bucket=BUCKET,
               flush_interval_s=flush_s, batch_size=batch_size, gzip=gzip,
               background=background)
    prof = cProfile.Profile() if profile else None
    elapsed = 0.0
    for k in range(steps):
        inputs = {"influx_recorder": fleet.outputs(k)}
        t, c = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        rec.step(k * step_s, inputs, max_advance=k * step_s)
        if prof:
            prof.disable()
        elapsed += time.perf_counter() - t
        cpu += time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    rec.finalize()
    elapsed += time.perf_counter() - t
    cpu += time.process_time() - c
    text = None
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
        text = s.getvalue()
    return elapsed, {**rec.close(), "cpu_s": cpu}, text


def run_points(url: str, run_id: str, fleet: Fleet, steps: int, step_s: int,
               per_attribute: bool) -> tuple[float, int]:
    """The floor: influxdb-client Point objects through the batching WriteApi.
    Returns (seconds, field values written)."""
    from influxdb_client import InfluxDBClient, Point, WriteOptions

    start_s = int(START.timestamp())
    ents = [f"house-{i}" for i in range(fleet.n)]
    client = InfluxDBClient(url=url, token="", org="-")
    wa = client.write_api(write_options=WriteOptions(batch_size=5000, flush_interval=1000))
    elapsed = 0.0
    n_values = 0
    for k in range(steps):
        data = fleet.outputs(k)
        ts = start_s + k * step_s
        t = time.perf_counter()
        for src, (meas, attrs) in SOURCES.items():
            cols: dict[str, list[float]] = {}
            for a in attrs:
                v = data[a][src]
                if v.ndim == 2:
                    for j in range(v.shape[1]):
                        cols[f"{a}_{j}"] = v[:, j].tolist()
                else:
                    cols[a] = v.tolist()
            for i, ent in enumerate(ents):
                if per_attribute:  # mosaik-influxdb2: one Point per attribute and entity
                    for name, col in cols.items():
                        p = (Point(meas).tag("entity", ent).tag("run_id", run_id)
                             .tag("scenario", "bench").tag("source", "sim")
                             .field(name, col[i]).time(ts, "s"))
                        wa.write(bucket=BUCKET, record=p, write_precision="s")
                else:
                    p = (Point(meas).tag("entity", ent).tag("run_id", run_id)
                         .tag("scenario", "bench").tag("source", "sim").time(ts, "s"))
                    for name, col in cols.items():
                        p.field(name, col[i])
                    wa.write(bucket=BUCKET, record=p, write_precision="s")
            n_values += len(ents) * len(cols)
        elapsed += time.perf_counter() - t
    t = time.perf_counter()
    wa.close()  # flushes what is batched
    client.close()
    elapsed += time.perf_counter() - t
    return elapsed, n_values


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def samples_landed(vm: VictoriaMetrics, run_id: str, t_end_s: int) -> int:
    """Samples victoria-metrics holds for ``run_id`` (all measurements and fields)."""
    http("GET", vm.url + "/internal/force_flush")
    span = t_end_s - int(START.timestamp()) + 3600
    q = urllib.parse.urlencode({
        "query": f'sum(count_over_time({{run_id="{run_id}"}}[{span}s]))', "time": str(t_end_s),
        "nocache": "1"})
    status, body = http("GET", f"{vm.url}/api/v1/query?{q}", timeout=120)
    assert status == 200, body[:500]
    result = json.loads(body)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--houses", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=1440, help="steps (default: one day of 60 s)")
    ap.add_argument("--step-s", type=int, default=60)
    ap.add_argument("--flush-s", type=float, default=600.0, help="recorder flush interval")
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--no-gzip", action="store_true", help="send uncompressed (default: gzip)")
    ap.add_argument("--sync", action="store_true",
                    help="send from the stepping thread (default: the recorder's sender thread)")
    ap.add_argument("--floor-steps", type=int, default=3,
                    help="steps of the (slow) Point floor; figures are per field value")
    ap.add_argument("--profile", action="store_true",
                    help="print a cProfile of our path to stderr")
    args = ap.parse_args()

    fleet = Fleet(args.houses)
    per_step = fleet.values_per_step()
    out: dict[str, Any] = {"houses": args.houses, "steps": args.steps, "step_s": args.step_s,
                           "field_values_per_step": per_step, "gzip": not args.no_gzip,
                           "background_sender": not args.sync}
    t_end = int(START.timestamp()) + args.steps * args.step_s
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        vm = VictoriaMetrics(tmp / "vm").start()
        try:
            vm_cpu0 = proc_cpu_s(vm.proc.pid)  # type: ignore[union-attr]
            dt, stats, prof = run_ours(vm.url, tmp, "ours", fleet, args.steps, args.step_s,
                                       args.flush_s, args.batch_size, not args.no_gzip,
                                       not args.sync, args.profile)
            n_ours = per_step * args.steps
            assert stats["points_lost"] == 0 and stats["points_pending"] == 0, stats
            assert stats["points_spooled"] == 0 and not stats["lines_rejected"], stats
            out["ours_field_values"] = n_ours
            out["ours_s"] = round(dt, 2)
            out["ours_field_values_per_s"] = round(n_ours / dt)
            # load-independent view: CPU seconds of our process (both threads) and of the server
            out["ours_client_cpu_s"] = round(stats["cpu_s"], 2)
            out["server_cpu_s"] = round(proc_cpu_s(vm.proc.pid) - vm_cpu0, 2)  # type: ignore
            out["load_avg_1min"] = round(__import__("os").getloadavg()[0], 2)

            floor: dict[str, tuple[float, int]] = {}
            for key, per_attr in (("point_per_value", True), ("point_rows", False)):
                floor[key] = run_points(vm.url, key, Fleet(args.houses), args.floor_steps,
                                        args.step_s, per_attr)
                out[f"{key}_field_values"] = floor[key][1]
                out[f"{key}_field_values_per_s"] = round(floor[key][1] / floor[key][0])

            t_floor_end = int(START.timestamp()) + args.floor_steps * args.step_s
            landed = {"ours": samples_landed(vm, "ours", t_end)}
            for key in floor:
                landed[key] = samples_landed(vm, key, t_floor_end)
            out["landed"] = landed
            out["zero_loss"] = (landed["ours"] == n_ours
                                and all(landed[k] == floor[k][1] for k in floor))
        finally:
            vm.stop()
    for key in ("point_per_value", "point_rows"):
        out[f"ratio_to_{key}"] = round(out["ours_field_values_per_s"]
                                       / out[f"{key}_field_values_per_s"], 1)
    out["target_500k_met"] = out["ours_field_values_per_s"] >= 500_000
    out["target_10x_met"] = out["ratio_to_point_per_value"] >= 10
    if prof:
        print(prof, file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

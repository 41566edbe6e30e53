"""InfluxDB write throughput: prints one JSON line of points/s (1 point = 1 line = 1 row).

A fleet frame (``--houses`` entities x ``--steps`` steps x 10 float fields, as RecordBuffer
makes it) is written to a victoria-metrics started on 127.0.0.1 (Debian package
``victoria-metrics``) through the v2 write API, four ways:

- ``serialize_vectorised``: adapters.lineprotocol alone, no network (the formatting cost);
- ``sink_vectorised``: InfluxSink = vectorised line protocol + gzip + synchronous batched writes
  (``_nogzip``: the same without compression);
- ``client_dataframe``: influxdb-client's own DataFrame path (``write(record=DataFrame)``, sync);
- ``client_points`` (the floor): influxdb-client Point objects through the batching WriteApi —
  the per-value path DESIGN.md measured at ~22k points/s.
Ratios are against the floor, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import VictoriaMetrics, http  # noqa: E402

from adapters.influx import InfluxSink  # noqa: E402
from adapters.lineprotocol import to_line_protocol  # noqa: E402
from adapters.records import RecordBuffer, SourceInfo  # noqa: E402

FIELDS = [f"x{j}_kW" for j in range(10)]


def fleet_frame(n_houses: int, n_steps: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    buf = RecordBuffer("bench", "bench", datetime(2026, 1, 12, tzinfo=UTC),
                       {"F.f": SourceInfo("building", "house")})
    for k in range(n_steps):
        buf.add(60.0 * k, {f: {"F.f": rng.normal(20, 5, n_houses)} for f in FIELDS})
    return buf.take_frames()["building"]


def count(vm: VictoriaMetrics, run_id: str) -> int:
    http("GET", vm.url + "/internal/force_flush")
    series = vm.export(f'{{__name__="building_x0_kW",run_id="{run_id}"}}')
    return sum(len(s["values"]) for s in series)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--houses", type=int, default=100)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--floor-rows", type=int, default=10_000,
                    help="rows for the (slow) Point-object floor")
    args = ap.parse_args()
    from influxdb_client import InfluxDBClient, Point, WriteOptions
    from influxdb_client.client.write_api import SYNCHRONOUS

    frame = fleet_frame(args.houses, args.steps)
    n = len(frame)
    out: dict[str, object] = {"rows": n, "fields_per_row": len(FIELDS)}
    with tempfile.TemporaryDirectory() as tmp:
        vm = VictoriaMetrics(Path(tmp) / "vm").start()
        try:
            t = time.perf_counter()
            lp = to_line_protocol(frame, "building", "s")
            ser = time.perf_counter() - t
            out["serialize_vectorised_points_per_s"] = round(n / ser)
            out["body_MB"] = round(len(lp.body) / 1e6, 1)

            for key, gz in (("sink_vectorised", True), ("sink_vectorised_nogzip", False)):
                f1 = frame.assign(run_id=key)
                sink = InfluxSink(vm.url, api="v2", bucket="bench", batch_size=5000, gzip=gz,
                                  spool_dir=Path(tmp) / key)
                t = time.perf_counter()
                sink.write({"building": f1})
                stats = sink.close()
                dt = time.perf_counter() - t
                assert stats["points_written"] == n and stats["points_spooled"] == 0, stats
                out[f"{key}_points_per_s"] = round(n / dt)

            client = InfluxDBClient(url=vm.url, token="", org="-", enable_gzip=True)
            f2 = frame.assign(run_id="client_df").set_index("time")
            wa = client.write_api(write_options=SYNCHRONOUS)
            t = time.perf_counter()
            for i in range(0, n, 5000):
                wa.write(bucket="bench", record=f2.iloc[i:i + 5000],
                         data_frame_measurement_name="building",
                         data_frame_tag_columns=["entity", "run_id", "scenario", "source"],
                         write_precision="s")
            dt = time.perf_counter() - t
            out["client_dataframe_points_per_s"] = round(n / dt)

            m = min(n, args.floor_rows)
            f3 = frame.iloc[:m].assign(run_id="client_points")
            times = pd.DatetimeIndex(f3["time"]).as_unit("s").asi8.tolist()
            cols = {c: f3[c].tolist() for c in FIELDS}
            ents = f3["entity"].tolist()
            wa3 = client.write_api(write_options=WriteOptions(batch_size=5000,
                                                              flush_interval=1000))
            t = time.perf_counter()
            for i in range(m):
                p = (Point("building").tag("entity", ents[i]).tag("run_id", "client_points")
                     .tag("scenario", "bench").tag("source", "sim").time(times[i], "s"))
                for c in FIELDS:
                    p.field(c, cols[c][i])
                wa3.write(bucket="bench", record=p, write_precision="s")
            wa3.close()
            dt = time.perf_counter() - t
            out["client_points_floor_points_per_s"] = round(m / dt)
            client.close()
            keys = ("sink_vectorised", "sink_vectorised_nogzip", "client_df", "client_points")
            out["rows_read_back"] = {k: count(vm, k) for k in keys}
        finally:
            vm.stop()
    floor = out["client_points_floor_points_per_s"]
    for k in ("serialize_vectorised", "sink_vectorised", "sink_vectorised_nogzip",
              "client_dataframe"):
        out[f"ratio_{k}_to_floor"] = round(out[f"{k}_points_per_s"] / floor, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

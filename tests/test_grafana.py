"""Grafana provisioning and dashboards: valid as files (Grafana itself needs Docker, which the
test machines lack), every queried field is one the recorders write, and every query runs
against a real influxd 1.6 loaded with recorded data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from servers import InfluxDB1
from test_influx import DB, START, n_lines, recorded_frames

from adapters.influx import InfluxSink
from adapters.records import RecordBuffer, SourceInfo
from scenarios import world as world_mod

GRAFANA = Path(__file__).resolve().parents[1] / "grafana"


def _panels(dash: dict) -> list[dict]:
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows
    return out


def test_dashboards_json_is_valid() -> None:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert {f.name for f in files} >= {"site_overview.json", "run_comparison.json", "hil.json",
                                       "fleet.json", "fcr.json"}
    uids = set()
    ds_uid = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yml")
                            .read_text())["datasources"][0]["uid"]
    for f in files:
        dash = json.loads(f.read_text())
        assert isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 30, f
        assert dash.get("uid") and dash["uid"] not in uids, f
        uids.add(dash["uid"])
        panels = _panels(dash)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{f.name}: duplicate panel ids"
        names = {v["name"] for v in dash.get("templating", {}).get("list", [])}
        assert "run_id" in names, f
        for p in panels:
            if p.get("type") == "row":
                continue
            for target in p.get("targets", []):
                ds = target.get("datasource") or p.get("datasource")
                assert ds and ds.get("uid") in (ds_uid, "${datasource}", "$datasource"), (
                    f.name, p.get("title"))
                assert target.get("rawQuery") and "FROM" in target.get("query", ""), (
                    f.name, p.get("title"))


def test_compose_file_references_existing_provisioning() -> None:
    compose = yaml.safe_load((GRAFANA / "docker-compose.yml").read_text())
    assert {"influxdb", "grafana"} <= set(compose["services"])
    mounts = [v for s in compose["services"].values() for v in s.get("volumes", [])]
    local = [m.split(":")[0] for m in mounts if m.startswith("./")]
    assert local, mounts
    for path in local:
        assert (GRAFANA / path).exists(), path
    for f in (GRAFANA / "provisioning").rglob("*.yml"):
        assert yaml.safe_load(f.read_text())["apiVersion"] == 1, f


# -- every dashboard query runs against influxd 1.6 loaded with recorded data -----------------

MEASUREMENT_FIELDS: dict[str, set[str]] = {
    # recorded by scenarios/world.py
    "building": set(world_mod.BUILDING_OUT),
    "heatpump": {*world_mod.HEATPUMP_OUT, "device_ok", "latency_ms"},  # + a device's (hw)
    "tank": set(world_mod.TANK_OUT), "market": set(world_mod.MARKET_OUT),
    "weather": set(world_mod.WEATHER_OUT), "controller": set(world_mod.CONTROLLER_OUT),
    # the contract for HIL, feeder and FCR recordings (docs/influx-grafana.md)
    "hil": {"lateness_ms", "wall_time_s", "n_rejected", "heartbeat_age_s", "faults_active",
            "fail_safe", "latency_ms"},
    "feeder": {"transformer_loading_pct", "u_min_pu"},
    "grid": {"f_Hz"},
    "fcr": {"P_set_kW", "P_el_kW", "activation_frac", "capacity_kW"},
}


def _dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, title, InfluxQL) of every panel target and template variable."""
    out = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                out.append((path.stem, f"variable {v['name']}", v["query"]))
        for p in _panels(d):
            for t in p.get("targets", []):
                out.append((path.stem, p["title"], t["query"]))
    return out


def _grafana_expand(q: str, run_id: str, t0: int, t1: int) -> str:
    """What Grafana sends for our macros and variables (regex-formatted values)."""
    return (q.replace("$timeFilter", f"time >= {t0}s and time <= {t1}s")
            .replace("$__interval", "10m").replace("$run_id", run_id)
            .replace("$scenario", "sc test").replace("$device", "hp1").replace("$twin", "house-1")
            .replace("$allowed_lateness_ms", "3")
            .replace("$entity", "(house-0|house-1|house-2)").replace("$T_low", "20")
            .replace("$T_high", "23"))


def test_dashboard_fields_are_recorded() -> None:
    """Every measurement and field a dashboard queries is one the recorders write (the world's
    attributes, or the documented HIL/feeder/FCR contract)."""
    n = 0
    seen = set()
    for name, title, q in _dashboard_queries():
        m = re.search(r'FROM ("\w+"(?:, "\w+")*)', q)  # first FROM (innermost for subqueries)
        assert m, (name, title, q)
        measurements = re.findall(r'"(\w+)"', m.group(1))
        assert set(measurements) <= MEASUREMENT_FIELDS.keys(), (name, title, q)
        known = set().union(*(MEASUREMENT_FIELDS[x] for x in measurements))
        aliases = set(re.findall(r'AS "(\w+)"', q))  # outer queries read a subquery's columns
        for field in re.findall(r'\w+\("(\w+)"', q):
            assert field in known | aliases, (name, title, field)
            n += 1
        seen.update(measurements)
    assert n >= 40
    assert {"hil", "feeder", "grid", "fcr"} <= seen


def _hil_fcr_feeder_frames(run_id: str, n_steps: int) -> dict[str, pd.DataFrame]:
    """HIL (pacer, served endpoint, watchdog, fault injection), a device's read-backs, feeder,
    grid and FCR recordings as the recorder buffers them."""
    rng = np.random.default_rng(7)
    buf = RecordBuffer(run_id, "sc test", START, {
        "Pacer.p": SourceInfo("hil", "pacer"), "Serve.s": SourceInfo("hil", "serve", "hw"),
        "Watchdog.w": SourceInfo("hil", "watchdog"), "Faults.f": SourceInfo("hil", "faults"),
        "Device.d": SourceInfo("heatpump", "hp1", "hw"),
        "Feeder.f": SourceInfo("feeder", "feeder"), "Grid.g": SourceInfo("grid", "grid"),
        "Fcr.c": SourceInfo("fcr", "fcr")})
    for k in range(n_steps):
        a = float(np.sin(k / 20))
        buf.add(k * 60.0, {
            "lateness_ms": {"Pacer.p": abs(rng.normal(2, 1))},
            "wall_time_s": {"Pacer.p": 1.8e9 + k * 60.0 + rng.random()},
            "n_rejected": {"Serve.s": float(k // 50)},
            "heartbeat_age_s": {"Serve.s": k % 5 * 0.2},
            "fail_safe": {"Watchdog.w": float(k == 100)},
            "faults_active": {"Faults.f": float(90 <= k < 110)},
            "P_el_kW": {"Device.d": rng.uniform(0.5, 3.0), "Fcr.c": 2.0 - a * np.ones(2)},
            "T_supply_C": {"Device.d": 35.0 + rng.normal()},
            "device_ok": {"Device.d": float(k % 40 != 3)},
            "latency_ms": {"Device.d": abs(rng.normal(0.2, 0.05))},
            "transformer_loading_pct": {"Feeder.f": 60 + 30 * abs(a)},
            "u_min_pu": {"Feeder.f": 0.97 - 0.04 * abs(a)},
            "f_Hz": {"Grid.g": 50.0 - 0.1 * a},
            "P_set_kW": {"Fcr.c": 2.0 - a * np.ones(2)},
            "activation_frac": {"Fcr.c": np.full(2, a)},
            "capacity_kW": {"Fcr.c": np.full(2, 1.0)},
        })
    return buf.take_frames()


def test_dashboard_queries_run_on_influxdb1(tmp_path: Path) -> None:
    """Every panel and template-variable query of every dashboard, with Grafana's macros
    substituted, runs on a real influxd 1.6 loaded with recorded data and returns values."""
    n_steps = 180
    server = InfluxDB1(tmp_path / "influxd").start()
    try:
        server.create_database(DB)
        frames = recorded_frames("run-dash", n_steps=n_steps)
        extra = _hil_fcr_feeder_frames("run-dash", n_steps)
        sink = InfluxSink(server.url, api="v1", bucket=DB, spool_dir=tmp_path / "spool")
        sink.write(frames)
        sink.write(extra)
        assert sink.close()["points_written"] == n_lines(frames) + n_lines(extra)
        t0 = int(pd.Timestamp(START).timestamp())
        queries = _dashboard_queries()
        assert len(queries) >= 40
        for name, title, q in queries:
            ans = server.query(_grafana_expand(q, "run-dash", t0, t0 + n_steps * 60), db=DB)
            res = ans["results"][0]
            assert "error" not in res, (name, title, res)
            series = res.get("series", [])
            assert series, (name, title, "no series")
            values = [v for s in series for row in s["values"] for v in row[1:]
                      if v is not None]
            assert values, (name, title, "only nulls")
            if title.startswith("variable run_id"):
                assert ["run_id", "run-dash"] in series[0]["values"], (name, series)
            if title == "variable device":
                assert series[0]["values"] == [["entity", "hp1"]], series
    finally:
        server.stop()

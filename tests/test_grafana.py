"""Grafana provisioning and dashboards are valid as files (Grafana itself needs Docker, which the
test machines lack; the dashboards' queries are run against influxd 1.6 in test_influx.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

GRAFANA = Path(__file__).resolve().parents[1] / "grafana"


def _panels(dash: dict) -> list[dict]:
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows
    return out


def test_dashboards_json_is_valid() -> None:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert {f.name for f in files} >= {"site_overview.json", "run_comparison.json"}
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

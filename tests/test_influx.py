"""InfluxDB recorder against real servers: victoria-metrics (v2 write API) and influxd 1.x (v1
/write + InfluxQL). Servers are started by fixtures on 127.0.0.1 (see tests/servers.py)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mosaik
import numpy as np
import pandas as pd
import pytest
from servers import InfluxDB1, VictoriaMetrics, http

from adapters import influx as influx_mod
from adapters.influx import InfluxSink, check_server, replay_spool
from adapters.lineprotocol import to_line_protocol
from adapters.parquet import read_timeseries
from adapters.records import RecordBuffer, SourceInfo
from scenarios import world as world_mod
from scenarios.cli import main as cli_main

START = datetime(2026, 1, 12, tzinfo=UTC)
DB = "heatflex"
SECRET = "tok-SECRET-7f3a9c"


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory):
    server = VictoriaMetrics(tmp_path_factory.mktemp("vm")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def influx1(tmp_path_factory: pytest.TempPathFactory):
    server = InfluxDB1(tmp_path_factory.mktemp("influxd")).start()
    server.create_database(DB)
    yield server
    server.stop()


def recorded_frames(run_id: str, n_houses: int = 3, n_steps: int = 120,
                    step_s: float = 60.0) -> dict[str, pd.DataFrame]:
    """Frames as the recorder produces them: fleet entities (arrays of N), tanks with layers,
    the market as a single entity, NaN gaps, values needing all 17 significant digits."""
    rng = np.random.default_rng(abs(hash(run_id)) % 2**32)
    buf = RecordBuffer(run_id, "sc test", START, {
        "Fleet.b": SourceInfo("building", "house"), "Fleet.h": SourceInfo("heatpump", "house"),
        "Tank.t": SourceInfo("tank", "house"), "Market.m": SourceInfo("market", "market"),
        "Weather.w": SourceInfo("weather", "weather")})
    layers = np.array([55.0, 45.0, 35.0]) + np.arange(n_houses)[:, None]  # (N, L)
    for k in range(n_steps):
        t_room = 21.0 + rng.normal(0, 0.7, n_houses) / 3.0
        p = np.where(rng.random(n_houses) < 0.3, 0.0, rng.uniform(0.5, 3.0, n_houses))
        if k % 17 == 5:
            p[0] = np.nan  # a gap: the field is left out of that line
        buf.add(k * step_s, {
            "T_room_C": {"Fleet.b": t_room}, "Q_heat_kW": {"Fleet.b": 3 * p},
            "P_el_kW": {"Fleet.h": p}, "P_backup_kW": {"Fleet.h": np.zeros(n_houses)},
            "COP": {"Fleet.h": np.full(n_houses, 3.2)}, "Q_sh_kW": {"Fleet.h": 2.5 * p},
            "Q_dhw_kW": {"Fleet.h": 0.5 * p}, "on": {"Fleet.h": (p > 0).astype(float)},
            "T_layers_C": {"Tank.t": layers - 0.01 * k},
            "T_top_C": {"Tank.t": layers[:, 0] - 0.01 * k},
            "T_bottom_C": {"Tank.t": layers[:, -1] - 0.01 * k},
            "soc_frac": {"Tank.t": np.full(n_houses, 0.9 - 0.005 * k)},
            "price_spot_DKK_per_MWh": {"Market.m": 500.0 + 100 * np.sin(k / 10)},
            "price_total_DKK_per_MWh": {"Market.m": 1500.0 + 100 * np.sin(k / 10)},
            "T_out_C": {"Weather.w": -2.0 + 0.05 * k},
        })
    return buf.take_frames()


def expected_points(frames: dict[str, pd.DataFrame]) -> dict[tuple, float]:
    """{(measurement, field, entity, t_s): value} of every finite value."""
    out: dict[tuple, float] = {}
    for m, f in frames.items():
        t_s = (pd.DatetimeIndex(f["time"]).as_unit("s").asi8).tolist()
        for c in f.columns:
            if c in ("time", "entity", "run_id", "scenario", "source"):
                continue
            for ts, e, v in zip(t_s, f["entity"], f[c].to_numpy(float), strict=True):
                if np.isfinite(v):
                    out[(m, c, e, ts)] = float(v)
    return out


def n_lines(frames: dict[str, pd.DataFrame]) -> int:
    return sum(len(f) for f in frames.values())


def influx1_points(server: InfluxDB1, run_id: str, scenario: str = "sc test"
                   ) -> dict[tuple, float]:
    """Read every point of a run back with InfluxQL."""
    out: dict[tuple, float] = {}
    ans = server.query(f"SELECT * FROM /.*/ WHERE \"run_id\" = '{run_id}'", db=DB)
    for s in ans["results"][0].get("series", []):
        cols = s["columns"]
        for row in s["values"]:
            rec = dict(zip(cols, row, strict=True))
            assert rec["scenario"] == scenario and rec["source"] == "sim"
            for c, v in rec.items():
                if c not in ("time", "entity", "run_id", "scenario", "source") and v is not None:
                    out[(s["name"], c, rec["entity"], rec["time"])] = v
    return out


# -- serializer -----------------------------------------------------------------------------


def test_line_protocol_escapes_skips_nan_and_drops_empty_lines() -> None:
    t = pd.Timestamp(START) + pd.to_timedelta([0, 60, 120], unit="s")
    df = pd.DataFrame({"time": t, "entity": ["a b", "x,y=z", ""], "run_id": "r1",
                       "scenario": "s", "source": "sim", "T C": [1.5, np.nan, np.nan],
                       "on": [True, False, np.nan], "n": np.array([3, 4, 5])})
    df.loc[2, "n"] = np.nan
    lp = to_line_protocol(df, "my meas", precision="s")
    t0 = int(pd.Timestamp(START).timestamp())
    assert lp.lines() == [
        rf"my\ meas,entity=a\ b,run_id=r1,scenario=s,source=sim T\ C=1.5,on=1,n=3 {t0}",
        rf"my\ meas,entity=x\,y\=z,run_id=r1,scenario=s,source=sim on=0,n=4 {t0 + 60}",
    ]
    assert lp.n_dropped == 1 and lp.n_lines == 2
    assert [n for _, n in lp.chunks(1)] == [1, 1]
    with pytest.raises(ValueError, match="precision='s'"):
        df2 = df.assign(time=df["time"] + pd.Timedelta(milliseconds=5))
        to_line_protocol(df2, "m", precision="s")
    assert to_line_protocol(df.assign(time=df["time"] + pd.Timedelta(milliseconds=5)), "m",
                            precision="ms").lines()[0].endswith(f" {t0 * 1000 + 5}")


# -- real servers ---------------------------------------------------------------------------


def test_victoria_metrics_v2_roundtrip_exact(vm: VictoriaMetrics, tmp_path: Path) -> None:
    frames = recorded_frames("run-vm")
    sink = InfluxSink(vm.url, api="v2", org="lab", bucket=DB, batch_size=250, gzip=True,
                      spool_dir=tmp_path / "spool")
    sink.write(frames)
    stats = sink.close()
    want = expected_points(frames)
    n_nan = sum(int(f[c].isna().sum()) for f in frames.values() for c in f.columns[5:])
    assert stats["points_written"] == n_lines(frames) and stats["points_lost"] == 0
    assert stats["points_spooled"] == 0 and stats["lines_rejected"] == []
    got: dict[tuple, float] = {}
    for s in vm.export('{run_id="run-vm"}'):
        meta = s["metric"]
        assert meta["scenario"] == "sc test" and meta["source"] == "sim"
        m, _, field = meta["__name__"].partition("_")
        for ts, v in zip(s["timestamps"], s["values"], strict=True):
            assert ts % 1000 == 0
            got[(m, field, meta["entity"], ts // 1000)] = v
    assert len(got) == len(want) == sum(f.shape[0] * (f.shape[1] - 5)
                                        for f in frames.values()) - n_nan
    assert got.keys() == want.keys()
    # victoria-metrics stores floats as decimal mantissa+exponent: equal to ~1e-12 relative
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-12)


def test_influxdb1_v1_roundtrip_exact(influx1: InfluxDB1, tmp_path: Path) -> None:
    frames = recorded_frames("run-v1")
    sink = InfluxSink(influx1.url, api="v1", bucket=DB, batch_size=300,
                      spool_dir=tmp_path / "spool")
    sink.write(frames)
    stats = sink.close()
    assert stats["points_written"] == n_lines(frames) and stats["points_lost"] == 0
    assert influx1_points(influx1, "run-v1") == expected_points(frames)  # bit-exact


def test_outage_spools_then_replays_in_order(influx1: InfluxDB1, tmp_path: Path) -> None:
    """Server stops mid-run: points spool; it returns: replayed in order, nothing lost.
    Then the run ends with the server down: `heatflex influx replay RUN_DIR` sends the rest."""
    run_dir = tmp_path / "run"
    first, second, third = (recorded_frames("run-out", n_steps=40) for _ in range(3))
    # the same points again with new values: whatever arrives last wins, so order is visible
    for f in second.values():
        f.iloc[:, 5:] = f.iloc[:, 5:] + 1000.0
    for f in third.values():
        f.iloc[:, 5:] = f.iloc[:, 5:] + 2000.0
    sink = InfluxSink(influx1.url, api="v1", bucket=DB, batch_size=50, backoff_s=0.05,
                      backoff_max_s=0.2, timeout_s=2.0, close_timeout_s=1.0,
                      spool_dir=run_dir / influx_mod.SPOOL_DIR)
    sink.write(first)
    assert sink.points_written == n_lines(first)
    influx1.stop()
    try:
        sink.write(second)
        n2 = n_lines(second)
        assert sink.points_spooled == n2 and sink.points_written == n_lines(first)
        assert len(sink.spool.files()) == sum(-(-len(f) // 50) for f in second.values())
    finally:
        influx1.start()
    sink.write(third)  # queued behind the spool, which is replayed first
    stats = sink.close()
    assert stats["points_lost"] == 0 and stats["points_pending"] == 0
    assert stats["points_replayed"] == stats["points_spooled"] >= n2
    assert (stats["points_written"] + stats["points_replayed"]
            == n_lines(first) + n2 + n_lines(third))
    assert influx1_points(influx1, "run-out") == expected_points(third)

    # run ends while the server is down: the spool stays, replay sends it later
    influx1.stop()
    try:
        late = InfluxSink(influx1.url, api="v1", bucket=DB, backoff_s=0.05, timeout_s=1.0,
                          close_timeout_s=0.3, spool_dir=run_dir / influx_mod.SPOOL_DIR)
        fourth = recorded_frames("run-late", n_steps=30)
        late.write(fourth)
        left = late.close()
        assert left["points_pending"] == n_lines(fourth) and left["points_lost"] == 0
        assert left["spool_dir"] == str(run_dir / influx_mod.SPOOL_DIR)
    finally:
        influx1.start()
    assert cli_main(["influx", "replay", str(run_dir)]) == 0
    assert influx1_points(influx1, "run-late") == expected_points(fourth)
    assert not list((run_dir / influx_mod.SPOOL_DIR).glob("*.lp"))


def test_field_type_conflict_is_reported_with_the_offending_line(
        influx1: InfluxDB1, tmp_path: Path) -> None:
    # field types are fixed per shard: a string P_el_kW in the same week as the run's data
    influx1.create_database("conflict")
    t0 = int(pd.Timestamp(START).timestamp())
    status, body = http("POST", f"{influx1.url}/write?db=conflict&precision=s",
                        data=f'heatpump,entity=old P_el_kW="off" {t0}\n'.encode())
    assert status == 204, body
    frames = recorded_frames("run-conflict", n_steps=10)
    sink = InfluxSink(influx1.url, api="v1", bucket="conflict", spool_dir=tmp_path / "spool")
    sink.write(frames)
    stats = sink.close()
    n_hp = int(frames["heatpump"]["P_el_kW"].notna().sum())  # lines carrying the field
    assert 0 < n_hp < len(frames["heatpump"])
    assert stats["points_rejected"] == n_hp and stats["points_lost"] == 0
    assert stats["points_written"] == n_lines(frames) - n_hp
    rej = stats["lines_rejected"][0]
    assert "field type conflict" in rej["error"] and rej["dropped"] == n_hp
    assert rej["line"].startswith("heatpump,entity=house-0,run_id=run-conflict,")
    assert re.search(r"[ ,]P_el_kW=[0-9.e+-]+[, ]", rej["line"])
    kept = (tmp_path / "spool" / "rejected" / "000001.lp").read_bytes()  # the whole batch
    assert kept.count(b"\n") == len(frames["heatpump"])


def test_check_messages(vm: VictoriaMetrics, influx1: InfluxDB1,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from servers import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    assert cli_main(["influx", "check", dead]) == 1
    err = capsys.readouterr().err
    assert "unreachable" in err and dead in err
    assert cli_main(["influx", "check", vm.url, "--bucket", DB]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {vm.url} (v2 API) reachable, test write")
    assert cli_main(["influx", "check", influx1.url, "--api", "v1", "--bucket", DB]) == 0
    assert "OK:" in capsys.readouterr().out
    assert cli_main(["influx", "check", influx1.url, "--api", "v1", "--bucket", "nodb"]) == 1
    assert "database 'nodb' does not exist" in capsys.readouterr().err


def test_token_never_appears(vm: VictoriaMetrics, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path, caplog: pytest.LogCaptureFixture,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from servers import free_port

    monkeypatch.setenv("INFLUX_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)
    dead = f"http://127.0.0.1:{free_port()}"
    texts: list[str] = []
    sink = InfluxSink(dead, api="v2", bucket=DB, spool_dir=tmp_path / "s1", close_timeout_s=0.2)
    sink.write(recorded_frames("run-tok", n_steps=5))
    texts.append(json.dumps(sink.close()))
    for api in ("v1", "v2"):
        texts += check_server(dead, api=api, bucket=DB)
        cli_main(["influx", "check", dead, "--api", api])
    sink = InfluxSink(vm.url, api="v2", bucket=DB, spool_dir=tmp_path / "s2")
    sink.write(recorded_frames("run-tok", n_steps=5))
    texts.append(json.dumps(sink.close()))
    texts.append(json.dumps(replay_spool(tmp_path / "s1", url=vm.url)))
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("unreachable" in t for t in texts)  # the failures were reported...
    assert all(SECRET not in t for t in texts)     # ...without the token


# -- mosaik recorder beside the Parquet one ---------------------------------------------------


class _FleetCore:
    """A two-house fleet whose outputs are a known function of time."""

    needs_time = True

    def step(self, dt_s: float, t_s: float) -> dict[str, Any]:
        x = t_s / 3600.0
        return {"T_room_C": np.array([20.0 + x, 21.0 - x]), "P_el_kW": np.array([x, 2 * x])}


@pytest.mark.parametrize("wall_clock", [False, True])
def test_recorder_in_mosaik_matches_parquet(influx1: InfluxDB1, tmp_path: Path,
                                            wall_clock: bool) -> None:
    """Both sinks record the same points; with ``wall_clock=True`` (HIL) both add the field
    ``wall_time_s`` (Unix seconds when the recorder stepped) to every measurement."""
    import time as time_mod

    run_id = f"run-mosaik-{wall_clock}"
    sim_config = {**world_mod.SIM_CONFIG,
                  "Influx": {"python": "adapters.influx:InfluxRecorder"}}
    world = mosaik.World(sim_config, time_resolution=1.0, cache=False, skip_greetings=True)
    t_before = time_mod.time()
    try:
        fleet = world.start("Core", sim_id="Fleet", model="Fleet", inputs=[],
                            outputs=["T_room_C", "P_el_kW"], step_size=600)
        fleet = fleet.Fleet.create(1, core=_FleetCore(), eid="fleet")[0]
        sources = {fleet.full_id: SourceInfo("building", "house")}
        common = dict(run_id=run_id, scenario="sc test", start=START, sources=sources,
                      flush_interval_s=3600.0)
        pq = world.start("Recorder", sim_id="Recorder", step_size=600,
                         wall_clock=wall_clock).Recorder.create(
            1, out_dir=str(tmp_path / "timeseries"), **common)[0]
        ix = world.start("Influx", sim_id="Influx", step_size=600,
                         wall_clock=wall_clock).Recorder.create(
            1, out_dir=str(tmp_path), url=influx1.url, api="v1", bucket=DB, batch_size=7,
            **common)[0]
        world.connect(fleet, pq, "T_room_C", "P_el_kW")
        world.connect(fleet, ix, "T_room_C", "P_el_kW")
        world.run(until=4 * 3600, print_progress=False)
    finally:
        stats = influx_mod.close_all()
    t_after = time_mod.time()
    assert len(stats) == 1 and not influx_mod.ACTIVE
    assert stats[0]["points_written"] == 2 * 24 and stats[0]["points_lost"] == 0
    parquet = read_timeseries(tmp_path / "timeseries")
    b = parquet["building"]
    assert ("wall_time_s" in b.columns) == wall_clock
    if wall_clock:
        wall = b.pivot(index="time", columns="entity", values="wall_time_s")
        assert (wall["house-0"] == wall["house-1"]).all()  # one stamp per step
        assert wall["house-0"].is_monotonic_increasing
        assert t_before <= wall.min().min() <= wall.max().max() <= t_after
    got, want = influx1_points(influx1, run_id), expected_points(parquet)
    wall_got = {k: got.pop(k) for k in list(got) if k[1] == "wall_time_s"}
    wall_want = {k: want.pop(k) for k in list(want) if k[1] == "wall_time_s"}
    assert got == want  # bit-exact
    # each recorder stamps when it steps: the two sinks' stamps differ by scheduling only
    assert wall_got.keys() == wall_want.keys() and len(wall_got) == (48 if wall_clock else 0)
    assert all(t_before <= v <= t_after and abs(v - wall_want[k]) < 5.0
               for k, v in wall_got.items())


def test_heatflex_run_with_influx_records_the_house_to_influxdb1(influx1: InfluxDB1,
                                                                 tmp_path: Path) -> None:
    """`heatflex run ... --influx URL` with a v1 recorder from the scenario: every step of every
    measurement reaches InfluxDB beside the Parquet files, and run.json reports zero lost."""
    sc = tmp_path / "house.toml"
    sc.write_text(
        'name = "house_influx"\nstart = "2026-01-12T00:00:00Z"\nduration = "3h"\n'
        '[site.heatpump]\nmodel = "native"\n[controller]\ntype = "thermostat"\n'
        f'[[recorders]]\ntype = "parquet"\n[[recorders]]\ntype = "influx"\nurl = "{influx1.url}"\n'
        f'api = "v1"\nbucket = "{DB}"\nflush_interval = "1h"\n', encoding="utf-8")
    out = tmp_path / "run"
    assert cli_main(["run", str(sc), "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "run.json").read_text())
    stats = meta["influx"][0]
    assert stats["points_lost"] == 0 and stats["points_pending"] == 0
    parquet = pd.read_parquet(out / "timeseries" / "heatpump.parquet")
    assert stats["points_written"] >= 7 * len(parquet)  # seven measurements, one row per step
    res = influx1.query(
        f"SELECT count(P_el_kW) FROM heatpump WHERE run_id = '{meta['run_id']}'", db=DB)
    count = res["results"][0]["series"][0]["values"][0][1]
    assert count == len(parquet) == 3 * 60


def test_wrong_credentials_fail_clearly_and_the_run_spools(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """influxd 1.6 with authentication on, InfluxDB 1.x credentials `user:password` in the token:
    a wrong password gives `influx check` and the recorder a message naming the URL and the failed
    authentication (never the token); the run spools every point and replay delivers them once
    the token is right."""
    password = "right-pass-9c1"
    server = InfluxDB1(tmp_path / "influxd-auth", auth=("admin", password)).start()
    try:
        server.create_database(DB)
        monkeypatch.setenv("INFLUX_TOKEN", f"admin:{SECRET}")
        caplog.set_level(logging.INFO)
        assert cli_main(["influx", "check", server.url, "--api", "v1", "--bucket", DB]) == 1
        err = capsys.readouterr().err
        assert server.url in err and "authentication failed" in err, err
        assert "user:password" in err and SECRET not in err

        sc = tmp_path / "house.toml"
        sc.write_text(
            'name = "house_auth"\nstart = "2026-01-12T00:00:00Z"\nduration = "2h"\n'
            '[site.heatpump]\nmodel = "native"\n[controller]\ntype = "thermostat"\n'
            f'[[recorders]]\ntype = "parquet"\n[[recorders]]\ntype = "influx"\n'
            f'url = "{server.url}"\napi = "v1"\nbucket = "{DB}"\nflush_interval = "1h"\n',
            encoding="utf-8")
        out = tmp_path / "run"
        assert cli_main(["run", str(sc), "--out", str(out), "--quiet"]) == 0
        meta = json.loads((out / "run.json").read_text())
        stats = meta["influx"][0]
        assert stats["points_written"] == 0 and stats["points_lost"] == 0
        assert stats["points_pending"] == stats["points_spooled"] > 0
        assert "authentication failed" in stats["last_error"]
        logged = caplog.text + capsys.readouterr().err
        assert server.url in logged and "authentication failed" in logged
        texts = [logged, json.dumps(meta)]
        texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.suffix != ".parquet"
                  and p.is_file()]
        assert all(SECRET not in t for t in texts)

        monkeypatch.setenv("INFLUX_TOKEN", f"admin:{password}")
        assert cli_main(["influx", "check", server.url, "--api", "v1", "--bucket", DB]) == 0
        assert cli_main(["influx", "replay", str(out)]) == 0
        parquet = read_timeseries(out / "timeseries")
        got = influx1_points(server, meta["run_id"], scenario="house_auth")
        want = expected_points(parquet)
        assert got == want and len(got) > 0
    finally:
        server.stop()

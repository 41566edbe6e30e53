"""Hardware in the loop over real Modbus sockets on 127.0.0.1: the server adapter against pymodbus
and Debian's mbpoll, the client adapter against the virtual SG-Ready heat pump in its own process,
fail-safe on SIGTERM and (device side) on SIGKILL, policies for a silent device, fault injection,
the pacer, and the SG-Ready / §14a certify programmes passing a correct device and failing wrong
ones."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from adapters.modbus import (
    ClientCore,
    ModbusDeviceClient,
    ModbusDeviceError,
    ModbusServerEndpoint,
    ServerCore,
)
from hil.pacer import LatenessExceeded, Pacer
from hil.profile import load_profile

HEATFLEX = str(Path(sys.executable).with_name("heatflex"))
MBPOLL = shutil.which("mbpoll")
SPEED = 2400.0  # device seconds per wall second for the certify programmes
STEP = 20.0  # device step, s


@pytest.fixture(scope="module")
def profile():
    return load_profile("sg_ready_heat_pump")


@pytest.fixture
def endpoint(profile) -> Iterator[ModbusServerEndpoint]:
    ep = ModbusServerEndpoint(profile)
    ep.start()
    yield ep
    ep.stop()


def _serve(*extra: str) -> tuple[subprocess.Popen[str], int]:
    """Start `heatflex serve sg_ready_heat_pump` on a free port; return (process, port)."""
    proc = subprocess.Popen([HEATFLEX, "serve", "sg_ready_heat_pump", "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(json.loads(line)["port"])


@pytest.fixture
def device() -> Iterator[int]:
    proc, port = _serve("--speed", str(SPEED), "--step", str(STEP))
    yield port
    proc.terminate()
    proc.wait(10)


def _registers(port: int, table: str, address: int, count: int = 1) -> list[int]:
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    assert c.connect()
    try:
        fn = {"h": c.read_holding_registers, "i": c.read_input_registers}[table]
        return list(fn(address, count=count, device_id=1).registers)
    finally:
        c.close()


# -- server adapter ----------------------------------------------------------------------------


@pytest.mark.skipif(MBPOLL is None, reason="Debian's mbpoll is installed by `make test`")
def test_server_serves_and_accepts_writes_from_mbpoll(endpoint, profile) -> None:
    endpoint.publish({"T_room_C": 21.3, "P_el_kW": 1.25, "compressor_on": 1})
    port = str(endpoint.port)
    base = [MBPOLL, "-m", "tcp", "-p", port, "-a", "1", "-0", "-1", "-o", "2"]
    # read: T_room_C is input register 4 (s16 × 0.1), P_el_kW input registers 0–1 (f32, ABCD)
    r = subprocess.run([*base, "-t", "3", "-r", "4", "127.0.0.1"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "[4]: \t213" in r.stdout.replace(" ", "") or "[4]:\t213" in r.stdout.replace(" ", "")
    r = subprocess.run([*base, "-t", "3:float", "-B", "-r", "0", "127.0.0.1"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "1.25" in r.stdout
    r = subprocess.run([*base, "-t", "1", "-r", "0", "127.0.0.1"], capture_output=True,
                       text=True, timeout=20)
    assert "[0]: \t1" in r.stdout or "[0]:\t1" in r.stdout.replace(" ", "")
    # write SG-Ready state 3 to holding register 0: accepted, becomes a co-simulation input
    r = subprocess.run([*base, "-t", "4", "-r", "0", "127.0.0.1", "3"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert endpoint.take_writes() == {"sg_ready_state": 3.0}
    assert endpoint.value("sg_ready_state") == 3.0
    # a bad write (state 7) is refused with an exception and changes nothing
    r = subprocess.run([*base, "-t", "4", "-r", "0", "127.0.0.1", "7"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    assert "illegal data value" in (r.stdout + r.stderr).lower()
    assert endpoint.value("sg_ready_state") == 3.0
    assert endpoint.take_writes() == {}
    assert endpoint.rejected[-1].exception_code == 3


def test_bad_writes_get_exception_codes_and_change_nothing(endpoint) -> None:
    c = ModbusTcpClient("127.0.0.1", port=endpoint.port, timeout=2)
    assert c.connect()
    try:
        before = list(c.read_holding_registers(0, count=6, device_id=1).registers)
        cases = [
            (lambda: c.write_register(0, 9, device_id=1), 3),  # not in the SG-Ready enum
            (lambda: c.write_register(4, 2000, device_id=1), 3),  # P_limit 200 kW > max 100
            (lambda: c.write_registers(1, [215, 65000], device_id=1), 3),  # one good, one bad
            (lambda: c.write_register(40, 1, device_id=1), 2),  # unmapped address
        ]
        for call, code in cases:
            rr = call()
            assert rr.isError() and rr.exception_code == code
        assert list(c.read_holding_registers(0, count=6, device_id=1).registers) == before
        assert endpoint.take_writes() == {}
        assert [r.exception_code for r in endpoint.rejected][-4:] == [3, 3, 3, 2]
        assert all(r.reason for r in endpoint.rejected)
    finally:
        c.close()


def test_allow_list_refuses_other_clients(profile) -> None:
    with ModbusServerEndpoint(profile, allow=["10.9.8.7"]) as ep:
        c = ModbusTcpClient("127.0.0.1", port=ep.port, timeout=0.5, retries=0)
        c.connect()
        with pytest.raises(Exception):  # noqa: B017 - closed by the server: any transport error
            rr = c.read_input_registers(0, count=2, device_id=1)
            assert not rr.isError()
        c.close()
        assert ep.refused_connections >= 1


def test_server_core_moves_values_both_ways(endpoint) -> None:
    core = ServerCore(endpoint)
    out = core.step(1.0, T_room_C=20.7, P_el_kW=0.8)
    assert out["sg_ready_state"] == 2.0 and out["P_limit_kW"] == 0.0  # fail-safe start values
    client = ModbusDeviceClient(endpoint.profile, f"modbus://127.0.0.1:{endpoint.port}")
    client.write("sg_ready_state", 1)
    client.write("P_limit_kW", 4.2)
    out = core.step(1.0, T_room_C=20.6, P_el_kW=0.0)
    assert out["sg_ready_state"] == 1.0 and out["P_limit_kW"] == pytest.approx(4.2)
    values = client.read_all()
    assert values["T_room_C"] == pytest.approx(20.6) and values["P_el_kW"] == 0.0
    client.close()


# -- faults and a silent device ----------------------------------------------------------------


def test_fault_injection_stale_swap_latency_exception(endpoint) -> None:
    client = ModbusDeviceClient(endpoint.profile, f"modbus://127.0.0.1:{endpoint.port}",
                                timeout_s=0.5, retries=0)
    endpoint.publish({"P_el_kW": 2.5, "T_room_C": 21.0})
    endpoint.faults.apply({"stale": True, "points": ["T_room_C"]})
    endpoint.publish({"P_el_kW": 3.0, "T_room_C": 19.0})
    v = client.read_all()
    assert v["T_room_C"] == pytest.approx(21.0) and v["P_el_kW"] == pytest.approx(3.0)
    endpoint.faults.apply({"swap_words": True})
    endpoint.publish({"P_el_kW": 3.0})
    assert client.read_all()["P_el_kW"] != pytest.approx(3.0)
    endpoint.faults.apply({"latency_s": 0.05})
    n = len(client.stats.latencies_ms)
    client.read_all()
    assert min(client.stats.latencies_ms[n:]) >= 50.0
    endpoint.faults.apply({"exception_code": 6})
    with pytest.raises(ModbusDeviceError, match="exception 6"):
        client.read_all()
    endpoint.faults.apply({})
    with pytest.raises(ValueError, match="allowed"):
        endpoint.faults.apply({"lag": 1})
    client.close()


@pytest.mark.parametrize("policy", ["hold_last", "fail_safe", "abort"])
def test_device_that_stops_answering_triggers_the_policy(endpoint, policy) -> None:
    client = ModbusDeviceClient(endpoint.profile, f"modbus://127.0.0.1:{endpoint.port}",
                                timeout_s=0.2, retries=0)
    core = ClientCore(client, policy=policy)
    endpoint.publish({"T_room_C": 21.2})
    out = core.step(1.0, sg_ready_state=3)
    assert out["device_ok"] == 1.0 and out["T_room_C"] == pytest.approx(21.2)
    endpoint.faults.apply({"timeout": True})
    if policy == "abort":
        with pytest.raises(ModbusDeviceError, match="no answer"):
            core.step(1.0, sg_ready_state=1)
    else:
        out = core.step(1.0, sg_ready_state=1)
        assert out["device_ok"] == 0.0
        assert out["T_room_C"] == pytest.approx(21.2)  # last read-back held
        assert any("not answering" in e for _, e in core.events)
    endpoint.faults.apply({})
    if policy != "abort":
        out = core.step(1.0, sg_ready_state=1)
        assert out["device_ok"] == 1.0
        assert any("answers again" in e for _, e in core.events)
        # fail_safe: the recovering step writes the fail-safe values; hold_last: the command
        expected = 2.0 if policy == "fail_safe" else 1.0
        assert endpoint.value("sg_ready_state") == expected
    core.close()
    assert endpoint.value("sg_ready_state") == 2.0  # fail-safe on close, whatever the policy


# -- the virtual device in its own process: fail-safe on SIGTERM and SIGKILL -------------------

_CLIENT = textwrap.dedent("""
    import sys, time
    from adapters.modbus import ClientCore, ModbusDeviceClient
    from hil.profile import load_profile
    from hil.watchdog import FailSafeGuard, terminate_as_exception
    port = int(sys.argv[1])
    core = ClientCore(ModbusDeviceClient(load_profile("sg_ready_heat_pump"),
                                         f"modbus://127.0.0.1:{port}"))
    guard = FailSafeGuard()
    guard.add(core)
    try:
        with terminate_as_exception():
            while True:
                core.step(0.1, sg_ready_state=1, P_limit_kW=4.2)
                print("stepped", flush=True)
                time.sleep(0.1)
    finally:
        guard.close()
""")


def _start_client(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _CLIENT, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    assert proc.stdout is not None
    for _ in range(3):
        assert proc.stdout.readline().startswith("stepped"), proc.stderr.read()
    return proc


def test_sigterm_leaves_the_device_in_fail_safe() -> None:
    dev, port = _serve("--step", "0.1")
    try:
        client = _start_client(port)
        assert _registers(port, "h", 0)[0] == 1  # the controller blocks the heat pump
        assert _registers(port, "h", 4)[0] == 42
        client.send_signal(signal.SIGTERM)
        client.wait(10)
        assert _registers(port, "h", 0)[0] == 2  # SG-Ready "normal" written before exit
        assert _registers(port, "h", 4)[0] == 0  # no §14a limit
    finally:
        dev.terminate()
        dev.wait(10)


def test_sigkill_device_heartbeat_watchdog_falls_back() -> None:
    dev, port = _serve("--step", "0.1", "--heartbeat-timeout", "1.0")
    try:
        client = _start_client(port)
        time.sleep(0.3)
        assert _registers(port, "i", 9)[0] == 1  # blocking in force
        client.send_signal(signal.SIGKILL)  # no chance to write anything
        client.wait(10)
        assert _registers(port, "h", 0)[0] == 1  # the command is still there...
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _registers(port, "i", 9)[0] != 2:
            time.sleep(0.1)
        assert _registers(port, "i", 9)[0] == 2  # ...but the device fell back by itself
        assert _registers(port, "h", 0)[0] == 2
    finally:
        dev.terminate()
        dev.wait(10)


# -- pacer -------------------------------------------------------------------------------------


class _SimClock:
    """A monotonic clock that advances only when slept on (or when a step "works")."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept_to: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept_to.append(self.now)


def test_pacer_keeps_absolute_deadlines_and_marks_misses() -> None:
    clock = _SimClock()
    pacer = Pacer(allowed_lateness_ms=15.0, spin_s=0.0, clock=clock, sleep=clock.sleep)
    for k in range(20):
        pacer.step(0.01, k * 0.01)
        clock.now += 0.002  # the step's own work
        if k == 10:
            clock.now += 0.05  # a slow step: the next deadline is missed, later ones are not
    late = pacer.stats.lateness_ms
    # 52 ms of work in a 10 ms step, then the backlog is worked off 8 ms per step (2 ms of work)
    assert late[11:17] == pytest.approx([42.0, 34.0, 26.0, 18.0, 10.0, 2.0])
    assert late[:11] == pytest.approx([0.0] * 11) and late[17:] == pytest.approx([0.0] * 3)
    # absolute deadlines: step k wakes at t0 + k·dt once the backlog is worked off (no drift)
    assert clock.slept_to[-1] == pytest.approx(100.0 + 19 * 0.01)
    s = pacer.stats.summary()
    assert s["steps"] == 20 and s["deadline_misses"] == 4 and s["valid"] is False
    assert s["lateness_max_ms"] == pytest.approx(42.0)
    aborting = Pacer(allowed_lateness_ms=5.0, abort=True, spin_s=0.0, clock=clock,
                     sleep=clock.sleep)
    aborting.step(0.01, 0.0)
    clock.now += 0.03
    with pytest.raises(LatenessExceeded, match="allowed"):
        aborting.step(0.01, 0.01)
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed=0)


# -- certify programmes --------------------------------------------------------------------------


def _certify(kind: str, port: int, out: Path, *extra: str) -> tuple[int, dict]:
    r = subprocess.run([HEATFLEX, "certify", kind, "--device", f"modbus://127.0.0.1:{port}",
                        "--speed", str(SPEED), "--poll", str(STEP), "--out", str(out),
                        "--quiet", *extra], capture_output=True, text=True, timeout=300)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() \
        else {}
    assert summary, r.stdout + r.stderr
    return r.returncode, summary


def test_certify_sg_ready_passes_a_correct_device(device, tmp_path) -> None:
    code, summary = _certify("sg-ready", device, tmp_path / "ok")
    req = summary["verdicts"]["sg-ready"]["requirements"]
    assert code == 0, req
    assert summary["verdicts"]["sg-ready"]["pass"] is True
    assert req["block_at_most_2h"]["value"] <= 7200 + STEP
    assert req["blocking_respected"]["value"] <= 0.05
    for f in ("run.json", "report.html", "plots/sequence.png", "timeseries/heatpump.parquet"):
        assert (tmp_path / "ok" / f).exists(), f
    # the device was left in its fail-safe state
    assert _registers(device, "h", 0)[0] == 2


def test_certify_sg_ready_fails_a_device_that_ignores_blocking(tmp_path) -> None:
    proc, port = _serve("--speed", str(SPEED), "--step", str(STEP), "--fault", "ignore_blocking")
    try:
        code, summary = _certify("sg-ready", port, tmp_path / "bad")
    finally:
        proc.terminate()
        proc.wait(10)
    req = summary["verdicts"]["sg-ready"]["requirements"]
    assert code == 1
    assert req["blocking_respected"]["pass"] is False
    assert req["blocking_respected"]["value"] > 0.05  # the measured draw is named


def test_certify_14a_passes_and_fails(tmp_path) -> None:
    results = {}
    for fault in (None, "ignore_limit"):
        # §14a concerns units above 4.2 kW: a 16 kW unit at −10 °C with its backup heater
        extra = ["--variant", "b", "--T-out", "-10", "--Q-rated-kW", "16"]
        extra += ["--fault", fault] if fault else []
        proc, port = _serve("--speed", str(SPEED), "--step", str(STEP), *extra)
        try:
            results[fault] = _certify("14a", port, tmp_path / str(fault))
        finally:
            proc.terminate()
            proc.wait(10)
    code, summary = results[None]
    req = summary["verdicts"]["14a"]["requirements"]
    assert code == 0, req
    assert req["preload_above_limit"]["value"] > 4.2
    assert req["limit_held"]["value"] <= 4.25
    code, summary = results["ignore_limit"]
    req = summary["verdicts"]["14a"]["requirements"]
    assert code == 1 and req["limit_held"]["pass"] is False
    assert req["limit_held"]["value"] > 4.25
    assert not math.isnan(req["reaction_time"]["value"])


def test_certify_reports_an_unreachable_device(tmp_path) -> None:
    r = subprocess.run([HEATFLEX, "certify", "14a", "--device", "modbus://127.0.0.1:1",
                        "--timeout", "0.2", "--out", str(tmp_path / "x"), "--quiet"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "modbus://127.0.0.1:1" in r.stderr and "cannot connect" in r.stderr
    r = subprocess.run([HEATFLEX, "certify", "14a", "--device", "http://x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "modbus://" in r.stderr



# -- a full HIL loop through `heatflex run`: simulated house ↔ EMS in another process ----------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_realtime_hil_loop_with_external_ems_and_fault(tmp_path) -> None:
    import tomllib

    import pandas as pd

    port = _free_port()
    lib = Path(__file__).parents[1] / "scenarios" / "library" / "hil_sg_ready_loop.toml"
    text = lib.read_text().replace("port = 5020", f"port = {port}")
    text = text.replace('step = "1s"', 'step = "0.5s"\ntime_resolution = 0.5')
    text = text.replace('at = "10min"', 'at = "10s"').replace('duration = "30s"',
                                                            'duration = "4s"')
    sc = tmp_path / "loop.toml"
    sc.write_text(text)
    assert tomllib.loads(text)["hil"]["serve"]["port"] == port
    run = subprocess.Popen([HEATFLEX, "run", str(sc), "--until", "32s", "--out",
                            str(tmp_path / "run"), "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    _wait_port(port)
    # the EMS blocks the heat pump when the room is above 21.0 °C (it starts at 21.5 °C)
    ems = subprocess.run([HEATFLEX, "ems", "--device", f"modbus://127.0.0.1:{port}",
                          "--T-low", "20.5", "--T-high", "21.0", "--period", "0.5",
                          "--steps", "60"], capture_output=True, text=True, timeout=120)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    lines = [json.loads(x) for x in ems.stdout.splitlines()]
    decisions = [x for x in lines if "sg_ready_state" in x]
    errors = [x for x in lines if "error" in x]
    assert decisions and all(d["sg_ready_state"] == 1 for d in decisions), lines
    # the injected fault shows in the EMS log (a loaded machine may add a timeout or two)
    assert any("exception 6" in e["error"] for e in errors), lines
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    pacing = meta["hil"]["pacing"]
    assert pacing["steps"] >= 60
    assert meta["mode"] == "paced"
    assert meta["hil"]["serve"]["requests"] > 60
    assert any("fault on serve on" in e["event"] for e in meta["hil"]["events"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "valid" in summary and summary["verdicts"]["realtime"]["unit"] == "ms"
    hil = pd.read_parquet(tmp_path / "run" / "timeseries" / "hil.parquet")
    serve = hil[hil["entity"] == "serve"][["time", "sg_ready_state"]]
    hp = pd.read_parquet(tmp_path / "run" / "timeseries" / "heatpump.parquet")
    both = serve.merge(hp[["time", "P_el_kW"]], on="time")
    blocked = both[both["sg_ready_state"] == 1.0]
    assert len(blocked) >= 20  # what the EMS wrote reached the co-simulation...
    assert (blocked["P_el_kW"] == 0.0).all()  # ...and blocked the simulated heat pump
    pacer = hil[hil["entity"] == "pacer"]
    # paced: step k cannot start before t0 + k·0.5 s of wall time (a lower bound, not a speed)
    wall = pacer["wall_time_s"].to_numpy()
    assert (wall[-1] - wall[0]) >= 0.5 * (len(wall) - 1) - 1e-3
    # every measurement of a paced run carries the wall clock of its step (lab clocks line up)
    assert hp["wall_time_s"].is_monotonic_increasing
    assert hp["wall_time_s"].iloc[-1] >= wall[0] + 0.5 * (len(hp) - 1) - 1e-3


def test_stopping_a_run_mid_way_leaves_its_device_in_fail_safe(tmp_path) -> None:
    """`heatflex run` commands the virtual device's room set point from the price-rule
    controller; SIGTERM mid-run → the runner writes the profile's fail-safe values first."""
    dev, port = _serve("--step", "0.5")
    try:
        lib = Path(__file__).parents[1] / "scenarios" / "library" / "residential_house.toml"
        text = lib.read_text().replace('model = "fmu"', 'model = "native"')
        text += textwrap.dedent(f"""
            [hil]
            speed = 600.0
            allowed_lateness_ms = 5000

            [[hil.devices]]
            name = "hp1"
            url = "modbus://127.0.0.1:{port}"
            commands = ["T_set_C", "sg_ready_state"]
        """)
        sc = tmp_path / "dev.toml"
        sc.write_text(text)
        run = subprocess.Popen([HEATFLEX, "run", str(sc), "--out", str(tmp_path / "run"),
                                "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _registers(port, "h", 1)[0] == 215:
            time.sleep(0.2)
        commanded = _registers(port, "h", 1)[0]
        assert commanded != 215  # the price rule moved the set point away from 21.5 °C
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 1, out + err
        assert _registers(port, "h", 1)[0] == 215  # fail-safe set point 21.5 °C
        assert _registers(port, "h", 0)[0] == 2  # SG-Ready normal
        meta = json.loads((tmp_path / "run" / "run.json").read_text())
        assert meta["status"] == "failed" and "Interrupted" in meta["error"]
        assert meta["hil"]["devices"]["hp1"]["fail_safe_applied"] is True
        assert any("fail-safe applied" in e["event"] for e in meta["hil"]["events"])
    finally:
        dev.terminate()
        dev.wait(10)

"""Modbus RTU (serial) over a real virtual serial line: `socat` joins two pseudo-terminals, the
server adapter / the virtual SG-Ready heat pump is the RTU slave on one end, the client adapter
(`modbus+rtu://`) the master on the other. Real pymodbus, real pyserial, real termios — no mocks.

socat is a Debian package that `make test` installs; without it these tests fail (not skip), so
a CI image that lost it is noticed.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.modbus import (
    ClientCore,
    ModbusDeviceClient,
    ModbusDeviceError,
    ModbusServerEndpoint,
    SerialLine,
    ServerCore,
    parse_device_url,
)
from hil.profile import Profile, load_profile

HEATFLEX = str(Path(sys.executable).with_name("heatflex"))
BAUD = 19200  # bit/s
LINK_WAIT_S = 5.0  # how long socat may take to create both pty links, s


@pytest.fixture(scope="module")
def profile() -> Profile:
    """The bundled SG-Ready heat-pump register map (unit id 1)."""
    return load_profile("sg_ready_heat_pump")


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A virtual null-modem cable: two pty links joined by socat; yields (slave end, master end)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat not found on PATH: the RTU tests need it to make a virtual serial "
                    "line (a pty pair). Install the Debian package `socat` (`make test` does).")
    a, b = tmp_path / "ttyRTU_slave", tmp_path / "ttyRTU_master"
    log_path = tmp_path / "socat.log"
    with log_path.open("w") as log:  # a file, not a pipe: socat must never block on its log
        proc = subprocess.Popen(
            [socat, "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + LINK_WAIT_S
        while not (a.exists() and b.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"socat did not create the pty links within {LINK_WAIT_S} s "
                            f"(exit code {proc.poll()}): {log_path.read_text()}")
            time.sleep(0.01)
        yield str(a), str(b)
    finally:
        _stop(proc, 5.0)


def _stop(proc: subprocess.Popen, timeout_s: float) -> None:
    """Terminate a helper process; kill it if it does not exit within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _url(port: str, unit: int = 1) -> str:
    return f"modbus+rtu://{port}?baud={BAUD}&unit={unit}"


def _check_latency(client: ModbusDeviceClient) -> dict[str, float]:
    """Every answered request has a recorded latency (ms); return the client's summary."""
    st = client.stats
    lat = st.latencies_ms
    assert len(lat) == st.requests - st.timeouts > 0
    assert all(math.isfinite(x) and x > 0.0 for x in lat)
    summary = client.stats.summary()
    print(f"RTU {BAUD} baud over a pty pair: {summary}")
    return summary


# -- URL ----------------------------------------------------------------------------------------


def test_rtu_url_parses_line_settings_and_names_mistakes() -> None:
    conf = parse_device_url("modbus+rtu:///dev/ttyUSB0?baud=9600&unit=3&parity=e&stopbits=2")
    line = conf["serial"]
    assert (conf["transport"], conf["device_id"]) == ("rtu", 3)
    assert (line.port, line.baudrate, line.parity, line.bytesize, line.stopbits) == (
        "/dev/ttyUSB0", 9600, "E", 8, 2)
    assert line.char_time_s == pytest.approx(12 / 9600)  # start + 8 data + parity + 2 stop bits
    assert parse_device_url(line.url(3))["serial"] == line
    with pytest.raises(ValueError, match="unknown keys.*'speed'.*allowed"):
        parse_device_url("modbus+rtu:///dev/ttyUSB0?speed=9600")
    with pytest.raises(ValueError, match="parity='X'"):
        parse_device_url("modbus+rtu:///dev/ttyUSB0?parity=X")


# -- server adapter as RTU slave, client adapter as master ---------------------------------------


def test_server_adapter_serves_rtu_and_refuses_bad_writes(pty_pair, profile) -> None:
    slave_port, master_port = pty_pair
    ep = ModbusServerEndpoint(profile, serial=SerialLine(slave_port, baudrate=BAUD))
    assert ep.start() == 0
    assert ep.url == _url(slave_port)
    client = ModbusDeviceClient(profile, _url(master_port), timeout_s=1.0, retries=0)
    try:
        core = ServerCore(ep)
        out = core.step(1.0, T_room_C=21.4, P_el_kW=1.25)
        assert out["sg_ready_state"] == 2.0  # fail-safe start value
        # mapped commands over RTU become co-simulation inputs in the next step
        client.write("sg_ready_state", 3)
        client.write("T_room_set_C", 22.5)
        client.write("P_limit_kW", 4.2)
        out = core.step(1.0, T_room_C=21.5, P_el_kW=1.5)
        assert out["sg_ready_state"] == 3.0
        assert out["T_set_C"] == pytest.approx(22.5)
        assert out["P_limit_kW"] == pytest.approx(4.2)
        values = client.read_all()
        assert values["T_room_C"] == pytest.approx(21.5)
        assert values["P_el_kW"] == pytest.approx(1.5)
        assert values["sg_ready_state"] == 3.0 and values["T_room_set_C"] == pytest.approx(22.5)
        # out of range: a Modbus exception response over the serial line; nothing changes
        with pytest.raises(ModbusDeviceError, match="exception 3"):
            client.write("P_limit_kW", 200.0)
        with pytest.raises(ModbusDeviceError, match="exception 3"):
            client.write("sg_ready_state", 9)
        assert ep.take_writes() == {}
        after = client.read_all()
        assert after["P_limit_kW"] == pytest.approx(4.2) and after["sg_ready_state"] == 3.0
        assert [r.exception_code for r in ep.rejected] == [3, 3]
        assert ep.rejected[-1].peer == slave_port and "out of range" in ep.rejected[0].reason
        assert client.stats.errors == 2 and client.stats.timeouts == 0
        _check_latency(client)
    finally:
        client.close()
        ep.stop()


def test_rtu_slave_answers_only_its_unit_and_applies_broadcasts(pty_pair, profile) -> None:
    slave_port, master_port = pty_pair
    with ModbusServerEndpoint(profile, serial=SerialLine(slave_port, baudrate=BAUD)) as ep:
        other = ModbusDeviceClient(profile, _url(master_port, unit=7), timeout_s=0.3, retries=0)
        with pytest.raises(ModbusDeviceError, match="no answer"):
            other.read_all()  # on a shared bus, unit 7's request is not ours to answer
        other.close()
        assert ep.ignored_requests == 1 and ep.rejected == []
        # unit 0 = broadcast: a valid write is applied, a bad one refused — neither answered
        bcast = ModbusDeviceClient(profile, _url(master_port, unit=0), timeout_s=0.3, retries=0)
        with pytest.raises(ModbusDeviceError, match="no answer"):
            bcast.write("sg_ready_state", 4)
        with pytest.raises(ModbusDeviceError, match="no answer"):
            bcast.write("sg_ready_state", 9)
        bcast.close()
        assert ep.take_writes() == {"sg_ready_state": 4.0}
        assert [r.exception_code for r in ep.rejected] == [3]
        own = ModbusDeviceClient(profile, _url(master_port), timeout_s=1.0, retries=0)
        assert own.read_all()["sg_ready_state"] == 4.0  # the line still works afterwards
        own.close()


def test_serial_server_reports_a_missing_port(tmp_path, profile) -> None:
    ep = ModbusServerEndpoint(profile, serial=SerialLine(str(tmp_path / "no_such_tty")))
    with pytest.raises(RuntimeError, match="cannot listen on .*no_such_tty"):
        ep.start()
    with pytest.raises(ValueError, match="allow-list needs TCP"):
        ModbusServerEndpoint(profile, allow=["10.0.0.1"], serial=SerialLine("/dev/ttyS0"))


# -- the virtual SG-Ready heat pump served over RTU by `heatflex serve --rtu` -------------------


@pytest.fixture
def rtu_device(pty_pair) -> Iterator[str]:
    """`heatflex serve sg_ready_heat_pump --rtu` on the slave end; yields the master end's URL."""
    slave_port, master_port = pty_pair
    proc = subprocess.Popen([HEATFLEX, "serve", "sg_ready_heat_pump", "--rtu", slave_port,
                             "--baud", str(BAUD), "--speed", "600", "--step", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"heatflex serve --rtu did not start: {err}")
    info = json.loads(line)
    assert info["rtu"] == slave_port and info["baud"] == BAUD and info["url"] == _url(slave_port)
    try:
        yield _url(master_port)
    finally:
        _stop(proc, 10.0)


def test_client_adapter_drives_the_virtual_heat_pump_over_rtu(rtu_device, profile) -> None:
    client = ModbusDeviceClient(profile, rtu_device, timeout_s=1.0, retries=1)
    core = ClientCore(client, policy="abort")
    out: dict[str, float] = {}
    deadline = time.monotonic() + 5.0  # wall s; the device steps 60 device-s per wall s
    while time.monotonic() < deadline:
        out = core.step(1.0, sg_ready_state=3, T_set_C=22.5, P_limit_kW=6.0)
        if out.get("sg_ready_state_active") == 3.0 and out.get("P_limit_active_kW"):
            break
        time.sleep(0.05)
    # the device took the commands: increased operation in force, §14a limit in force
    assert out["device_ok"] == 1.0
    assert out["sg_ready_state_active"] == 3.0
    assert out["P_limit_active_kW"] == pytest.approx(6.0)
    assert out["device_time_s"] > 0.0 and 5.0 < out["T_room_C"] < 40.0
    assert math.isfinite(out["latency_ms"]) and out["latency_ms"] > 0.0
    values = client.read_all()
    assert values["T_room_set_C"] == pytest.approx(22.5) and values["sg_ready_state"] == 3.0
    # out-of-range commands get exception 3 over RTU and change nothing on the device
    with pytest.raises(ModbusDeviceError, match="exception 3"):
        client.write("T_room_set_C", 35.0)
    with pytest.raises(ModbusDeviceError, match="exception 3"):
        client.write("P_limit_kW", 250.0)
    after = client.read_all()
    assert after["T_room_set_C"] == pytest.approx(22.5)
    assert after["P_limit_kW"] == pytest.approx(6.0)
    _check_latency(client)
    # stopping the co-simulation leaves the device in its fail-safe state (read back over RTU)
    core.close()
    assert core.fail_safe_applied
    check = ModbusDeviceClient(profile, rtu_device, timeout_s=1.0, retries=1)
    try:
        final = check.read_all()
    finally:
        check.close()
    assert final["sg_ready_state"] == profile.fail_safe["sg_ready_state"] == 2.0
    assert final["P_limit_kW"] == profile.fail_safe["P_limit_kW"]


def test_scenario_serves_its_heat_pump_over_rtu(pty_pair, tmp_path: Path) -> None:
    # a paced HIL run with `[hil.serve] rtu = <pty>`: an EMS in another process commands the
    # simulated heat pump over the serial line, exactly as over TCP
    slave, master = pty_pair
    lib = Path(__file__).parents[1] / "scenarios" / "library" / "hil_sg_ready_loop.toml"
    text = lib.read_text().replace("port = 5020", f'rtu = "{slave}"\nbaud = {BAUD}')
    text = text.replace('step = "1s"', 'step = "0.5s"\ntime_resolution = 0.5')
    sc = tmp_path / "loop_rtu.toml"
    sc.write_text(text)
    run = subprocess.Popen([HEATFLEX, "run", str(sc), "--until", "15s", "--out",
                            str(tmp_path / "run"), "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # the run opens its end of the line (pyserial drops earlier input)
    ems = subprocess.run([HEATFLEX, "ems", "--device", _url(master), "--T-low", "20.5",
                          "--T-high", "21.0", "--period", "0.5", "--steps", "16"],
                         capture_output=True, text=True, timeout=120)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    lines = [json.loads(x) for x in ems.stdout.splitlines()]
    # readings before the co-simulation's first step see the registers' initial 0 °C
    decisions = [x for x in lines if "sg_ready_state" in x and x["T_room_C"] > 0]
    assert len(decisions) >= 8 and all(d["sg_ready_state"] == 1 for d in decisions), lines
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["hil"]["serve"]["url"].startswith("modbus+rtu://")
    assert meta["hil"]["serve"]["requests"] >= 8

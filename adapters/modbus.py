"""Modbus TCP/RTU adapters: the testbed as Modbus server (slave) and as Modbus client (master).

Both are laid out by a register-map profile (``hil/profiles/*.toml``, :mod:`hil.profile`) and move
*engineering* values (``T_room_C``, ``P_el_kW``, ``sg_ready_state``) by the profile's testbed
attribute names; :mod:`hil.codec` converts to and from registers.

- :class:`ModbusServerEndpoint` serves a profile on 127.0.0.1 (by default) — or on a serial line
  as an RTU slave (:class:`SerialLine`) — from a pymodbus server in a background thread. Every
  client write is validated against the profile *before* it is applied (unmapped address or
  read-only point → exception 2, value out of range / not in the enumeration / half a 32-bit
  value → exception 3), logged in :attr:`rejected`, and queued for the co-simulation
  (:meth:`take_writes`). Simulated values reach clients through :meth:`publish`.
- :class:`ModbusDeviceClient` is the master to a real (or virtual) device: it writes commands,
  reads read-backs, records the latency of every request, retries and reconnects, keeps a
  heartbeat register counting, and can drive the device to the profile's fail-safe values.
- :class:`ServerCore` / :class:`ClientCore` wrap both as cores with ``step(dt_s, **inputs)`` so
  that the generic mosaik adapter (:class:`simulators.cosim.base.CoreSim`) hosts them.
- :class:`Faults` injects latency, timeouts, exception responses, stale values and word-order swaps
  (scheduled by the scenario through :meth:`Faults.apply`), for robustness tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from hil.codec import RegisterMap, WriteRejected, decode, encode
from hil.profile import Point, Profile, sg_ready_state_from_contacts

log = logging.getLogger("heatflex.modbus")

BIT_TABLES = ("coil", "discrete_input")
_BLOCK = {"coil": "c", "discrete_input": "d", "holding_register": "h", "input_register": "i"}
_FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 3: "holding_register",
             6: "holding_register", 16: "holding_register", 22: "holding_register",
             23: "holding_register", 4: "input_register"}  # fmt: skip
_MAX_READ = {"coil": 2000, "discrete_input": 2000, "holding_register": 125, "input_register": 125}
SPAN_MARGIN = 256
"""Addresses served (and validated with a logged refusal) beyond each table's last point."""
TIMEOUT_SLEEP_S = 3600.0
"""How long an injected timeout holds a request (the client gives up long before)."""
_BROADCAST_WRITES = frozenset({5, 6, 15, 16})
"""Function codes a serial slave executes (without answering) when addressed to unit 0."""


@dataclass(frozen=True)
class SerialLine:
    """Settings of a Modbus RTU serial line (both ends must agree).

    Attributes:
        port: serial device, e.g. ``/dev/ttyUSB0`` (or one end of a pty pair).
        baudrate: line speed, bit/s.
        parity: ``N`` (none), ``E`` (even — the Modbus standard's default) or ``O`` (odd).
        bytesize: data bits per character (8 for RTU).
        stopbits: stop bits per character (1 or 2).
    """

    port: str
    baudrate: int = 19200
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("serial line: port is empty; expected e.g. /dev/ttyUSB0")
        if self.baudrate <= 0:
            raise ValueError(f"serial line {self.port}: baud={self.baudrate} must be > 0")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"serial line {self.port}: parity={self.parity!r}; "
                             "allowed: N, E, O")
        if self.bytesize not in (7, 8):
            raise ValueError(f"serial line {self.port}: bytesize={self.bytesize}; allowed: 7, 8")
        if self.stopbits not in (1, 2):
            raise ValueError(f"serial line {self.port}: stopbits={self.stopbits}; allowed: 1, 2")

    @property
    def char_time_s(self) -> float:
        """Time one character occupies on the wire, s (start + data + parity + stop bits)."""
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return bits / self.baudrate

    def url(self, unit: int) -> str:
        """The ``modbus+rtu://`` URL of unit ``unit`` on this line."""
        extra = "".join(f"&{k}={v}" for k, v, d in (("parity", self.parity, "N"),
                                                    ("bytesize", self.bytesize, 8),
                                                    ("stopbits", self.stopbits, 1)) if v != d)
        return f"modbus+rtu://{self.port}?baud={self.baudrate}&unit={unit}{extra}"


class ModbusDeviceError(RuntimeError):
    """A device did not answer or answered with an exception response."""


@dataclass
class Faults:
    """Faults injected into a served device (server side) or into what a client sees.

    Attributes:
        latency_s: added delay before every response, s.
        timeout: requests are never answered (the client times out).
        exception_code: every request gets this Modbus exception code (e.g. 4, 6) instead.
        stale: served values freeze at their last value (``publish`` is ignored).
        swap_words: 32-bit values are served with their words in the wrong order.
        points: restrict ``stale`` / ``swap_words`` to these point names (empty = all).
    """

    latency_s: float = 0.0
    timeout: bool = False
    exception_code: int | None = None
    stale: bool = False
    swap_words: bool = False
    points: frozenset[str] = frozenset()

    def applies_to(self, name: str) -> bool:
        """Whether a per-point fault applies to point ``name``."""
        return not self.points or name in self.points

    @property
    def active(self) -> bool:
        """Any fault set."""
        return bool(self.latency_s or self.timeout or self.exception_code or self.stale
                    or self.swap_words)

    def apply(self, spec: Mapping[str, Any]) -> None:
        """Set faults from a mapping like ``{"latency_s": 0.2, "points": [...]}``; {} clears."""
        allowed = {"latency_s", "timeout", "exception_code", "stale", "swap_words", "points"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        code = spec.get("exception_code")
        if code is not None and int(code) not in {int(c) for c in ExcCodes}:
            raise ValueError(f"exception_code={code!r} is not a Modbus exception code "
                             f"(allowed: {sorted(int(c) for c in ExcCodes)})")
        self.latency_s = float(spec.get("latency_s", 0.0))
        self.timeout = bool(spec.get("timeout", False))
        self.exception_code = None if code is None else int(code)
        self.stale = bool(spec.get("stale", False))
        self.swap_words = bool(spec.get("swap_words", False))
        self.points = frozenset(spec.get("points", ()))


def _swap_words(point: Point, regs: list[int]) -> list[int]:
    return regs[::-1] if point.n_registers == 2 else regs


def encode_served(point: Point, value: float, faults: Faults | None = None) -> list[int]:
    """Registers (or bits) for ``value``, with the word-swap fault applied when set."""
    regs = encode(point, value)
    if faults is not None and faults.swap_words and faults.applies_to(point.name):
        regs = _swap_words(point, regs)
    return regs


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------


@dataclass
class Rejection:
    """One write the server refused (logged, never applied)."""

    wall_time_s: float
    peer: str
    function_code: int
    table: str
    address: int
    exception_code: int
    reason: str


class _GuardedHandler(ServerRequestHandler):
    """A connection handler that closes connections from addresses outside the allow-list."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        owner = self.server.heatflex_endpoint
        if owner.serial is not None:  # a serial line has no peer address to check
            owner.last_peer = owner.serial.port
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        host = peer[0] if peer else ""
        owner.last_peer = f"{host}:{peer[1]}" if peer else "?"
        if owner.allow and host not in owner.allow:
            owner.refused_connections += 1
            log.warning("modbus server %s: refused connection from %s (not in allow-list %s)",
                        owner.profile.name, host, sorted(owner.allow))
            transport.close()
            return
        super().connection_made(transport)


class _SerialHandler(_GuardedHandler):
    """The request handler of an RTU slave: it answers only its own unit id.

    On a multi-drop line every slave hears every request, so a request for another unit must
    get no answer at all (pymodbus would answer exception 4). Writes to unit 0 (broadcast) are
    executed — validated like any write — and never answered.
    """

    async def handle_request(self) -> None:  # noqa: D102
        pdu = self.last_pdu
        owner = self.server.heatflex_endpoint
        unit = owner.profile.device_id
        if pdu is not None and pdu.dev_id != unit:
            if pdu.dev_id == 0 and pdu.function_code in _BROADCAST_WRITES:
                with contextlib.suppress(Exception):
                    await pdu.datastore_update(self.server.context, unit)
            else:
                owner.ignored_requests += 1
            return
        await super().handle_request()


class _Server(ModbusTcpServer):
    heatflex_endpoint: ModbusServerEndpoint

    def callback_new_connection(self) -> ServerRequestHandler:  # noqa: D102
        return _GuardedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _SerialServer(ModbusSerialServer):
    heatflex_endpoint: ModbusServerEndpoint

    def callback_new_connection(self) -> ServerRequestHandler:  # noqa: D102
        return _SerialHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class ModbusServerEndpoint:
    """A profile served over Modbus TCP — or RTU on a serial line — by pymodbus in a thread.

    Args:
        profile: the register map; its ``device_id`` is the unit id served.
        host: bind address; 127.0.0.1 unless the lab wires a real controller from elsewhere.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        allow: client IP addresses allowed to connect (None = any that can reach ``host``);
            TCP only.
        initial: engineering values served before the first :meth:`publish` (default: the
            profile's fail-safe values, then 0).
        serial: serve as an RTU slave on this serial line instead of TCP (``host``/``port``
            are then unused). Requests for other unit ids get no answer, as on a shared bus.
    """

    def __init__(
        self,
        profile: Profile,
        host: str = "127.0.0.1",
        port: int = 0,
        allow: Iterable[str] | None = None,
        initial: Mapping[str, float] | None = None,
        serial: SerialLine | None = None,
    ) -> None:
        self.profile = profile
        self.map = RegisterMap(profile)
        self.host = host
        self.port = int(port)
        self.allow = frozenset(allow) if allow else frozenset()
        self.serial = serial
        if serial is not None and self.allow:
            raise ValueError(f"modbus server {profile.name}: an allow-list needs TCP; a serial "
                             f"line ({serial.port}) has no client addresses")
        self.faults = Faults()
        self.rejected: list[Rejection] = []
        self.refused_connections = 0
        self.ignored_requests = 0
        """Serial only: requests addressed to other unit ids (left unanswered)."""
        self.requests = 0
        self.last_peer = ""
        self._writes: dict[str, float] = {}
        self._write_times: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self._blocks: dict[str, tuple[int, list[int]]] = {}
        start_values = {p.name: 0.0 for p in profile.points}
        start_values.update(profile.fail_safe)
        start_values.update(initial or {})
        self._initial = start_values
        self._served: dict[str, float] = {}
        self._mapped: dict[str, set[int]] = {t: set() for t in _BLOCK}
        for p in profile.points:
            self._mapped[p.table].update(range(p.address, p.address + p.n_registers))

    # -- lifecycle -------------------------------------------------------------------------
    def _device(self) -> SimDevice:
        # Each table spans address 0 to ``SPAN_MARGIN`` past its last point, so that requests
        # near the map — typos, off-by-one (1-based) addressing — reach the validating hook and
        # are logged. Farther requests get exception 2 from pymodbus itself (not logged here);
        # a block over the whole 64 k space would take pymodbus seconds to build.
        blocks: list[list[SimData]] = []
        for table in ("coil", "discrete_input", "holding_register", "input_register"):
            last = max((p.address + p.n_registers for p in self.profile.points
                        if p.table == table), default=0)
            count = last + SPAN_MARGIN
            if table in BIT_TABLES:  # bits are packed 16 to a register (pymodbus bit addressing)
                blocks.append([SimData(0, count=count // 16 + 1, values=0,
                                       datatype=DataType.BITS)])
            else:
                blocks.append([SimData(0, count=count, values=0, datatype=DataType.REGISTERS)])
        return SimDevice(self.profile.device_id, simdata=tuple(blocks), action=self._action)

    @property
    def url(self) -> str:
        """The device URL a client uses to reach this endpoint (after :meth:`start`)."""
        if self.serial is not None:
            return self.serial.url(self.profile.device_id)
        return f"modbus://{self.host}:{self.port}/{self.profile.device_id}"

    def _make_server(self) -> _Server | _SerialServer:
        # must run inside the server thread's *running* loop: pymodbus binds the loop in the
        # constructor (asyncio.get_running_loop() raises anywhere else)
        if self.serial is None:
            server: _Server | _SerialServer = _Server(self._device(),
                                                      address=(self.host, self.port))
        else:
            s = self.serial
            server = _SerialServer(self._device(), framer=FramerType.RTU, port=s.port,
                                   baudrate=s.baudrate, parity=s.parity, bytesize=s.bytesize,
                                   stopbits=s.stopbits)
        server.heatflex_endpoint = self
        return server

    def start(self, timeout_s: float = 10.0) -> int:
        """Start serving; return the bound TCP port (0 on a serial line)."""
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def listen() -> None:
                server = self._make_server()
                await server.serve_forever(background=True)
                self._server = server

            try:
                loop.run_until_complete(listen())
            except BaseException as exc:  # reported to the caller of start()
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"modbus-{self.profile.name}",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError(f"modbus server {self.profile.name}: did not start in {timeout_s} s")
        where = self.serial.port if self.serial else f"{self.host}:{self.port}"
        if error:
            raise RuntimeError(f"modbus server {self.profile.name}: cannot listen on "
                               f"{where} — {error[0]}") from error[0]
        assert self._server is not None
        if self.serial is None:
            sock = self._server.transport.sockets[0]  # type: ignore[union-attr]
            self.port = int(sock.getsockname()[1])
        else:
            self.port = 0
        runtime = self._server.context.devices[self.profile.device_id]  # type: ignore[union-attr]
        for table, block_id in _BLOCK.items():
            start, _count, registers, _flags = runtime.block[block_id]
            self._blocks[table] = (start, registers)
        self.publish(self._initial, _force=True)
        return self.port

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        loop, server = self._loop, self._server
        if loop is None or server is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self) -> ModbusServerEndpoint:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- values ----------------------------------------------------------------------------
    def _store(self, point: Point, regs: list[int]) -> None:
        start, registers = self._blocks[point.table]
        if point.table in BIT_TABLES:
            word, bit = divmod(point.address, 16)
            i = word - start
            registers[i] = (registers[i] | (1 << bit)) if regs[0] else (registers[i] & ~(1 << bit))
        else:
            i = point.address - start
            registers[i : i + len(regs)] = regs  # one slice assignment: atomic under the GIL

    def publish(self, values: Mapping[str, float], _force: bool = False) -> None:
        """Serve engineering ``values`` by point name (the stale fault freezes them)."""
        faults = self.faults
        for name, value in values.items():
            point = self.profile.point(name)
            if faults.stale and faults.applies_to(name) and not _force:
                continue
            if value is None or (isinstance(value, float) and math.isnan(value)
                                 and point.type != "f32"):
                continue
            self._store(point, encode_served(point, float(value), faults))
            self._served[name] = float(value)

    def publish_attrs(self, values: Mapping[str, Any]) -> None:
        """Serve values given by testbed attribute (points without ``attr`` are skipped)."""
        by_attr = {p.attr: p.name for p in self.profile.points if p.attr}
        self.publish({by_attr[a]: v for a, v in values.items() if a in by_attr})

    def value(self, name: str) -> float:
        """The engineering value a client reads now for point ``name``."""
        point = self.profile.point(name)
        start, registers = self._blocks[point.table]
        if point.table in BIT_TABLES:
            word, bit = divmod(point.address, 16)
            return float((registers[word - start] >> bit) & 1)
        i = point.address - start
        return decode(point, registers[i : i + point.n_registers])

    def take_writes(self) -> dict[str, float]:
        """Accepted client writes since the last call: {point name: engineering value}."""
        with self._lock:
            writes, self._writes = self._writes, {}
        return writes

    def write_age_s(self, name: str) -> float:
        """Seconds since a client last wrote point ``name`` (inf if never)."""
        t = self._write_times.get(name)
        return math.inf if t is None else time.monotonic() - t

    # -- request hook (runs in the server thread) ------------------------------------------
    def _reject(self, function_code: int, table: str, address: int, code: int,
                reason: str) -> None:
        self.rejected.append(Rejection(time.time(), self.last_peer, function_code, table,
                                       address, code, reason))
        log.warning("modbus server %s: refused fc %d %s @%d from %s — %s (exception %d)",
                    self.profile.name, function_code, table, address, self.last_peer, reason,
                    code)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        faults = self.faults
        if faults.latency_s > 0.0:
            await asyncio.sleep(faults.latency_s)
        if faults.timeout:
            await asyncio.sleep(TIMEOUT_SLEEP_S)
        if faults.exception_code:
            return ExcCodes(faults.exception_code)
        table = _FC_TABLE.get(function_code, "holding_register")
        if not set_values:
            # reads may span gaps between points, but must touch at least one point
            span = count * 16 if table in BIT_TABLES else count
            if not any(address <= a < address + span for a in self._mapped[table]):
                self._reject(function_code, table, address, 2,
                             f"no point of profile {self.profile.name!r} at {table} "
                             f"{address}..{address + count - 1}")
                return ExcCodes.ILLEGAL_ADDRESS
            return None
        values = [int(v) for v in set_values]
        try:
            accepted = self.map.validate_write(table, address, values)  # type: ignore[arg-type]
        except WriteRejected as exc:
            self._reject(function_code, table, address, exc.code, f"{values}: {exc.message}")
            return ExcCodes(exc.code)
        now = time.monotonic()
        with self._lock:
            for point, value in accepted:
                self._writes[point.name] = value
                self._write_times[point.name] = now
                self._served[point.name] = value
        return None


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


@dataclass
class _Read:
    """One read request covering several points of one table."""

    table: str
    address: int
    count: int
    points: list[Point]


def plan_reads(points: Sequence[Point], max_gap: int = 8) -> list[_Read]:
    """Group readable points into few requests (contiguous ranges, gaps ≤ ``max_gap``)."""
    reads: list[_Read] = []
    by_table: dict[str, list[Point]] = {}
    for p in points:
        by_table.setdefault(p.table, []).append(p)
    for table, pts in by_table.items():
        pts.sort(key=lambda p: p.address)
        cur: _Read | None = None
        for p in pts:
            end = p.address + p.n_registers
            if (cur is not None and p.address - (cur.address + cur.count) <= max_gap
                    and end - cur.address <= _MAX_READ[table]):
                cur.count = max(cur.count, end - cur.address)
                cur.points.append(p)
            else:
                cur = _Read(table, p.address, p.n_registers, [p])
                reads.append(cur)
    return reads


@dataclass
class ClientStats:
    """Per-request latency and error counts of a client (latencies in ms)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    reconnects: int = 0
    requests: int = 0

    def summary(self) -> dict[str, float]:
        """p50/p99/max latency, ms, and counters."""
        lat = sorted(self.latencies_ms)

        def q(f: float) -> float:
            return lat[min(len(lat) - 1, int(f * len(lat)))] if lat else math.nan

        return {"requests": self.requests, "errors": self.errors, "timeouts": self.timeouts,
                "reconnects": self.reconnects, "latency_p50_ms": q(0.50),
                "latency_p99_ms": q(0.99), "latency_max_ms": lat[-1] if lat else math.nan}


RTU_URL_KEYS = ("baud", "unit", "parity", "bytesize", "stopbits")


def parse_device_url(url: str) -> dict[str, Any]:
    """``modbus://HOST:PORT[/UNIT]`` (TCP) or
    ``modbus+rtu:///dev/ttyUSB0?baud=19200[&unit=1][&parity=N|E|O][&bytesize=8][&stopbits=1]``
    (RTU; baud in bit/s, default 9600, 8N1). The RTU entry ``serial`` is a :class:`SerialLine`.
    """
    from urllib.parse import parse_qs, urlparse

    u = urlparse(url)
    if u.scheme == "modbus":
        if not u.hostname:
            raise ValueError(f"device URL {url!r}: expected modbus://HOST:PORT[/UNIT]")
        unit = int(u.path.strip("/")) if u.path.strip("/") else None
        return {"transport": "tcp", "host": u.hostname, "port": u.port or 502, "device_id": unit}
    if u.scheme == "modbus+rtu":
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        unknown = sorted(set(q) - set(RTU_URL_KEYS))
        if unknown or not u.path:
            raise ValueError(f"device URL {url!r}: expected modbus+rtu:///dev/ttyX?baud=N"
                             f"[&unit=ID]; unknown keys {unknown}, allowed: {list(RTU_URL_KEYS)}"
                             if unknown else f"device URL {url!r}: no serial port path; "
                             "expected modbus+rtu:///dev/ttyX?baud=N")
        try:
            line = SerialLine(u.path, baudrate=int(q.get("baud", 9600)),
                              parity=q.get("parity", "N").upper(),
                              bytesize=int(q.get("bytesize", 8)),
                              stopbits=int(q.get("stopbits", 1)))
            unit = int(q["unit"]) if "unit" in q else None
        except ValueError as exc:
            raise ValueError(f"device URL {url!r}: {exc}") from None
        return {"transport": "rtu", "serial_port": line.port, "baudrate": line.baudrate,
                "serial": line, "device_id": unit}
    raise ValueError(f"device URL {url!r}: scheme must be modbus:// (TCP) or modbus+rtu:// "
                     "(serial RTU)")


class ModbusDeviceClient:
    """The testbed as Modbus master of one device laid out by ``profile``.

    Args:
        profile: register map of the device.
        url: ``modbus://HOST:PORT[/UNIT]`` or ``modbus+rtu:///dev/ttyX?baud=19200&unit=1``
            (see :func:`parse_device_url`).
        timeout_s: per-request timeout, s (on RTU: from the end of the request until the
            answer is complete, so allow for the frame times at the line's baud rate).
        retries: extra attempts per request after a timeout or connection error.
        refresh_s: commands are written when they change and at least every ``refresh_s``.
    """

    def __init__(
        self,
        profile: Profile,
        url: str,
        timeout_s: float = 0.5,
        retries: int = 1,
        refresh_s: float = 10.0,
    ) -> None:
        self.profile = profile
        self.url = url
        conf = parse_device_url(url)
        self.device_id = conf["device_id"] if conf["device_id"] is not None else profile.device_id
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.refresh_s = float(refresh_s)
        if conf["transport"] == "tcp":
            self._client: Any = ModbusTcpClient(conf["host"], port=conf["port"],
                                                timeout=self.timeout_s, retries=0)
        else:
            line: SerialLine = conf["serial"]
            self._client = ModbusSerialClient(line.port, framer=FramerType.RTU,
                                              baudrate=line.baudrate, parity=line.parity,
                                              bytesize=line.bytesize, stopbits=line.stopbits,
                                              timeout=self.timeout_s, retries=0)
        self.stats = ClientStats()
        self._last_written: dict[str, tuple[float, float]] = {}
        self._reads = plan_reads([p for p in profile.points if p.access != "w"])
        self._heartbeat = 0
        self.faults = Faults()  # what this master sees (injected on the client side)
        self._lock = threading.RLock()  # the stall watchdog may write fail-safe from its thread
        self.connected = False

    # -- transport --------------------------------------------------------------------------
    def connect(self) -> bool:
        """Open the connection; True when connected."""
        self.connected = bool(self._client.connect())
        return self.connected

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(Exception):
            self._client.close()
        self.connected = False

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """One request with latency recording, retries and reconnect; raise ModbusDeviceError."""
        with self._lock:
            return self._call_locked(what, fn)

    def _call_locked(self, what: str, fn: Callable[[], Any]) -> Any:
        last: str = ""
        for attempt in range(self.retries + 1):
            if not self.connected and not self.connect():
                last = "cannot connect"
                self.stats.errors += 1
                continue
            t0 = time.perf_counter()
            try:
                rr = fn()
            except ModbusException as exc:
                self.stats.requests += 1
                self.stats.timeouts += 1
                last = f"no answer ({exc})"
                self.close()
                self.stats.reconnects += 1 if attempt < self.retries else 0
                continue
            self.stats.requests += 1
            self.stats.latencies_ms.append((time.perf_counter() - t0) * 1e3)
            if rr.isError():
                self.stats.errors += 1
                code = getattr(rr, "exception_code", None)
                raise ModbusDeviceError(f"{self.url}: {what} → Modbus exception {code}")
            return rr
        raise ModbusDeviceError(f"{self.url}: {what} — {last} after {self.retries + 1} attempts")

    # -- points -----------------------------------------------------------------------------
    def write(self, name: str, value: float) -> None:
        """Write one point (engineering value); raise ModbusDeviceError on refusal."""
        p = self.profile.point(name)
        raw = encode(p, float(value))
        dev = self.device_id
        c = self._client
        if p.table == "coil":
            self._call(f"write {name}={value}",
                       lambda: c.write_coil(p.address, bool(raw[0]), device_id=dev))
        elif p.table == "holding_register":
            if len(raw) == 1:
                self._call(f"write {name}={value}",
                           lambda: c.write_register(p.address, raw[0], device_id=dev))
            else:
                self._call(f"write {name}={value}",
                           lambda: c.write_registers(p.address, raw, device_id=dev))
        else:
            raise ValueError(f"point {name!r} is in table {p.table}, which cannot be written")
        self._last_written[name] = (float(value), time.monotonic())

    def write_changed(self, values: Mapping[str, float]) -> int:
        """Write the points whose value changed or is due for refresh; return how many."""
        now = time.monotonic()
        n = 0
        for name, value in values.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            last = self._last_written.get(name)
            if last is None or last[0] != float(value) or now - last[1] >= self.refresh_s:
                self.write(name, value)
                n += 1
        return n

    def read_all(self) -> dict[str, float]:
        """Read every readable point in as few requests as possible: {name: value}."""
        out: dict[str, float] = {}
        dev = self.device_id
        c = self._client
        readers = {"coil": c.read_coils, "discrete_input": c.read_discrete_inputs,
                   "holding_register": c.read_holding_registers,
                   "input_register": c.read_input_registers}
        for rd in self._reads:
            fn = readers[rd.table]
            rr = self._call(f"read {rd.table} {rd.address}+{rd.count}",
                            lambda fn=fn, rd=rd: fn(rd.address, count=rd.count, device_id=dev))
            data = rr.bits if rd.table in BIT_TABLES else rr.registers
            swap = self.faults.swap_words
            for p in rd.points:
                i = p.address - rd.address
                raw = [int(x) for x in data[i : i + p.n_registers]]
                if swap and self.faults.applies_to(p.name):
                    raw = _swap_words(p, raw)
                out[p.name] = decode(p, raw)
        return out

    def heartbeat(self) -> None:
        """Increment and write the profile's heartbeat point (no-op without one)."""
        hb = self.profile.heartbeat
        if hb is None:
            return
        self._heartbeat = (self._heartbeat + 1) % 65536
        self.write(hb.point, self._heartbeat)

    def fail_safe(self) -> list[str]:
        """Write every fail-safe value; return the names written (errors are logged, not raised)."""
        done = []
        for name, value in self.profile.fail_safe.items():
            try:
                self.write(name, value)
                done.append(name)
            except (ModbusDeviceError, OSError) as exc:
                log.error("fail-safe %s=%s on %s failed: %s", name, value, self.url, exc)
        return done


# ---------------------------------------------------------------------------------------------
# Cores for the generic mosaik adapter
# ---------------------------------------------------------------------------------------------


class ServerCore:
    """A served profile as a model core: inputs are served, accepted client writes are outputs.

    Inputs: testbed attributes of the profile's read-only points (e.g. ``T_room_C``), plus any
    writable point's attribute to *initialise* it. Outputs: the attributes of writable points,
    holding the last value a client wrote (or the fail-safe/initial value), ``n_rejected``,
    ``write_age_s`` of the heartbeat point (inf before the first write).
    """

    def __init__(self, endpoint: ModbusServerEndpoint) -> None:
        self.endpoint = endpoint
        prof = endpoint.profile
        self._out_points = [p for p in prof.points if p.attr and p.access != "r"]
        self._in_attrs = {p.attr: p.name for p in prof.points if p.attr and p.access == "r"}
        self._hb = prof.heartbeat.point if prof.heartbeat else None
        self._attr_of = {p.name: p.attr for p in prof.points}
        self._sg_from_contacts = False

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        """Serve ``inputs`` and return the controller's commands."""
        ep = self.endpoint
        ep.publish({self._in_attrs[a]: float(v) for a, v in inputs.items() if a in self._in_attrs})
        for name in ep.take_writes():  # SG-Ready: contacts or register, the later written wins
            attr = self._attr_of.get(name)
            if attr in ("sg_contact_1", "sg_contact_2"):
                self._sg_from_contacts = True
            elif attr == "sg_ready_state":
                self._sg_from_contacts = False
        out: dict[str, Any] = {p.attr: ep.value(p.name) for p in self._out_points}
        if self._sg_from_contacts and "sg_ready_state" in out:
            out["sg_ready_state"] = float(sg_ready_state_from_contacts(
                int(out.get("sg_contact_1", 0)), int(out.get("sg_contact_2", 0))))
        out["n_rejected"] = float(len(ep.rejected))
        if self._hb:
            out["heartbeat_age_s"] = ep.write_age_s(self._hb)
        return out

    def close(self) -> None:
        """Stop serving."""
        self.endpoint.stop()


NOT_ANSWERING_POLICIES = ("hold_last", "fail_safe", "abort")


class ClientCore:
    """A Modbus device as a model core: inputs are written, read-backs are outputs.

    Args:
        client: the connected device client.
        policy: what to do when the device stops answering — ``hold_last`` (keep the last
            read-backs, keep trying), ``fail_safe`` (stop commanding; write the fail-safe values
            at every reconnect), ``abort`` (raise: the run fails, fail-safe applied on close).
        events: a list the core appends ``(wall_time_s, text)`` events to (device lost, back,
            fail-safe applied).
    """

    def __init__(self, client: ModbusDeviceClient, policy: str = "hold_last",
                 events: list[tuple[float, str]] | None = None) -> None:
        if policy not in NOT_ANSWERING_POLICIES:
            raise ValueError(f"policy={policy!r} is not allowed; use one of "
                             f"{list(NOT_ANSWERING_POLICIES)}")
        self.client = client
        self.policy = policy
        self.events = events if events is not None else []
        prof = client.profile
        self._cmd = {p.attr: p.name for p in prof.points if p.attr and p.access != "r"}
        self._rb = {p.name: p.attr for p in prof.points if p.attr and p.access != "w"}
        self._last: dict[str, float] = {}
        self.lost = False
        self.fail_safe_applied = False

    def _event(self, text: str) -> None:
        self.events.append((time.time(), text))
        log.warning("%s: %s", self.client.url, text)

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        """Write commands + heartbeat, read the read-backs; apply the policy on loss."""
        n0 = len(self.client.stats.latencies_ms)
        f = self.client.faults
        try:
            if f.latency_s > 0.0:
                time.sleep(f.latency_s)
            if f.timeout:
                raise ModbusDeviceError(f"{self.client.url}: no answer (injected timeout)")
            if f.exception_code:
                raise ModbusDeviceError(f"{self.client.url}: Modbus exception "
                                        f"{f.exception_code} (injected)")
            if self.lost and self.policy == "fail_safe":
                self.client.fail_safe()
            else:
                cmds = {self._cmd[a]: float(v) for a, v in inputs.items() if a in self._cmd}
                self.client.write_changed(cmds)
            self.client.heartbeat()
            values = self.client.read_all()
            if self.lost:
                self._event("device answers again")
                self.lost = False
            fresh = {self._rb[n]: v for n, v in values.items() if n in self._rb}
            if f.stale:  # frozen read-backs: the injected points keep their last value
                fresh.update({a: v for a, v in self._last.items()
                              if f.applies_to(self.client.profile.by_attr(a).name)})
            self._last = fresh
        except ModbusDeviceError as exc:
            if not self.lost:
                self._event(f"device not answering: {exc} (policy {self.policy})")
            self.lost = True
            if self.policy == "abort":
                raise
        lat = self.client.stats.latencies_ms[n0:]
        return {**self._last, "device_ok": 0.0 if self.lost else 1.0,
                "latency_ms": max(lat) if lat else math.nan}

    def close(self) -> None:
        """Drive the device to its fail-safe values, then disconnect."""
        written = self.client.fail_safe()
        self.fail_safe_applied = bool(written)
        self._event(f"fail-safe applied: {', '.join(written) or 'nothing (device unreachable)'}")
        self.client.close()

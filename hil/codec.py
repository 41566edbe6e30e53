"""Engineering values ↔ Modbus registers, and a profile laid out per Modbus table.

Pure Python (no pymodbus): the Modbus adapters (``adapters/modbus.py``) and the virtual devices
call these functions, so that encoding rules and write validation live in one place.

- ``encode(point, value)`` → the point's registers (u16 ints, high byte first as on the wire) or
  ``[0]``/``[1]`` for a bit; ``decode(point, raw)`` is its inverse.
- ``RegisterMap(profile)`` knows which point sits at which address and validates raw write
  requests all-or-nothing, raising ``WriteRejected`` with the Modbus exception code to answer.

Exception codes used (Modbus application protocol v1.1b3, §7):
1 ILLEGAL FUNCTION (a write to an input table), 2 ILLEGAL DATA ADDRESS (unmapped address,
read-only point, only part of a 32-bit point), 3 ILLEGAL DATA VALUE (empty request, a register
outside 0..65535, a value outside min/max, not in the enum, not 0/1 for a bool, NaN/inf f32).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

from hil.profile import (
    BIT_TABLES,
    F32_MAX,
    INPUT_TABLES,
    RAW_RANGE,
    TABLES,
    WRITABLE_TABLES,
    Point,
    Profile,
    Table,
    format_number,
)

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3


class CodecError(ValueError):
    """A value cannot be represented by a point's data type, or raw data has the wrong shape."""


class RequestRejected(Exception):
    """A Modbus request that must be answered with exception ``code``; ``message`` says why."""

    def __init__(self, code: int, message: str):
        super().__init__(f"Modbus exception {code}: {message}")
        self.code = code
        self.message = message


class WriteRejected(RequestRejected):
    """A write request rejected as a whole (nothing of it may be applied)."""


class ReadRejected(RequestRejected):
    """A read request outside the served address span."""


# --------------------------------------------------------------------------------------------
# One point


def _swap(w: int) -> int:
    """The two bytes of a register swapped."""
    return ((w & 0xFF) << 8) | (w >> 8)


def _to_registers(u: int, point: Point) -> list[int]:
    """An unsigned value (16 or 32 bits) → registers in the point's word and byte order."""
    if point.n_registers == 1:
        return [_swap(u) if point.byte_order == "little" else u]
    words = [u >> 16, u & 0xFFFF]
    if point.word_order == "little":
        words.reverse()
    if point.byte_order == "little":
        words = [_swap(w) for w in words]
    return words


def _from_registers(raw: Sequence[int], point: Point) -> int:
    """Registers in the point's word and byte order → the unsigned value (16 or 32 bits)."""
    words = [int(r) for r in raw]
    if point.byte_order == "little":
        words = [_swap(w) for w in words]
    if len(words) == 1:
        return words[0]
    if point.word_order == "little":
        words.reverse()
    return (words[0] << 16) | words[1]


def _shortest_f32(x: float) -> float:
    """The shortest decimal that is the same single-precision number as ``x`` (0.1f → 0.1)."""
    bits = struct.pack(">f", x)
    for digits in range(6, 10):
        y = float(f"{x:.{digits}g}")
        if struct.pack(">f", y) == bits:
            return y
    return x


def encode(point: Point, value: float) -> list[int]:
    """The registers (each 0..65535, ``point.n_registers`` of them) or the bit ([0] or [1]) that
    represent ``value`` in engineering units (raw = (value − offset) / scale, integers rounded
    half away from zero).

    Raises CodecError if the value is not representable: outside the type's range after scale
    and offset, not 0/1 for a bool, NaN/inf for an integer type. min/max and enum are *not*
    checked here (``Point.value_problem`` does that); NaN and ±inf encode as f32 specials.
    """
    v = float(value)
    if point.type == "bool":
        if v not in (0.0, 1.0):
            raise CodecError(f"{point.name}: a bool takes 0 or 1, not {value!r}")
        return [int(v)]
    if point.type == "f32":
        raw_f = point.to_raw(v)
        if math.isfinite(raw_f) and abs(raw_f) > F32_MAX:
            raise CodecError(f"{point.name} = {value!r}: beyond the f32 range (±{F32_MAX:.4g})")
        return _to_registers(int.from_bytes(struct.pack(">f", raw_f), "big"), point)
    if not math.isfinite(v):
        raise CodecError(f"{point.name} = {value!r}: {point.type} holds finite numbers only")
    raw = int(point.to_raw(v))
    lo, hi = RAW_RANGE[point.type]
    if not lo <= raw <= hi:
        elo, ehi = point.engineering_range()
        unit = f" {point.unit}" if point.unit else ""
        raise CodecError(
            f"{point.name} = {format_number(v)}{unit}: not representable as {point.type} "
            f"(raw {raw}); allowed: {format_number(elo)}..{format_number(ehi)}{unit}"
        )
    return _to_registers(raw & (0xFFFF_FFFF if point.n_registers == 2 else 0xFFFF), point)


def decode(point: Point, raw: Sequence[int]) -> float:
    """The engineering value of a point's registers (or bit), inverse of ``encode``.

    A bool decodes any non-zero register as 1.0. f32 values come back as the shortest decimal
    that is the same single-precision number (21.3 stays 21.3); NaN and ±inf pass through.
    Raises CodecError if ``raw`` has the wrong length or a register outside 0..65535.
    """
    if len(raw) != point.n_registers:
        raise CodecError(
            f"{point.name}: {point.type} needs {point.n_registers} register(s), got {len(raw)}"
        )
    for r in raw:
        if not 0 <= int(r) <= 0xFFFF:
            raise CodecError(f"{point.name}: register value {r!r} outside 0..65535")
    if point.type == "bool":
        return 1.0 if int(raw[0]) else 0.0
    u = _from_registers(raw, point)
    if point.type == "f32":
        return point.from_raw(_shortest_f32(struct.unpack(">f", u.to_bytes(4, "big"))[0]))
    if point.type == "s16" and u >= 0x8000:
        u -= 0x1_0000
    elif point.type == "s32" and u >= 0x8000_0000:
        u -= 0x1_0000_0000
    return point.from_raw(u)


def counter_next(point: Point, value: float) -> float:
    """The next value of a heartbeat counter: value + 1, wrapping to 0 after the type's max."""
    _, hi = RAW_RANGE.get(point.type, (0, 0xFFFF))
    return 0.0 if value >= hi else float(int(value) + 1)


# --------------------------------------------------------------------------------------------
# A whole profile


class RegisterMap:
    """The profile laid out per table: which point sits at which address."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._by_name = {p.name: p for p in profile.points}
        # table → address → (point, index of this address within the point)
        self._at: dict[str, dict[int, tuple[Point, int]]] = {t: {} for t in TABLES}
        for p in profile.points:
            for i in range(p.n_registers):
                self._at[p.table][p.address + i] = (p, i)

    def point_at(self, table: Table, address: int) -> Point | None:
        """The point occupying ``address`` in ``table`` (None if unmapped)."""
        hit = self._at[table].get(address)
        return hit[0] if hit else None

    def blocks(self) -> dict[Table, tuple[int, int]]:
        """(first address, count) spanning each table that has points; gaps are included."""
        out: dict[Table, tuple[int, int]] = {}
        for table in TABLES:
            at = self._at[table]
            if at:
                first, last = min(at), max(at)
                out[table] = (first, last - first + 1)
        return out

    def validate_write(
        self, table: Table, address: int, values: Sequence[int]
    ) -> list[tuple[Point, float]]:
        """Decode a raw write request (coils: 0/1 or bools; holding registers: 0..65535) into
        (point, engineering value) pairs, or reject it as a whole.

        Raises WriteRejected with code 1 for an input table; 2 for an address outside the map, a
        read-only point or a 32-bit point written only in part; 3 for an empty request, a raw
        value outside 0..65535 (0/1 for coils), or a value the point does not allow (min/max,
        enum, bool 0/1, NaN/inf f32). Checks everything before returning: never a partial result.
        """
        name = self.profile.name
        if table not in WRITABLE_TABLES:
            why = "read-only" if table in INPUT_TABLES else "not a Modbus table"
            raise WriteRejected(
                ILLEGAL_FUNCTION, f"{table} is {why}; writable tables: coil, holding_register"
            )
        n = len(values)
        if n == 0:
            raise WriteRejected(ILLEGAL_DATA_VALUE, "empty write request")
        if address < 0 or address + n - 1 > 65535:
            raise WriteRejected(
                ILLEGAL_DATA_ADDRESS, f"{table} {address}..{address + n - 1} outside 0..65535"
            )
        # 1) addresses: every address mapped, writable, every touched point covered in full
        at = self._at[table]
        touched: list[Point] = []
        for a in range(address, address + n):
            hit = at.get(a)
            if hit is None:
                raise WriteRejected(
                    ILLEGAL_DATA_ADDRESS, f"{table} {a} is not mapped in profile {name!r}"
                )
            p, i = hit
            if not p.writable:
                raise WriteRejected(
                    ILLEGAL_DATA_ADDRESS, f"{p.name} ({table} {p.address}) is read-only"
                )
            if i == 0:
                touched.append(p)
            if (i == 0 and p.last_address > address + n - 1) or (i > 0 and a == address):
                raise WriteRejected(
                    ILLEGAL_DATA_ADDRESS,
                    f"{p.name} ({table} "
                    f"{p.address}..{p.last_address}, {p.type}) must be written "
                    "whole; the request covers only part of it",
                )
        # 2) values
        bits = table in BIT_TABLES
        for k, r in enumerate(values):
            hi = 1 if bits else 0xFFFF
            if (isinstance(r, float) and not r.is_integer()) or not 0 <= int(r) <= hi:
                raise WriteRejected(
                    ILLEGAL_DATA_VALUE, f"{table} {address + k}: raw value {r!r} outside 0..{hi}"
                )
        out: list[tuple[Point, float]] = []
        for p in touched:
            regs = [int(r) for r in values[p.address - address : p.last_address - address + 1]]
            if p.type == "bool" and regs[0] not in (0, 1):
                raise WriteRejected(
                    ILLEGAL_DATA_VALUE, f"{p.name} = {regs[0]} is not a bool; allowed: 0 or 1"
                )
            value = decode(p, regs)
            problem = p.value_problem(value, representable=True)
            if problem is not None:
                raise WriteRejected(ILLEGAL_DATA_VALUE, problem)
            out.append((p, value))
        return out

    def encode_values(self, values: Mapping[str, float]) -> dict[Table, dict[int, int]]:
        """Engineering values by point name → raw register/bit values by table and address.

        Raises UnknownPoint (a KeyError) for an unknown name and CodecError for a value the
        point's type cannot represent (min/max/enum are not checked: read-backs report what is).
        """
        out: dict[Table, dict[int, int]] = {}
        for name, value in values.items():
            p = self._by_name.get(name) or self.profile.point(name)  # raises UnknownPoint
            regs = encode(p, value)
            table = out.setdefault(p.table, {})
            for i, r in enumerate(regs):
                table[p.address + i] = r
        return out

    def encode_attrs(self, values: Mapping[str, float]) -> dict[Table, dict[int, int]]:
        """Like ``encode_values`` but keyed by testbed attribute (``P_el_kW``)."""
        return self.encode_values({self.profile.by_attr(a).name: v for a, v in values.items()})

    def decode_block(self, table: Table, address: int, raw: Sequence[int]) -> dict[str, float]:
        """Engineering values by point name of every point lying wholly inside the block of
        registers (or bits) ``raw`` read from ``table`` starting at ``address``."""
        out: dict[str, float] = {}
        end = address + len(raw)
        for p in self.profile.points_in(table):
            if p.address >= address and p.last_address < end:
                out[p.name] = decode(p, raw[p.address - address : p.last_address - address + 1])
        return out

    def read(
        self,
        table: Table,
        address: int,
        count: int,
        image: Mapping[Table, Mapping[int, int]],
    ) -> list[int]:
        """Serve a read from a register image (raw values by table and address).

        Addresses inside ``blocks()`` that hold no value in the image (gaps, unwritten) read 0;
        a request reaching outside the table's block raises ReadRejected (code 2), as does a
        count outside 1..2000 bits / 1..125 registers (code 3).
        """
        limit = 2000 if table in BIT_TABLES else 125
        if not 1 <= count <= limit:
            raise ReadRejected(ILLEGAL_DATA_VALUE, f"count {count} outside 1..{limit}")
        block = self.blocks().get(table)
        if block is None or address < block[0] or address + count > block[0] + block[1]:
            span = f"{block[0]}..{block[0] + block[1] - 1}" if block else "nothing"
            raise ReadRejected(
                ILLEGAL_DATA_ADDRESS,
                f"{table} {address}..{address + count - 1} outside the served span ({span})",
            )
        values = image.get(table, {})
        return [int(values.get(a, 0)) for a in range(address, address + count)]

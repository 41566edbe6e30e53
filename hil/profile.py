"""Modbus register-map profiles: which data point of a device sits at which Modbus address.

A profile is a TOML file (bundled ones live in ``hil/profiles/``) validated by the pydantic models
below. Every mistake becomes one line naming the file, the key path and what is allowed, e.g.::

    hil/profiles/x.toml: points.3.type = 'u32' — point 'sg_contact_1': a coil holds one bit;
    allowed: type = 'bool' (the default on coils and discrete inputs)

Conventions (``docs/hil.md`` has the full description and the bundled register tables):

- Addresses are Modbus *protocol* addresses, 0-based (holding register 0 = "40001" in the 1-based
  register-number notation of many device manuals).
- Engineering value = raw × ``scale`` + ``offset``; the engineering unit is ``unit`` and should be
  the unit in the mapped testbed attribute's name (``T_room_C`` → °C).
- 32-bit types occupy two consecutive registers; ``word_order`` "big" = high word first (ABCD),
  ``byte_order`` "big" = high byte first within each register. "little"/"big" = CDAB,
  "big"/"little" = BADC, "little"/"little" = DCBA.
- ``bool`` on coils and discrete inputs is one bit; on input/holding registers it is one register
  holding 0 or 1 (writes of anything else are rejected with Modbus exception 3; reads decode any
  non-zero register as 1, for devices that use 0xFFFF for true).
- ``enum`` maps labels to *raw* values; an enumerated point takes scale 1 and offset 0, so raw and
  engineering values coincide.
- ``access`` defaults to "r" (read-only): a point is writable only where the profile says so.
  Input tables (discrete inputs, input registers) are always read-only.

The pure encoding (engineering value ↔ registers) and the per-table layout with write validation
live in ``hil/codec.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from simulators.config_errors import ConfigError, read_toml, validate

Table = Literal["coil", "discrete_input", "input_register", "holding_register"]
DataType = Literal["bool", "u16", "s16", "u32", "s32", "f32"]
Access = Literal["r", "rw", "w"]
Order = Literal["big", "little"]

TABLES: tuple[Table, ...] = ("coil", "discrete_input", "input_register", "holding_register")
BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete_input"})
"""Tables of single bits (Modbus function codes 1/5/15 and 2)."""
INPUT_TABLES: frozenset[str] = frozenset({"discrete_input", "input_register"})
"""Tables a Modbus master can only read."""
WRITABLE_TABLES: frozenset[str] = frozenset({"coil", "holding_register"})

RAW_RANGE: dict[str, tuple[int, int]] = {
    "bool": (0, 1),
    "u16": (0, 0xFFFF),
    "s16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFF_FFFF),
    "s32": (-0x8000_0000, 0x7FFF_FFFF),
}
"""Raw integer range of each integer data type (f32 has none: IEEE 754 single precision)."""
F32_MAX = 3.4028234663852886e38
"""Largest finite IEEE 754 single-precision value."""
COUNTER_TYPES: tuple[str, ...] = ("bool", "u16", "u32")
"""Data types a heartbeat counter may have (it wraps to 0 after the type's maximum)."""

SG_READY_CONTACTS: dict[int, tuple[int, int]] = {1: (1, 0), 2: (0, 0), 3: (0, 1), 4: (1, 1)}
"""SG-Ready state → (contact 1, contact 2), BWP label (reference §3.1): 1 = blocking
("EVU-Sperre"), 2 = normal, 3 = increased operation, 4 = start command."""
SG_READY_LABELS: dict[int, str] = {
    1: "HP_LOCKED",
    2: "HP_NORMAL",
    3: "HP_INTENSIFIED",
    4: "HP_FORCED",
}
"""SG-Ready state → SmartGridready ``SGReadyStateLv2`` label (reference §3.2)."""

PROFILES_DIR = Path(__file__).parent / "profiles"
"""Folder of the bundled profiles (``<name>.toml``)."""

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ProfileError(ConfigError):
    """A register-map profile is invalid; ``messages`` holds one line per mistake."""


class UnknownPoint(KeyError):
    """A point name or attribute that the profile does not declare (message lists the known)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


def sg_ready_state_from_contacts(contact_1: int | bool, contact_2: int | bool) -> int:
    """The SG-Ready state (1..4) signalled by the two contacts (each 0/1, True = closed)."""
    pair = (int(bool(contact_1)), int(bool(contact_2)))
    for state, contacts in SG_READY_CONTACTS.items():
        if contacts == pair:
            return state
    raise AssertionError("unreachable: the four contact pairs cover all states")


# --------------------------------------------------------------------------------------------
# Errors with a key path: pydantic prefixes the location of a nested model, so a problem found in
# a point's validator at ("type",) is reported as points.3.type.


def _raise(title: str, problems: list[tuple[tuple[str | int, ...], Any, str]]) -> None:
    """Raise a pydantic ValidationError with one custom error per (location, input, message)."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("profile", "{msg}", {"msg": msg}), loc=loc, input=inp
                )
                for loc, inp, msg in problems
            ],
        )


def _dec(x: float | int) -> Decimal:
    """A float as the decimal number it was written as (0.1 → Decimal('0.1'), not 0.1000…055)."""
    return Decimal(repr(float(x))) if isinstance(x, float) else Decimal(int(x))


@lru_cache(maxsize=1024)
def _scaling(scale: float, offset: float) -> tuple[str, int, float]:
    """How to apply (scale, offset) quickly and still exactly as decimals:
    ("id", 0, 0) for 1/0; ("inv", n, k) when scale = 1/n and offset = k/n exactly (raw 215 with
    scale 0.1 → 215 / 10 = 21.5, one rounding); ("mul", 0, 0) for an integer scale; else
    ("dec", 0, 0): decimal arithmetic."""
    if scale == 1.0 and offset == 0.0:
        return ("id", 0, 0.0)
    n = round(1.0 / scale)
    if n >= 1 and _dec(scale) * n == 1:
        k = _dec(offset) * n
        if k == k.to_integral_value():
            return ("inv", n, float(k))
    if scale.is_integer():
        return ("mul", 0, 0.0)
    return ("dec", 0, 0.0)


def _round_half_away(x: float) -> int | None:
    """x rounded half away from zero; None when x lies within float noise of a tie (x.5)."""
    frac = abs(x) - math.floor(abs(x))
    if abs(frac - 0.5) < 1e-6:
        return None
    r = math.floor(abs(x) + 0.5)
    return int(r) if x >= 0 else -int(r)


def format_number(x: float) -> str:
    """A number for messages: integers without '.0', otherwise the shortest repr."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


class Point(BaseModel):
    """One data point: a Modbus table + address, its data type and its engineering meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_PATTERN, description="unique within the profile")
    table: Table
    address: int = Field(ge=0, le=65535, description="0-based Modbus protocol address")
    type: DataType = "u16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    offset: float = Field(0.0, allow_inf_nan=False)
    unit: str = ""
    access: Access = "r"
    min: float | None = Field(None, allow_inf_nan=False, description="engineering units")
    max: float | None = Field(None, allow_inf_nan=False, description="engineering units")
    enum: dict[str, int] | None = Field(None, description="label → raw value")
    attr: str | None = Field(None, pattern=_NAME_PATTERN, description="testbed attribute")
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bits_default_to_bool(cls, data: Any) -> Any:
        """On coils and discrete inputs the type defaults to bool (they hold single bits)."""
        if isinstance(data, dict) and data.get("table") in BIT_TABLES and "type" not in data:
            return {**data, "type": "bool"}
        return data

    @property
    def n_registers(self) -> int:
        """Registers (or bits) the point occupies: 2 for u32/s32/f32, else 1."""
        return 2 if self.type in ("u32", "s32", "f32") else 1

    @property
    def last_address(self) -> int:
        """The last address the point occupies."""
        return self.address + self.n_registers - 1

    @property
    def writable(self) -> bool:
        """True if a Modbus master may write the point (access 'rw' or 'w')."""
        return self.access != "r"

    @property
    def readable(self) -> bool:
        """True if the point reports a value (access 'r' or 'rw'; 'w' is a command only)."""
        return self.access != "w"

    def to_raw(self, value: float) -> int | float:
        """(value − offset) / scale: an int (rounded half away from zero, as if in decimal: 21.55
        with scale 0.1 → 216) for integer types, a float for f32. No range check
        (``hil.codec.encode`` does that)."""
        v = float(value)
        kind, n, k = _scaling(self.scale, self.offset)
        if kind == "id":
            x = v
        elif kind == "inv":
            x = v * n - k
        else:
            x = (v - self.offset) / self.scale
        if self.type == "f32":
            return x
        if kind == "id" and x.is_integer():
            return int(x)
        r = _round_half_away(x) if math.isfinite(x) else None
        if r is None:  # a tie (or not finite): decide in decimal
            q = (_dec(v) - _dec(self.offset)) / _dec(self.scale)
            r = int(q.to_integral_value(rounding=ROUND_HALF_UP))
        return r

    def from_raw(self, raw: int | float) -> float:
        """raw × scale + offset, rounded once as if computed in decimal (raw 215 × 0.1 = 21.5,
        not 21.500000000000004)."""
        kind, n, k = _scaling(self.scale, self.offset)
        if kind == "id":
            return float(raw)
        if kind == "inv":
            return (raw + k) / n
        if kind == "mul" or self.type == "f32":
            return raw * self.scale + self.offset
        return float(Decimal(int(raw)) * _dec(self.scale) + _dec(self.offset))

    def engineering_range(self) -> tuple[float, float]:
        """The engineering values the data type can hold (before min/max)."""
        if self.type == "f32":
            return (-F32_MAX * self.scale + self.offset, F32_MAX * self.scale + self.offset)
        lo, hi = RAW_RANGE[self.type]
        return (self.from_raw(lo), self.from_raw(hi))

    def representable(self, value: float) -> bool:
        """True if ``value`` (finite) fits the data type after scale and offset."""
        if not math.isfinite(value):
            return self.type == "f32"
        raw = self.to_raw(value)
        if self.type == "f32":
            return abs(raw) <= F32_MAX
        lo, hi = RAW_RANGE[self.type]
        return lo <= raw <= hi

    def allowed_text(self) -> str:
        """What the point accepts, for messages: '1..4 (HP_LOCKED=1, …)' or '10..30 °C'."""
        unit = f" {self.unit}" if self.unit else ""
        if self.enum is not None:
            return ", ".join(f"{v} ({k})" for k, v in self.enum.items())
        if self.type == "bool":
            return "0 or 1"
        lo, hi = self.engineering_range()
        lo = lo if self.min is None else self.min
        hi = hi if self.max is None else self.max
        return f"{format_number(lo)}..{format_number(hi)}{unit}"

    def value_problem(self, value: float, representable: bool | None = None) -> str | None:
        """Why ``value`` (engineering units) may not be written to this point, or None if it may.

        Checks: finite, 0/1 for bool, a listed raw value for enums, min/max, and that the type
        can hold it (skipped when the caller knows: ``representable=True``, e.g. for a value
        just decoded from registers).
        """
        v = float(value)
        if not math.isfinite(v):
            return f"{self.name} = {v!r} is not a finite number; allowed: {self.allowed_text()}"
        if self.type == "bool" and v not in (0.0, 1.0):
            return f"{self.name} = {format_number(v)} is not a bool; allowed: 0 or 1"
        if self.enum is not None and v not in self.enum.values():
            allowed = self.allowed_text()
            return f"{self.name} = {format_number(v)} is not an allowed value; allowed: {allowed}"
        too_low = self.min is not None and v < self.min
        too_high = self.max is not None and v > self.max
        if too_low or too_high or not (representable or self.representable(v)):
            unit = f" {self.unit}" if self.unit else ""
            allowed = self.allowed_text()
            return f"{self.name} = {format_number(v)}{unit} is out of range; allowed: {allowed}"
        return None

    def label(self, value: float) -> str | None:
        """The enum label of ``value`` (None if not enumerated or not a listed value)."""
        if self.enum is None:
            return None
        return next((k for k, v in self.enum.items() if v == value), None)

    @model_validator(mode="after")
    def _consistent(self) -> Point:
        p: list[tuple[tuple[str | int, ...], Any, str]] = []
        who = f"point {self.name!r}"
        if self.table in BIT_TABLES and self.type != "bool":
            p.append(
                (
                    ("type",),
                    self.type,
                    f"{who}: a {self.table} holds one bit; allowed: "
                    "type = 'bool' (the default on coils and discrete inputs)",
                )
            )
        if self.table in INPUT_TABLES and self.access != "r":
            p.append(
                (
                    ("access",),
                    self.access,
                    f"{who}: {self.table} points are read-only for a "
                    "Modbus master; allowed: access = 'r' (writable points go to coils or "
                    "holding registers)",
                )
            )
        if self.address + self.n_registers - 1 > 65535:
            p.append(
                (
                    ("address",),
                    self.address,
                    f"{who}: a {self.type} needs "
                    f"{self.n_registers} registers; allowed: address 0..{65536 - self.n_registers}",
                )
            )
        if self.word_order != "big" and self.n_registers == 1:
            p.append(
                (
                    ("word_order",),
                    self.word_order,
                    f"{who}: word_order applies to 32-bit "
                    "types (u32, s32, f32) only; allowed here: 'big' (or leave it out)",
                )
            )
        if self.type == "bool":
            if self.byte_order != "big":
                p.append(
                    (
                        ("byte_order",),
                        self.byte_order,
                        f"{who}: a bool is 0 or 1, byte_order "
                        "does not apply; allowed: 'big' (or leave it out)",
                    )
                )
            if self.scale != 1.0 or self.offset != 0.0:
                p.append(
                    (
                        ("scale",),
                        self.scale,
                        f"{who}: a bool is 0 or 1; scale and offset do "
                        "not apply (allowed: scale = 1, offset = 0)",
                    )
                )
        if self.enum is not None:
            p.extend(self._enum_problems(who))
        for key in ("min", "max"):
            v = getattr(self, key)
            if v is not None and not self.representable(v):
                lo, hi = self.engineering_range()
                scaled = f" ×{format_number(self.scale)}" if self.scale != 1 else ""
                shifted = f" +{format_number(self.offset)}" if self.offset else ""
                p.append(
                    (
                        (key,),
                        v,
                        f"{who}: not representable as {self.type}{scaled}{shifted}; "
                        f"allowed: {format_number(lo)}..{format_number(hi)}",
                    )
                )
        if self.min is not None and self.max is not None and self.min > self.max:
            p.append(
                (
                    ("min",),
                    self.min,
                    f"{who}: min is above max = {format_number(self.max)}; allowed: min <= max",
                )
            )
        _raise("Point", p)
        return self

    def _enum_problems(self, who: str) -> Iterable[tuple[tuple[str | int, ...], Any, str]]:
        if self.type == "f32":
            yield (
                ("enum",),
                self.enum,
                f"{who}: enum needs an integer type; allowed: type = bool, "
                "u16, s16, u32 or s32 (not f32)",
            )
            return
        if not self.enum:
            yield (
                ("enum",),
                self.enum,
                f"{who}: enum is empty; allowed: a table of label = raw value",
            )
            return
        if self.scale != 1.0 or self.offset != 0.0:
            yield (
                ("enum",),
                self.enum,
                f"{who}: enum values are raw register values, so an "
                "enumerated point takes scale = 1 and offset = 0",
            )
        if self.min is not None or self.max is not None:
            yield (("enum",), self.enum, f"{who}: give either enum or min/max, not both")
        lo, hi = RAW_RANGE[self.type]
        seen: dict[int, str] = {}
        for label, raw in self.enum.items():
            if not lo <= raw <= hi:
                yield (
                    ("enum", label),
                    raw,
                    f"{who}: raw value does not fit {self.type}; allowed: {lo}..{hi}",
                )
            elif raw in seen:
                yield (
                    ("enum", label),
                    raw,
                    f"{who}: labels {seen[raw]!r} and {label!r} share "
                    "a raw value; allowed: one label per value",
                )
            seen.setdefault(raw, label)


class Heartbeat(BaseModel):
    """A heartbeat counter: the writer increments ``point`` (wrapping to 0 after the type's
    maximum) at least every ``period_s``; the watcher declares the writer dead after ``timeout_s``
    without a change and applies the fail-safe values.

    ``point`` is written by the Modbus master (the EMS / the testbed's client adapter) and watched
    by the device; ``readback`` (optional) is the device's own counter that the master watches.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: str
    period_s: float = Field(gt=0, allow_inf_nan=False, description="s, write interval")
    timeout_s: float = Field(gt=0, allow_inf_nan=False, description="s, silence → fail-safe")
    readback: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Heartbeat:
        if self.timeout_s <= self.period_s:
            _raise(
                "Heartbeat",
                [
                    (
                        ("timeout_s",),
                        self.timeout_s,
                        "must be longer than "
                        f"period_s = {format_number(self.period_s)} s; allowed: timeout_s > "
                        "period_s (3 to 10 periods is typical)",
                    )
                ],
            )
        return self


class Profile(BaseModel):
    """A device's register map: its points, heartbeat and fail-safe values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_PATTERN)
    description: str = ""
    device_id: int = Field(1, ge=0, le=255, description="Modbus unit / slave id")
    points: list[Point] = Field(min_length=1)
    heartbeat: Heartbeat | None = None
    fail_safe: dict[str, float] = Field(
        default_factory=dict, description="point name → engineering value, applied in this order"
    )

    _by_name: dict[str, Point] = PrivateAttr(default_factory=dict)
    _by_attr: dict[str, Point] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._by_name = {p.name: p for p in self.points}
        self._by_attr = {p.attr: p for p in self.points if p.attr is not None}

    def point(self, name: str) -> Point:
        """The point called ``name``; UnknownPoint (a KeyError) lists the declared names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownPoint(
                f"profile {self.name!r} has no point {name!r}; points: {', '.join(self._by_name)}"
            ) from None

    def by_attr(self, attr: str) -> Point:
        """The point mapped to testbed attribute ``attr``; UnknownPoint lists the mapped ones."""
        try:
            return self._by_attr[attr]
        except KeyError:
            raise UnknownPoint(
                f"profile {self.name!r} maps no point to attribute {attr!r}; "
                f"mapped: {', '.join(self._by_attr)}"
            ) from None

    def points_in(self, table: Table) -> list[Point]:
        """The points of one table, by address."""
        return sorted((p for p in self.points if p.table == table), key=lambda p: p.address)

    def writable_points(self) -> list[Point]:
        """Points a Modbus master may write (access 'rw' or 'w')."""
        return [p for p in self.points if p.writable]

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        p: list[tuple[tuple[str | int, ...], Any, str]] = []
        names: dict[str, int] = {}
        attrs: dict[str, int] = {}
        for i, pt in enumerate(self.points):
            if pt.name in names:
                p.append(
                    (
                        ("points", i, "name"),
                        pt.name,
                        f"duplicate point name, also "
                        f"points.{names[pt.name]}; allowed: one point per name",
                    )
                )
            names.setdefault(pt.name, i)
            if pt.attr is not None:
                if pt.attr in attrs:
                    p.append(
                        (
                            ("points", i, "attr"),
                            pt.attr,
                            f"point {pt.name!r}: attribute "
                            f"already mapped by points.{attrs[pt.attr]} "
                            f"({self.points[attrs[pt.attr]].name!r}); allowed: one point per "
                            "attribute",
                        )
                    )
                attrs.setdefault(pt.attr, i)
        p.extend(self._overlaps())
        p.extend(self._heartbeat_problems())
        p.extend(self._fail_safe_problems())
        _raise("Profile", p)
        return self

    def _overlaps(self) -> Iterable[tuple[tuple[str | int, ...], Any, str]]:
        for table in TABLES:
            owner: dict[int, int] = {}
            for i, pt in enumerate(self.points):
                if pt.table != table:
                    continue
                clash = next(
                    (owner[a] for a in range(pt.address, pt.last_address + 1) if a in owner), None
                )
                if clash is not None:
                    other = self.points[clash]
                    span = (
                        f"{pt.address}..{pt.last_address}"
                        if pt.n_registers > 1
                        else str(pt.address)
                    )
                    ospan = (
                        f"{other.address}..{other.last_address}"
                        if other.n_registers > 1
                        else str(other.address)
                    )
                    yield (
                        ("points", i, "address"),
                        pt.address,
                        f"point {pt.name!r} "
                        f"({table} {span}) overlaps point {other.name!r} ({table} {ospan}); "
                        "allowed: each address of a table belongs to one point",
                    )
                    continue
                for a in range(pt.address, pt.last_address + 1):
                    owner[a] = i

    def _heartbeat_problems(self) -> Iterable[tuple[tuple[str | int, ...], Any, str]]:
        hb = self.heartbeat
        if hb is None:
            return
        by_name = {pt.name: pt for pt in self.points}
        for key, want_write in (("point", True), ("readback", False)):
            name = getattr(hb, key)
            if name is None:
                continue
            pt = by_name.get(name)
            role = "written by the master" if want_write else "reported by the device"
            if pt is None:
                ok = [
                    q.name
                    for q in self.points
                    if (q.writable if want_write else q.readable) and q.type in COUNTER_TYPES
                ]
                yield (
                    ("heartbeat", key),
                    name,
                    f"no such point; allowed: a counter {role}: "
                    f"{', '.join(ok) or '(none declared)'}",
                )
                continue
            if want_write and not pt.writable:
                yield (
                    ("heartbeat", key),
                    name,
                    f"point {name!r} is read-only ({pt.table}, "
                    "access 'r'); the heartbeat must be a coil or holding register with "
                    "access 'rw' or 'w'",
                )
            elif not want_write and not pt.readable:
                yield (
                    ("heartbeat", key),
                    name,
                    f"point {name!r} is write-only; the readback "
                    "must be readable (access 'r' or 'rw')",
                )
            elif pt.type not in COUNTER_TYPES or not _plain(pt):
                yield (
                    ("heartbeat", key),
                    name,
                    f"point {name!r} is not a plain counter; "
                    f"allowed: type {', '.join(COUNTER_TYPES)} without scale, offset, "
                    "min, max or enum",
                )

    def _fail_safe_problems(self) -> Iterable[tuple[tuple[str | int, ...], Any, str]]:
        by_name = {pt.name: pt for pt in self.points}
        writable = [pt.name for pt in self.points if pt.writable]
        for name, value in self.fail_safe.items():
            pt = by_name.get(name)
            if pt is None:
                yield (
                    ("fail_safe", name),
                    value,
                    "no such point; allowed: writable points: "
                    f"{', '.join(writable) or '(none declared)'}",
                )
            elif not pt.writable:
                yield (
                    ("fail_safe", name),
                    value,
                    f"point {name!r} is read-only ({pt.table}, "
                    f"access 'r'); allowed: writable points: {', '.join(writable)}",
                )
            else:
                problem = pt.value_problem(value)
                if problem is not None:
                    yield (("fail_safe", name), value, problem)


def _plain(pt: Point) -> bool:
    """True if a point carries raw integers: no scale, offset, min, max or enum."""
    return (pt.enum is None and pt.min is None and pt.max is None
            and pt.scale == 1.0 and pt.offset == 0.0)  # fmt: skip


def bundled_profiles() -> list[str]:
    """Names of the bundled profiles (``hil/profiles/<name>.toml``), sorted."""
    return sorted(f.stem for f in PROFILES_DIR.glob("*.toml"))


def resolve_profile_path(name_or_path: str | Path) -> Path:
    """A profile argument is a path to a TOML file or the name of a bundled profile."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or len(p.parts) > 1:
        if not p.is_file():
            raise ProfileError([f"{p}: no such profile file"])
        return p
    bundled = PROFILES_DIR / f"{name_or_path}.toml"
    if bundled.is_file():
        return bundled
    raise ProfileError(
        [
            f"{name_or_path}: not a file and not a bundled profile — bundled: "
            f"{', '.join(bundled_profiles())}"
        ]
    )


def validate_profile(data: dict[str, Any], source: str = "<profile>") -> Profile:
    """Validate a parsed TOML mapping; raise ProfileError with one message per mistake."""
    return validate(Profile, data, source, error=ProfileError)


def load_profile(name_or_path: str | Path) -> Profile:
    """Read and validate a profile: a bundled name (``sg_ready_heat_pump``) or a TOML path.

    Raises ProfileError (one line per mistake: file, key path, value, what is allowed).
    """
    path = resolve_profile_path(name_or_path)
    return validate_profile(read_toml(path, "profile", ProfileError), str(path))

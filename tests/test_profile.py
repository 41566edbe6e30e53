"""Register-map profiles (hil/profile.py) and the register codec (hil/codec.py)."""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

import pytest

from hil.codec import (
    CodecError,
    ReadRejected,
    RegisterMap,
    WriteRejected,
    counter_next,
    decode,
    encode,
)
from hil.profile import (
    SG_READY_CONTACTS,
    Point,
    Profile,
    ProfileError,
    bundled_profiles,
    load_profile,
    sg_ready_state_from_contacts,
)

ORDERS = [("big", "big"), ("little", "big"), ("big", "little"), ("little", "little")]


def pt(type_: str = "u16", table: str = "holding_register", **kw: object) -> Point:
    return Point(name="x", table=table, address=0, type=type_, access="rw", **kw)


# ------------------------------------------------------------------------------------------------
# codec: one point


@pytest.mark.parametrize("word_order,byte_order", ORDERS)
@pytest.mark.parametrize(
    "type_,values",
    [
        ("u32", [0, 1, 0x12345678, 0xFFFF_FFFF]),
        ("s32", [0, 1, -1, -123456789, -(2**31), 2**31 - 1]),
        ("f32", [0.0, -0.0, 1.0, -1.5, 21.3, 3.7, 1e-30, -3.4e38, 123456.7]),
    ],
)
def test_round_trip_32bit_all_orders(
    type_: str, values: list[float], word_order: str, byte_order: str
) -> None:
    p = pt(type_, word_order=word_order, byte_order=byte_order)
    for v in values:
        regs = encode(p, v)
        assert len(regs) == 2 and all(0 <= r <= 0xFFFF for r in regs)
        back = decode(p, regs)
        assert back == v and math.copysign(1, back) == math.copysign(1, v), (v, regs)


@pytest.mark.parametrize("word_order,byte_order", ORDERS)
def test_f32_specials_round_trip(word_order: str, byte_order: str) -> None:
    p = pt("f32", word_order=word_order, byte_order=byte_order)
    assert math.isnan(decode(p, encode(p, math.nan)))
    assert decode(p, encode(p, math.inf)) == math.inf
    assert decode(p, encode(p, -math.inf)) == -math.inf
    tiny = struct.unpack(">f", b"\x00\x00\x00\x01")[0]  # smallest subnormal
    back = decode(p, encode(p, tiny))  # the shortest decimal of the same single: 1.4013e-45
    assert struct.pack(">f", back) == struct.pack(">f", tiny) and encode(p, back) == encode(p, tiny)


@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize(
    "type_,values",
    [("u16", [0, 1, 1234, 0xFFFF]), ("s16", [0, 1, -1, -12345, -32768, 32767])],
)
def test_round_trip_16bit(type_: str, values: list[int], byte_order: str) -> None:
    p = pt(type_, byte_order=byte_order)
    for v in values:
        regs = encode(p, v)
        assert len(regs) == 1 and 0 <= regs[0] <= 0xFFFF
        assert decode(p, regs) == v


@pytest.mark.parametrize("table", ["coil", "discrete_input", "holding_register", "input_register"])
def test_bool_round_trip_on_every_table(table: str) -> None:
    p = Point(name="b", table=table, address=3, type="bool")
    assert encode(p, 0) == [0] and encode(p, 1) == [1] and encode(p, True) == [1]
    assert decode(p, [0]) == 0.0 and decode(p, [1]) == 1.0
    if table.endswith("register"):
        assert decode(p, [0xFFFF]) == 1.0  # devices that use 0xFFFF for true
    with pytest.raises(CodecError, match="0 or 1"):
        encode(p, 0.5)


def test_wire_layouts_abcd_cdab_badc_dcba() -> None:
    # (word_order, byte_order): ABCD, CDAB, BADC, DCBA
    expect_f = {("big", "big"): [0x3F80, 0], ("little", "big"): [0, 0x3F80],
                ("big", "little"): [0x803F, 0], ("little", "little"): [0, 0x803F]}  # fmt: skip
    expect_u = {("big", "big"): [0x1234, 0x5678], ("little", "big"): [0x5678, 0x1234],
                ("big", "little"): [0x3412, 0x7856],
                ("little", "little"): [0x7856, 0x3412]}  # fmt: skip
    for (wo, bo), regs in expect_f.items():
        assert encode(pt("f32", word_order=wo, byte_order=bo), 1.0) == regs
    for (wo, bo), regs in expect_u.items():
        assert encode(pt("u32", word_order=wo, byte_order=bo), 0x12345678) == regs
    assert encode(pt("s16"), -2) == [0xFFFE]
    assert encode(pt("s16", byte_order="little"), 0x0102) == [0x0201]
    assert encode(pt("s32"), -2) == [0xFFFF, 0xFFFE]


def test_scale_and_offset_are_exact_in_decimal() -> None:
    t = pt("s16", scale=0.1, unit="°C")
    assert encode(t, 21.5) == [215] and decode(t, [215]) == 21.5
    assert encode(t, -12.3) == [(-123) & 0xFFFF] and decode(t, encode(t, -12.3)) == -12.3
    assert decode(t, [350]) == 35.0  # not 35.00000000000001
    assert encode(t, 21.55) == [216]  # rounded half away from zero
    assert encode(t, -21.55) == [(-216) & 0xFFFF]
    k = pt("u16", scale=0.01, offset=-273.15, unit="°C")  # centi-kelvin register
    assert encode(k, 20.0) == [29315] and decode(k, [29315]) == 20.0
    w = pt("s32", scale=0.001, unit="kW")
    assert encode(w, -4.2) == [0xFFFF, (-4200) & 0xFFFF] and decode(w, encode(w, -4.2)) == -4.2
    f = pt("f32", scale=1000.0, unit="W")  # register in kW, engineering value in W
    assert decode(f, encode(f, 4200.0)) == 4200.0


def test_encode_rejects_values_the_type_cannot_hold() -> None:
    with pytest.raises(CodecError, match=r"not representable as u16.*allowed: 0..6553.5 kW"):
        encode(pt("u16", scale=0.1, unit="kW"), 7000.0)
    with pytest.raises(CodecError, match="not representable as u16"):
        encode(pt("u16"), -1)
    with pytest.raises(CodecError, match="not representable as s16"):
        encode(pt("s16"), 32768)
    with pytest.raises(CodecError, match="not representable as s32"):
        encode(pt("s32"), 2**31)
    with pytest.raises(CodecError, match="finite"):
        encode(pt("u32"), math.nan)
    with pytest.raises(CodecError, match="f32 range"):
        encode(pt("f32"), 1e39)


def test_decode_rejects_wrong_shapes() -> None:
    with pytest.raises(CodecError, match="needs 2 register"):
        decode(pt("f32"), [1])
    with pytest.raises(CodecError, match="outside 0..65535"):
        decode(pt("u16"), [70000])


def test_counter_wraps() -> None:
    assert counter_next(pt("u16"), 7) == 8
    assert counter_next(pt("u16"), 65535) == 0
    assert counter_next(pt("bool"), 1) == 0


def test_sg_ready_contacts() -> None:
    assert SG_READY_CONTACTS == {1: (1, 0), 2: (0, 0), 3: (0, 1), 4: (1, 1)}
    for state, (c1, c2) in SG_READY_CONTACTS.items():
        assert sg_ready_state_from_contacts(c1, c2) == state
    assert sg_ready_state_from_contacts(True, False) == 1


# ------------------------------------------------------------------------------------------------
# bundled profiles


def test_bundled_profiles_load_and_fail_safe_encodes() -> None:
    assert {"sg_ready_heat_pump", "generic_heat_pump", "fcr_unit"} <= set(bundled_profiles())
    for name in bundled_profiles():
        prof = load_profile(name)
        assert prof.name == name and prof.heartbeat is not None and prof.fail_safe
        regmap = RegisterMap(prof)
        image = regmap.encode_values(prof.fail_safe)
        for table, regs in image.items():  # the fail-safe image is itself a valid write
            for address in regs:
                point = regmap.point_at(table, address)
                assert point is not None and point.writable
            first = min(regs)
            values = [regs.get(a, 0) for a in range(first, max(regs) + 1)]
            if all(regmap.point_at(table, a) for a in range(first, max(regs) + 1)):
                assert regmap.validate_write(table, first, values)
        assert all(count <= 125 for _, count in regmap.blocks().values())  # one read per table


def test_sg_ready_profile_content() -> None:
    prof = load_profile("sg_ready_heat_pump")
    state = prof.point("sg_ready_state")
    assert state.table == "holding_register" and state.writable
    assert state.enum == {"HP_LOCKED": 1, "HP_NORMAL": 2, "HP_INTENSIFIED": 3, "HP_FORCED": 4}
    assert prof.point("sg_contact_1").table == prof.point("sg_contact_2").table == "coil"
    assert prof.fail_safe["sg_ready_state"] == 2
    assert prof.fail_safe["sg_contact_1"] == prof.fail_safe["sg_contact_2"] == 0
    assert prof.fail_safe["P_limit_kW"] == 0
    for attr in ("P_el_kW", "Q_th_kW", "T_room_C", "T_supply_C", "T_dhw_C", "on",
                 "operating_mode", "sg_ready_state_active"):  # fmt: skip
        assert not prof.by_attr(attr).writable
    for name in ("T_room_set_C", "T_supply_set_C", "T_dhw_set_C"):
        p = prof.point(name)
        assert (p.type, p.scale, p.unit) == ("s16", 0.1, "°C")
    with pytest.raises(KeyError, match="has no point 'nope'; points: sg_contact_1"):
        prof.point("nope")
    with pytest.raises(KeyError, match="maps no point to attribute 'nope'; mapped: "):
        prof.by_attr("nope")


def test_load_by_path_and_unknown_name(tmp_path: Path) -> None:
    src = Path(load_profile.__code__.co_filename).parent / "profiles" / "fcr_unit.toml"
    dst = tmp_path / "mine.toml"
    dst.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_profile(dst).name == "fcr_unit"
    assert load_profile(str(dst)).name == "fcr_unit"
    with pytest.raises(ProfileError, match="not a bundled profile — bundled: .*fcr_unit"):
        load_profile("no_such_profile")
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ProfileError, match="bad.toml: not valid TOML"):
        load_profile(bad)


# ------------------------------------------------------------------------------------------------
# validation rules: each names the file, the key path and what is allowed

HEAD = 'name = "t"\n'


def point(name: str, table: str, address: int, **kw: object) -> str:
    """One ``[[points]]`` table in TOML."""
    lines = ["[[points]]", f'name = "{name}"', f'table = "{table}"', f"address = {address}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    return "\n".join(lines) + "\n"


GOOD = (
    point("c", "coil", 0, access="rw")
    + point("sp", "holding_register", 0, type="s16", scale=0.1, min=10.0, max=30.0, access="rw")
    + point("hb", "holding_register", 1, access="rw")
    + point("ro", "holding_register", 2)
    + point("v", "input_register", 0, type="f32")
)


def messages(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "p.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as ei:
        load_profile(f)
    assert all(m.startswith(f"{f}: ") for m in ei.value.messages), ei.value.messages
    return ei.value.messages


def one(tmp_path: Path, text: str) -> str:
    msgs = messages(tmp_path, text)
    assert len(msgs) == 1, msgs
    return msgs[0].split(": ", 1)[1]


def test_good_test_profile_loads(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(HEAD + GOOD, encoding="utf-8")
    assert [p.name for p in load_profile(f).points] == ["c", "sp", "hb", "ro", "v"]


@pytest.mark.parametrize(
    "extra,expect",
    [
        (point("c", "coil", 5), r"^points\.5\.name = 'c' — duplicate point name, also points\.0; "
         "allowed: one point per name"),
        (point("o", "input_register", 1), r"^points\.5\.address = 1 — point 'o' \(input_register "
         r"1\) overlaps point 'v' \(input_register 0\.\.1\); allowed: each address"),
        (point("o", "holding_register", 2, type="u32", access="rw"), r"^points\.5\.address = 2 — "
         r"point 'o' \(holding_register 2\.\.3\) overlaps point 'ro'"),
        (point("o", "coil", 1, type="u32", access="rw"), r"^points\.5\.type = 'u32' — point 'o': a "
         r"coil holds one bit; allowed: type = 'bool'"),
        (point("o", "discrete_input", 0, type="f32"), r"^points\.5\.type = 'f32' — .*allowed: "
         "type = 'bool'"),
        (point("o", "input_register", 7, access="rw"), r"^points\.5\.access = 'rw' — point 'o': "
         r"input_register points are read-only .*allowed: access = 'r'"),
        (point("o", "discrete_input", 7, access="w"), r"^points\.5\.access = 'w' — .*discrete_input"
         r" points are read-only"),
        (point("o", "holding_register", 9, min=5.0, max=3.0), r"^points\.5\.min = 5\.0 — point 'o'"
         ": min is above max = 3; allowed: min <= max"),
        (point("o", "holding_register", 9, type="f32") + "enum = { A = 1 }\n",
         r"^points\.5\.enum — point 'o': enum needs an integer type; allowed: type = bool, u16"),
        (point("o", "holding_register", 9) + "enum = { A = 1, B = 70000 }\n",
         r"^points\.5\.enum\.B = 70000 — point 'o': raw value does not fit u16; allowed: 0..65535"),
        (point("o", "holding_register", 9) + "enum = { A = 1, B = 1 }\n",
         r"^points\.5\.enum\.B = 1 — .*share a raw value; allowed: one label per value"),
        (point("o", "holding_register", 9, scale=0.1) + "enum = { A = 1 }\n",
         r"^points\.5\.enum — .*takes scale = 1 and offset = 0"),
        (point("o", "holding_register", 9, type="s16", scale=0.1, max=5000.0),
         r"^points\.5\.max = 5000\.0 — point 'o': not representable as s16 ×0\.1; allowed: "
         r"-3276\.8\.\.3276\.7"),
        (point("o", "holding_register", 9, word_order="little"), r"^points\.5\.word_order = "
         "'little' — .*32-bit types .* only; allowed here: 'big'"),
        (point("o", "holding_register", 9, type="bool", byte_order="little"),
         r"^points\.5\.byte_order = 'little' — point 'o': a bool is 0 or 1.*allowed: 'big'"),
        (point("o", "holding_register", 9, type="bool", scale=2.0),
         r"^points\.5\.scale = 2\.0 — .*allowed: scale = 1, offset = 0"),
        (point("o", "holding_register", 65535, type="u32"),
         r"^points\.5\.address = 65535 — .*needs 2 registers; allowed: address 0\.\.65534"),
        (point("o", "holding_register", 70000), r"^points\.5\.address = 70000 — Input should be "
         "less than or equal to 65535"),
        (point("o", "holding_register", 9, type="u64"), r"^points\.5\.type = 'u64' — expected one "
         "of bool, u16, s16, u32, s32, f32"),
        (point("o", "register", 9), r"^points\.5\.table = 'register' — expected one of coil, "
         "discrete_input, input_register, holding_register"),
        (point("o", "holding_register", 9, scale=0.0), r"^points\.5\.scale = 0\.0 — Input should "
         "be greater than 0"),
        (point("o", "holding_register", 9, attr="x", size=1), r"^points\.5\.size — unknown key — "
         "allowed keys here: name, table, address, type"),
        (point("o", "holding_register", 9, attr="bad-name"), r"^points\.5\.attr = 'bad-name' — "
         "String should match pattern"),
    ],
)
def test_point_rules(tmp_path: Path, extra: str, expect: str) -> None:
    msg = one(tmp_path, HEAD + GOOD + extra)
    assert re.search(expect, msg), msg


def test_duplicate_attribute(tmp_path: Path) -> None:
    text = HEAD + point("a", "coil", 0, access="rw", attr="on") + point("b", "coil", 1, attr="on")
    assert one(tmp_path, text) == (
        "points.1.attr = 'on' — point 'b': attribute already mapped by points.0 ('a'); "
        "allowed: one point per attribute"
    )


def test_bool_on_registers_is_one_register_0_or_1(tmp_path: Path) -> None:
    text = HEAD + point("flag", "holding_register", 0, type="bool", access="rw")
    f = tmp_path / "p.toml"
    f.write_text(text, encoding="utf-8")
    prof = load_profile(f)
    assert prof.point("flag").n_registers == 1
    assert RegisterMap(prof).validate_write("holding_register", 0, [1])[0][1] == 1.0
    with pytest.raises(WriteRejected) as ei:
        RegisterMap(prof).validate_write("holding_register", 0, [2])
    assert ei.value.code == 3 and "allowed: 0 or 1" in ei.value.message


def test_bit_tables_default_to_bool(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(HEAD + point("c", "coil", 0) + point("d", "discrete_input", 0), encoding="utf-8")
    assert {p.type for p in load_profile(f).points} == {"bool"}


@pytest.mark.parametrize(
    "hb,expect",
    [
        ('point = "zz"', r"^heartbeat\.point = 'zz' — no such point; allowed: a counter written "
         "by the master: c, hb$"),
        ('point = "ro"', r"^heartbeat\.point = 'ro' — point 'ro' is read-only \(holding_register, "
         r"access 'r'\); the heartbeat must be a coil or holding register with access 'rw' or 'w'"),
        ('point = "v"', r"^heartbeat\.point = 'v' — point 'v' is read-only"),
        ('point = "sp"', r"^heartbeat\.point = 'sp' — point 'sp' is not a plain counter; allowed: "
         "type bool, u16, u32 without scale"),
        ('point = "hb"\nreadback = "nope"', r"^heartbeat\.readback = 'nope' — no such point; "
         "allowed: a counter reported by the device: c, hb, ro"),
    ],
)
def test_heartbeat_rules(tmp_path: Path, hb: str, expect: str) -> None:
    text = HEAD + GOOD + f"[heartbeat]\n{hb}\nperiod_s = 1\ntimeout_s = 5\n"
    msgs = messages(tmp_path, text)
    assert any(re.search(expect, m.split(": ", 1)[1]) for m in msgs), msgs


def test_heartbeat_timeout_must_exceed_period(tmp_path: Path) -> None:
    text = HEAD + GOOD + '[heartbeat]\npoint = "hb"\nperiod_s = 5\ntimeout_s = 5\n'
    assert one(tmp_path, text) == (
        "heartbeat.timeout_s = 5.0 — must be longer than period_s = 5 s; allowed: timeout_s > "
        "period_s (3 to 10 periods is typical)"
    )


@pytest.mark.parametrize(
    "fs,expect",
    [
        ("zz = 1", "fail_safe.zz = 1.0 — no such point; allowed: writable points: c, sp, hb"),
        ("ro = 1", "fail_safe.ro = 1.0 — point 'ro' is read-only (holding_register, access 'r'); "
         "allowed: writable points: c, sp, hb"),
        ("sp = 35.0", "fail_safe.sp = 35.0 — sp = 35 is out of range; allowed: 10..30"),
        ("c = 2", "fail_safe.c = 2.0 — c = 2 is not a bool; allowed: 0 or 1"),
        ("hb = 70000", "fail_safe.hb = 70000.0 — hb = 70000 is out of range; allowed: 0..65535"),
        ('sp = "warm"', "fail_safe.sp = 'warm' — Input should be a valid number, unable to parse "
         "string as a number"),
    ],
)
def test_fail_safe_rules(tmp_path: Path, fs: str, expect: str) -> None:
    assert one(tmp_path, HEAD + GOOD + f"[fail_safe]\n{fs}\n") == expect


def test_profile_level_keys(tmp_path: Path) -> None:
    msgs = messages(tmp_path, 'name = "t"\npoints = []\nvendor = "x"\ndevice_id = 300\n')
    text = "\n".join(msgs)
    assert "points = [] — List should have at least 1 item" in text
    assert "vendor — unknown key — allowed keys here: name, description, device_id" in text
    assert "device_id = 300 — Input should be less than or equal to 255" in text


def test_several_mistakes_reported_together(tmp_path: Path) -> None:
    text = HEAD + GOOD + point("c", "coil", 0) + "[fail_safe]\nzz = 1\n"
    msgs = messages(tmp_path, text)
    assert len(msgs) == 3, msgs  # duplicate name, overlapping address, unknown fail-safe point


# ------------------------------------------------------------------------------------------------
# RegisterMap: writes validated as a whole, reads, encode/decode of images


@pytest.fixture
def sg() -> RegisterMap:
    return RegisterMap(load_profile("sg_ready_heat_pump"))


def apply(regmap: RegisterMap, image: dict, table: str, address: int, values: list) -> int:
    """A server's write path: validate everything, then store; returns the exception code."""
    try:
        accepted = regmap.validate_write(table, address, values)  # type: ignore[arg-type]
    except WriteRejected as exc:
        return exc.code
    for p, v in accepted:
        image.update({(p.table, a): r for a, r in enumerate(encode(p, v), p.address)})
    return 0


def test_validate_write_accepts_good_writes(sg: RegisterMap) -> None:
    got = sg.validate_write("holding_register", 0, [3, 225, 450, 550, 42, 7])
    assert [(p.name, v) for p, v in got] == [
        ("sg_ready_state", 3.0), ("T_room_set_C", 22.5), ("T_supply_set_C", 45.0),
        ("T_dhw_set_C", 55.0), ("P_limit_kW", 4.2), ("ems_heartbeat", 7.0),
    ]  # fmt: skip
    assert [(p.name, v) for p, v in sg.validate_write("coil", 0, [True, False])] == [
        ("sg_contact_1", 1.0), ("sg_contact_2", 0.0)
    ]
    assert sg.validate_write("holding_register", 1, [100])[0][1] == 10.0  # min inclusive
    assert sg.validate_write("holding_register", 1, [300])[0][1] == 30.0  # max inclusive
    gen = RegisterMap(load_profile("generic_heat_pump"))
    regs = encode(gen.profile.point("P_el_set_kW"), 6.5)
    assert regs == [0x0000, 0x40D0]  # CDAB
    assert gen.validate_write("holding_register", 0, regs)[0][1] == 6.5
    assert gen.validate_write("coil", 2, [1])[0][0].name == "fault_reset"  # write-only point


@pytest.mark.parametrize(
    "table,address,values,code,text",
    [
        ("holding_register", 6, [1], 2, "holding_register 6 is not mapped"),
        ("holding_register", 4, [0, 1, 0], 2, "holding_register 6 is not mapped"),
        ("coil", 2, [1], 2, "coil 2 is not mapped"),
        ("input_register", 0, [1], 1, "input_register is read-only"),
        ("discrete_input", 0, [1], 1, "discrete_input is read-only"),
        ("holding_register", 0, [], 3, "empty write request"),
        ("holding_register", 65535, [1, 2], 2, "outside 0..65535"),
        ("holding_register", 0, [5], 3, "sg_ready_state = 5 is not an allowed value; allowed: "
         "1 (HP_LOCKED), 2 (HP_NORMAL), 3 (HP_INTENSIFIED), 4 (HP_FORCED)"),
        ("holding_register", 0, [0], 3, "sg_ready_state = 0 is not an allowed value"),
        ("holding_register", 1, [99], 3, "T_room_set_C = 9.9 °C is out of range; allowed: "
         "10..30 °C"),
        ("holding_register", 1, [0xFFFF], 3, "T_room_set_C = -0.1 °C is out of range"),
        ("holding_register", 4, [1001], 3, "P_limit_kW = 100.1 kW is out of range; allowed: "
         "0..100 kW"),
        ("holding_register", 0, [2, 215, 450, 500, 0, 70000], 3, "raw value 70000 outside "
         "0..65535"),
        ("coil", 0, [2], 3, "coil 0: raw value 2 outside 0..1"),
        ("holding_register", 0, [2.5], 3, "raw value 2.5 outside"),
    ],
)
def test_validate_write_rejects_without_side_effects(
    sg: RegisterMap, table: str, address: int, values: list, code: int, text: str
) -> None:
    image: dict = {}
    assert apply(sg, image, "holding_register", 0, [2, 215, 450, 500, 0, 1]) == 0
    before = dict(image)
    with pytest.raises(WriteRejected) as ei:
        sg.validate_write(table, address, values)  # type: ignore[arg-type]
    assert ei.value.code == code and text in ei.value.message, ei.value.message
    assert apply(sg, image, table, address, values) == code
    assert image == before


def test_a_good_point_in_a_bad_request_is_not_applied(sg: RegisterMap) -> None:
    image: dict = {}
    # sg_ready_state = 4 is fine, T_room_set_C = 40 °C is not: nothing is applied
    assert apply(sg, image, "holding_register", 0, [4, 400]) == 3
    assert image == {}
    # read-only input behind a good one is rejected as a whole too
    prof = Profile(
        name="t",
        points=[
            Point(name="a", table="holding_register", address=0, access="rw"),
            Point(name="b", table="holding_register", address=1),
        ],
    )
    with pytest.raises(WriteRejected) as ei:
        RegisterMap(prof).validate_write("holding_register", 0, [1, 1])
    assert ei.value.code == 2 and "b (holding_register 1) is read-only" in ei.value.message


def test_partial_32bit_writes_are_rejected() -> None:
    gen = RegisterMap(load_profile("generic_heat_pump"))  # P_el_set_kW f32 at 0..1, then 2, 3
    for address, values in [(0, [0]), (1, [0]), (1, [0, 450])]:
        with pytest.raises(WriteRejected) as ei:
            gen.validate_write("holding_register", address, values)
        assert ei.value.code == 2 and "must be written whole" in ei.value.message
    assert len(gen.validate_write("holding_register", 0, [0, 0, 550])) == 2


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 25.0, -0.5])
def test_f32_write_rejects_nan_inf_and_range(value: float) -> None:
    gen = RegisterMap(load_profile("generic_heat_pump"))
    regs = encode(gen.profile.point("P_el_set_kW"), value)
    with pytest.raises(WriteRejected) as ei:
        gen.validate_write("holding_register", 0, regs)
    assert ei.value.code == 3 and "P_el_set_kW" in ei.value.message


def test_encode_values_decode_block_and_read(sg: RegisterMap) -> None:
    readbacks = {"P_el_kW": 3.25, "Q_th_kW": 11.5, "T_room_C": 21.4, "T_supply_C": 38.2,
                 "T_dhw_C": 51.0, "T_out_C": -7.5, "operating_mode": 2,
                 "sg_ready_state_active": 1, "P_limit_active_kW": 4.2, "device_heartbeat": 65535,
                 "E_el_kWh": 123456.7, "compressor_starts": 70000,
                 "device_time_s": 86400}  # fmt: skip
    image = sg.encode_values(readbacks)
    assert set(image) == {"input_register"}
    first, count = sg.blocks()["input_register"]
    raw = sg.read("input_register", first, count, image)
    assert sg.decode_block("input_register", first, raw) == readbacks
    # a block cutting through a 32-bit point decodes only whole points
    assert set(sg.decode_block("input_register", 1, raw[1:6])) == {
        "Q_th_kW", "T_room_C", "T_supply_C"
    }
    assert sg.encode_attrs({"on": 1}) == {"discrete_input": {0: 1}}
    with pytest.raises(KeyError):
        sg.encode_values({"nope": 1})
    with pytest.raises(CodecError):
        sg.encode_values({"T_room_C": 4000.0})


def test_read_spans_and_gaps() -> None:
    prof = Profile(
        name="t",
        points=[
            Point(name="a", table="holding_register", address=10),
            Point(name="b", table="holding_register", address=13),
        ],
    )
    regmap = RegisterMap(prof)
    assert regmap.blocks() == {"holding_register": (10, 4)}
    image = regmap.encode_values({"a": 5, "b": 6})
    assert regmap.read("holding_register", 10, 4, image) == [5, 0, 0, 6]  # gap reads 0
    with pytest.raises(ReadRejected) as ei:
        regmap.read("holding_register", 9, 2, image)
    assert ei.value.code == 2
    with pytest.raises(ReadRejected) as ei:
        regmap.read("coil", 0, 1, image)
    assert ei.value.code == 2
    with pytest.raises(ReadRejected) as ei:
        regmap.read("holding_register", 10, 0, image)
    assert ei.value.code == 3


def test_profile_built_in_python_is_validated_too() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="overlaps point 'a'"):
        Profile(
            name="t",
            points=[
                Point(name="a", table="holding_register", address=0, type="f32"),
                Point(name="b", table="holding_register", address=1),
            ],
        )

"""The bundled heat-pump FMU: build, FMI validity, twin check against the native core, dynamics.

The FMU is built from its C sources in the test (into a temporary folder) and driven through
fmpy's low-level FMI 2.0 API, side by side with ``simulators.heatpump.HeatPump`` on the same
inputs: a January week of the bundled Danish reference weather at 60 s steps, with a request
profile that exercises modulation, the minimum on/off times, DHW mode, the backup heater and
SG-Ready states 1 and 4.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fmpy
import numpy as np
import pytest
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import (
    FMU2Slave,
    fmi2CallbackAllocateMemoryTYPE,
    fmi2CallbackFreeMemoryTYPE,
    fmi2CallbackFunctions,
    fmi2CallbackLoggerTYPE,
)
from fmpy.validation import validate_fmu

from simulators.fmu_build import FMU_COMMON, build_fmu
from simulators.heatpump import HeatPump, HeatPumpParams
from simulators.heatpump_fmu import (
    HEATPUMP_FMU_SOURCE,
    NATIVE_TO_FMU,
    HeatPumpFmuDynamics,
    heatpump_fmu_parameters,
    heatpump_fmu_path,
)
from simulators.weather import Weather, reference_weather

DT_S = 60.0
WEEK_STEPS = 7 * 24 * 60
K0 = 273.15
OUTPUTS_W = ("P_el", "P_el_compressor", "P_backup", "Q_th", "Q_sh", "Q_dhw", "Q_backup")


# --------------------------------------------------------------------------------------------------
# Fixtures and a small driver
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fmu_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FMU compiled from source into a temporary folder (no shared cache)."""
    return build_fmu(HEATPUMP_FMU_SOURCE, out_dir=tmp_path_factory.mktemp("build"), force=True,
                     shared=FMU_COMMON)


@pytest.fixture(scope="module")
def unzipped(fmu_file: Path) -> Iterator[tuple[str, Any]]:
    """(extracted folder, model description) shared by the instances of this module."""
    md = fmpy.read_model_description(str(fmu_file))
    folder = fmpy.extract(str(fmu_file))
    yield folder, md
    shutil.rmtree(folder, ignore_errors=True)


class Unit:
    """One FMU instance driven with fmpy's FMU2Slave; values by variable name."""

    def __init__(self, unzipped: tuple[str, Any], parameters: dict[str, Any],
                 name: str = "hp") -> None:
        folder, md = unzipped
        self.vars = {v.name: v for v in md.modelVariables}
        self.messages: list[tuple[int, str]] = []

        def logger(env: Any, inst: bytes, status: int, cat: bytes, msg: bytes) -> None:
            self.messages.append((status, msg.decode()))

        # Keep the ctypes callbacks referenced for the lifetime of the instance.
        self._cb = fmi2CallbackFunctions()
        self._cb.logger = fmi2CallbackLoggerTYPE(logger)
        self._cb.allocateMemory = fmi2CallbackAllocateMemoryTYPE(fmpy.calloc)
        self._cb.freeMemory = fmi2CallbackFreeMemoryTYPE(fmpy.free)
        self.fmu = FMU2Slave(guid=md.guid, unzipDirectory=folder, instanceName=name,
                             modelIdentifier=md.coSimulation.modelIdentifier)
        self.fmu.instantiate(callbacks=self._cb)
        self.set(**parameters)
        self.t = 0.0

    def init(self) -> Unit:
        self.fmu.setupExperiment(startTime=0.0)
        self.fmu.enterInitializationMode()
        self.fmu.exitInitializationMode()
        return self

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            v = self.vars[name]
            if v.type == "Real":
                self.fmu.setReal([v.valueReference], [float(value)])
            elif v.type == "Integer":
                self.fmu.setInteger([v.valueReference], [int(value)])
            else:
                self.fmu.setBoolean([v.valueReference], [bool(value)])

    def get(self, name: str) -> float:
        v = self.vars[name]
        getter = {"Real": self.fmu.getReal, "Integer": self.fmu.getInteger,
                  "Boolean": self.fmu.getBoolean}[v.type]
        return float(getter([v.valueReference])[0])

    def step(self, dt: float, **inputs: Any) -> dict[str, float]:
        self.set(**inputs)
        self.fmu.doStep(self.t, dt)
        self.t += dt
        return {n: self.get(n) for n in (*OUTPUTS_W, "COP", "T_supply", "modulation_frac",
                                         "on", "starts", "Q_compressor", "defrost_loss_frac")}

    def free(self) -> None:
        self.fmu.freeInstance()


def _inputs_K(q_req_kW: float, t_out: float, t24: float, t168: float, dhw: bool,
              sg: int) -> dict[str, Any]:
    return {"Q_req": q_req_kW * 1000.0, "T_out": t_out + K0, "T_out_24h": t24 + K0,
            "T_out_168h": t168 + K0, "dhw_mode": dhw, "sg_ready_state": sg}


def _winter_week() -> dict[str, np.ndarray]:
    """Inputs per 60-s step: January reference weather and a feature-exercising request profile."""
    start = datetime(2021, 1, 11, tzinfo=UTC)
    weather = Weather(reference_weather(start, WEEK_STEPS * DT_S), start)
    rows = [weather.at(k * DT_S) for k in range(WEEK_STEPS)]
    t_out = np.array([r["T_out_C"] for r in rows])
    minute = np.arange(WEEK_STEPS) % 1440
    hour = minute // 60
    rng = np.random.default_rng(7)
    # space heating: ≈ 0.185 kW/K × (21.5 − T_out) (iPower-sized 7 kW house) with noise
    q = np.clip(0.185 * (21.5 - t_out) + rng.normal(0.0, 0.4, WEEK_STEPS), 0.0, None)
    q[(hour >= 1) & (hour < 3)] = 0.8                     # below minimum modulation
    pulses = (hour == 10) & ((minute % 8) < 5)            # 5 min on / 3 min off: min on/off act
    q[hour == 10] = np.where(pulses[hour == 10], 3.0, 0.0)
    q[(hour >= 7) & (hour < 8)] = 8.5                     # above compressor capacity: backup
    q[(minute >= 22 * 60) & (minute < 22 * 60 + 40)] = 0.0  # no request: off
    dhw = (minute >= 6 * 60) & (minute < 6 * 60 + 45)
    q[dhw] = 5.0
    sg = np.full(WEEK_STEPS, 2)
    sg[(hour >= 17) & (hour < 19)] = 1                    # utility block
    sg[hour == 13] = 4                                    # forced on
    sg[hour == 15] = 3
    return {"Q_req_kW": q, "T_out_C": t_out,
            "T_out_24h_C": np.array([r["T_out_24h_C"] for r in rows]),
            "T_out_168h_C": np.array([r["T_out_168h_C"] for r in rows]),
            "dhw_mode": dhw, "sg_ready_state": sg}


@pytest.fixture(scope="module")
def week() -> dict[str, np.ndarray]:
    return _winter_week()


def _run_twin(unzipped: tuple[str, Any], params: HeatPumpParams, inp: dict[str, np.ndarray],
              dts: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Native and FMU (dynamics off) on the same inputs; native outputs converted to W / K."""
    native = HeatPump(params)
    unit = Unit(unzipped, heatpump_fmu_parameters(params, dynamics=False)).init()
    nat: dict[str, list[float]] = {}
    fmu: dict[str, list[float]] = {}
    try:
        for k, dt in enumerate(dts):
            args = {name: inp[name][k] for name in inp}
            out_n = native.step(float(dt), float(args["Q_req_kW"]), float(args["T_out_C"]),
                                float(args["T_out_24h_C"]), float(args["T_out_168h_C"]),
                                dhw_mode=bool(args["dhw_mode"]),
                                sg_ready_state=int(args["sg_ready_state"]))
            out_f = unit.step(float(dt), **_inputs_K(
                float(args["Q_req_kW"]), float(args["T_out_C"]), float(args["T_out_24h_C"]),
                float(args["T_out_168h_C"]), bool(args["dhw_mode"]),
                int(args["sg_ready_state"])))
            for attr, (var, fmu_unit) in NATIVE_TO_FMU.items():
                if attr not in out_n:
                    continue
                x = float(out_n[attr][0])
                x = x * 1000.0 if fmu_unit == "W" else x + K0 if fmu_unit == "K" else x
                nat.setdefault(var, []).append(x)
                fmu.setdefault(var, []).append(out_f[var])
    finally:
        unit.free()
    return ({k: np.array(v) for k, v in nat.items()}, {k: np.array(v) for k, v in fmu.items()})


# --------------------------------------------------------------------------------------------------
# Build and FMI validity
# --------------------------------------------------------------------------------------------------
def test_build_is_reproducible(fmu_file: Path, tmp_path: Path) -> None:
    """Two forced builds from the same sources give byte-identical archives."""
    again = build_fmu(HEATPUMP_FMU_SOURCE, out_dir=tmp_path, force=True, shared=FMU_COMMON)
    assert again.name == fmu_file.name
    assert again.read_bytes() == fmu_file.read_bytes()


def test_fmu_path_builds_into_cache_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEATFLEX_CACHE", str(tmp_path))
    first = heatpump_fmu_path()
    assert first.parent == tmp_path / "fmus" and first.suffix == ".fmu"
    mtime = first.stat().st_mtime_ns
    assert heatpump_fmu_path() == first and first.stat().st_mtime_ns == mtime  # cached
    assert heatpump_fmu_path(force_build=True) == first


def test_fmpy_validation_and_model_description(fmu_file: Path) -> None:
    assert validate_fmu(str(fmu_file)) == []
    md = fmpy.read_model_description(str(fmu_file))
    assert md.fmiVersion == "2.0"
    assert md.coSimulation.modelIdentifier == "heatflex_heatpump"
    assert md.coSimulation.canHandleVariableCommunicationStepSize
    units = {u.name: u for u in md.unitDefinitions}
    degc = {d.name: d for d in units["K"].displayUnits}["degC"]
    kw = {d.name: d for d in units["W"].displayUnits}["kW"]
    assert (degc.factor, degc.offset) == (1.0, -273.15)
    assert kw.factor == pytest.approx(1e-3)
    by_name = {v.name: v for v in md.modelVariables}
    for attr, (var, unit) in NATIVE_TO_FMU.items():
        assert var in by_name, attr
        assert (by_name[var].unit or "") == (unit if unit else ""), var
    inputs = {v.name for v in md.modelVariables if v.causality == "input"}
    assert inputs == {"Q_req", "dhw_mode", "sg_ready_state", "T_out", "T_out_24h", "T_out_168h"}


def test_start_values_match_the_c_defaults(unzipped: tuple[str, Any]) -> None:
    """modelDescription start values = the values the C code holds after instantiation."""
    _, md = unzipped
    unit = Unit(unzipped, {})
    try:
        checked = 0
        for v in md.modelVariables:
            if v.start is None:
                continue
            expected = {"Real": float, "Integer": int}.get(v.type, lambda s: s == "true")(v.start)
            assert unit.get(v.name) == pytest.approx(float(expected), rel=1e-15), v.name
            checked += 1
        assert checked == 30
    finally:
        unit.free()


def test_parameter_mapping_covers_every_fmu_parameter(unzipped: tuple[str, Any]) -> None:
    _, md = unzipped
    fmu_params = {v.name for v in md.modelVariables if v.causality == "parameter"}
    mapped = heatpump_fmu_parameters(HeatPumpParams(source="air", emitter="floor", year=2035))
    assert set(mapped) == fmu_params
    assert mapped["source"] == 1 and mapped["emitter"] == 1
    assert mapped["cop_year_factor"] == pytest.approx(3.4 / 3.0)
    assert mapped["Q_rated"] == pytest.approx(7000.0)
    off = heatpump_fmu_parameters(HeatPumpParams(), dynamics=False)
    assert off["tau_condenser"] == off["startup_ramp_time"] == off["defrost_loss_max"] == 0.0
    with pytest.raises(ValueError, match="Q_rated_kW"):
        heatpump_fmu_parameters(HeatPumpParams(Q_rated_kW=np.array([5.0, 7.0])))
    with pytest.raises(ValueError, match="dynamics"):
        heatpump_fmu_parameters(HeatPumpParams(), dynamics="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Twin check: native core vs FMU with the added dynamics off
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["ground", "air"])
def test_twin_winter_week(unzipped: tuple[str, Any], week: dict[str, np.ndarray],
                          source: str) -> None:
    params = HeatPumpParams(source=source, emitter="radiator", Q_rated_kW=7.0, year=2025)
    nat, fmu = _run_twin(unzipped, params, week, np.full(WEEK_STEPS, DT_S))
    # the profile exercised what it should
    assert nat["P_backup"].max() > 100.0 and nat["Q_dhw"].sum() > 0.0
    assert np.any((nat["modulation_frac"] > 0.35) & (nat["modulation_frac"] < 0.95))
    blocked = week["sg_ready_state"] == 1
    assert not np.any(nat["on"][blocked]) and np.all(nat["on"][week["sg_ready_state"] == 4])
    assert nat["starts"][-1] >= 20
    # totals within 2 % — and per step practically identical
    for var in ("P_el", "Q_th"):
        rel = abs(fmu[var].sum() - nat[var].sum()) / nat[var].sum()
        assert rel < 0.02, (var, rel)
        assert rel < 1e-9, (var, rel)
    for var in nat:
        np.testing.assert_allclose(fmu[var], nat[var], rtol=1e-9, atol=1e-6, err_msg=var)


def test_twin_variable_step_sizes(unzipped: tuple[str, Any], week: dict[str, np.ndarray]) -> None:
    """canHandleVariableCommunicationStepSize: random 10 s … 15 min steps stay in lockstep."""
    n = 400
    dts = np.random.default_rng(3).choice([10.0, 60.0, 90.0, 300.0, 900.0], size=n)
    inp = {k: v[::25][:n] for k, v in week.items()}
    nat, fmu = _run_twin(unzipped, HeatPumpParams(source="air", min_on_s=300.0), inp, dts)
    assert nat["starts"][-1] >= 3
    for var in nat:
        np.testing.assert_allclose(fmu[var], nat[var], rtol=1e-9, atol=1e-6, err_msg=var)


# --------------------------------------------------------------------------------------------------
# Added dynamics
# --------------------------------------------------------------------------------------------------
def _only(**kw: float) -> HeatPumpFmuDynamics:
    base = {"tau_condenser_s": 0.0, "startup_ramp_time_s": 0.0, "defrost_loss_max_frac": 0.0}
    return HeatPumpFmuDynamics(**{**base, **kw})


def test_startup_ramp_limits_power_after_a_start(unzipped: tuple[str, Any]) -> None:
    """Request = capacity: step means 1/6, 3/6, 5/6, 1 of full power with a 180-s ramp."""
    params = HeatPumpParams(source="ground")
    q_cap_kW = 7.0 * 0.8
    runs = {}
    for label, dyn in (("ramp", _only(startup_ramp_time_s=180.0)), ("off", _only())):
        unit = Unit(unzipped, heatpump_fmu_parameters(params, dyn)).init()
        runs[label] = [unit.step(DT_S, **_inputs_K(q_cap_kW, -3.0, -2.0, 1.0, False, 2))
                       for _ in range(6)]
        unit.free()
    p_ramp = np.array([o["P_el"] for o in runs["ramp"]])
    p_off = np.array([o["P_el"] for o in runs["off"]])
    np.testing.assert_allclose(p_ramp / p_off, [1 / 6, 1 / 2, 5 / 6, 1, 1, 1], rtol=1e-12)
    q_ramp = np.array([o["Q_th"] for o in runs["ramp"]])
    np.testing.assert_allclose(q_ramp[3:], q_cap_kW * 1000.0, rtol=1e-12)
    assert [o["starts"] for o in runs["ramp"]] == [1.0] * 6


def test_condenser_lag_delays_heat_and_conserves_energy(unzipped: tuple[str, Any]) -> None:
    """tau = 60 s: first-step mean = e⁻¹ of the output; heat keeps coming after the stop."""
    tau = 60.0
    unit = Unit(unzipped, heatpump_fmu_parameters(HeatPumpParams(), _only(tau_condenser_s=tau)))
    unit.init()
    q = 4000.0
    outs = [unit.step(DT_S, **_inputs_K(q / 1000.0, 0.0, 0.0, 2.0, False, 2))
            for _ in range(12)]                       # 12 min on (> min on time)
    outs += [unit.step(DT_S, **_inputs_K(0.0, 0.0, 0.0, 2.0, False, 2)) for _ in range(20)]
    unit.free()
    q_th = np.array([o["Q_th"] for o in outs])
    q_prod = np.array([o["Q_compressor"] + o["Q_backup"] for o in outs])
    p_el = np.array([o["P_el"] for o in outs])
    assert q_th[0] == pytest.approx(q * math.exp(-DT_S / tau), rel=1e-12)
    assert p_el[0] == pytest.approx(p_el[5], rel=1e-12)   # power at once, heat lags
    stop = 12
    assert p_el[stop] == 0.0 and q_th[stop] > 0.2 * q     # after the stop heat still flows
    assert q_th[stop + 1] == pytest.approx(q_th[stop] * math.exp(-1.0), rel=1e-9)
    assert q_th.sum() == pytest.approx(q_prod.sum(), rel=1e-7)


@pytest.mark.parametrize(
    ("t_out_C", "loss"),
    [(-15.0, 0.0), (-7.0, 0.1 * 8.0 / 15.0), (0.0, 0.1), (2.0, 0.1), (4.0, 0.05), (10.0, 0.0)],
)
def test_defrost_lowers_air_source_cop_near_freezing(unzipped: tuple[str, Any], t_out_C: float,
                                                     loss: float) -> None:
    """Same delivered heat, COP × (1 − f(T_out)); f peaks at 0…3 °C, 0 at −15 and +10 °C."""
    cops = {}
    for source in ("air", "ground"):
        for label, dyn in (("defrost", _only(defrost_loss_max_frac=0.1)), ("off", _only())):
            params = HeatPumpParams(source=source)
            unit = Unit(unzipped, heatpump_fmu_parameters(params, dyn)).init()
            out = [unit.step(DT_S, **_inputs_K(3.0, t_out_C, t_out_C, t_out_C, False, 2))
                   for _ in range(3)][-1]
            unit.free()
            assert out["Q_th"] == pytest.approx(3000.0, rel=1e-12)
            cops[(source, label)] = out["COP"]
            if label == "defrost" and source == "air":
                assert out["defrost_loss_frac"] == pytest.approx(loss, abs=1e-12)
    assert cops[("air", "defrost")] / cops[("air", "off")] == pytest.approx(1.0 - loss, rel=1e-9)
    assert cops[("ground", "defrost")] == pytest.approx(cops[("ground", "off")], rel=1e-12)


def test_defrost_reduces_capacity_and_backup_fills_in(unzipped: tuple[str, Any]) -> None:
    """At +2 °C the defrosting compressor covers 10 % less; the backup heater takes the rest."""
    params = HeatPumpParams(source="air")
    res = {}
    for label, dyn in (("defrost", _only(defrost_loss_max_frac=0.1)), ("off", _only())):
        unit = Unit(unzipped, heatpump_fmu_parameters(params, dyn)).init()
        res[label] = [unit.step(DT_S, **_inputs_K(7.5, 2.0, 2.0, 2.0, False, 2))
                      for _ in range(2)][-1]
        unit.free()
    cap_off = res["off"]["Q_compressor"]
    assert res["defrost"]["Q_compressor"] == pytest.approx(0.9 * cap_off, rel=1e-12)
    # capacity 5.6·1.28 = 7.168 kW; with defrost 6.451 kW: the backup covers the difference
    assert res["defrost"]["Q_backup"] - res["off"]["Q_backup"] == pytest.approx(0.1 * cap_off)
    assert res["defrost"]["Q_th"] == pytest.approx(7500.0, rel=1e-12)
    assert res["defrost"]["modulation_frac"] == pytest.approx(1.0, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Errors, state
# --------------------------------------------------------------------------------------------------
def test_bad_parameter_fails_initialisation_with_message(unzipped: tuple[str, Any]) -> None:
    unit = Unit(unzipped, {"Q_rated": -1000.0})
    try:
        unit.fmu.setupExperiment(startTime=0.0)
        unit.fmu.enterInitializationMode()
        with pytest.raises(FMICallException) as err:
            unit.fmu.exitInitializationMode()
        assert err.value.status == 3  # fmi2Error
        assert any(s == 3 and "Q_rated" in m and "-1000" in m for s, m in unit.messages)
    finally:
        unit.free()


@pytest.mark.parametrize(("inputs", "text"), [({"Q_req": -5.0}, "Q_req"),
                                              ({"sg_ready_state": 5}, "sg_ready_state"),
                                              ({"T_out": math.nan}, "T_out")])
def test_bad_input_fails_the_step_with_message(unzipped: tuple[str, Any],
                                               inputs: dict[str, Any], text: str) -> None:
    unit = Unit(unzipped, {}).init()
    try:
        unit.step(DT_S, Q_req=1000.0)
        with pytest.raises(FMICallException):
            unit.step(DT_S, **inputs)
        assert any(s == 3 and text in m for s, m in unit.messages)
        with pytest.raises(FMICallException):  # the instance stays in the error state
            unit.step(DT_S, Q_req=1000.0, sg_ready_state=2, T_out=K0)
    finally:
        unit.free()


def test_fixed_parameter_cannot_change_after_initialisation(unzipped: tuple[str, Any]) -> None:
    unit = Unit(unzipped, {}).init()
    try:
        with pytest.raises(FMICallException):
            unit.set(Q_rated=5000.0)
        assert unit.get("Q_rated") == 7000.0
    finally:
        unit.free()


def test_fmu_state_roundtrip(unzipped: tuple[str, Any]) -> None:
    """getFMUstate / setFMUstate and (de)serialisation restore the full dynamic state."""
    unit = Unit(unzipped, heatpump_fmu_parameters(HeatPumpParams(source="air"))).init()
    try:
        for _ in range(3):
            unit.step(DT_S, **_inputs_K(4.0, 1.0, 1.0, 1.0, False, 2))
        state = unit.fmu.getFMUstate()
        blob = unit.fmu.serializeFMUstate(state)
        t0 = unit.t
        seq = [(2.0, 2), (0.0, 2), (6.0, 4), (3.0, 1)]
        first = [unit.step(DT_S, **_inputs_K(q, 1.0, 1.0, 1.0, False, sg)) for q, sg in seq]
        for restored in (state, unit.fmu.deSerializeFMUstate(blob)):
            unit.fmu.setFMUstate(restored)
            unit.t = t0
            again = [unit.step(DT_S, **_inputs_K(q, 1.0, 1.0, 1.0, False, sg)) for q, sg in seq]
            assert again == first
        unit.fmu.freeFMUstate(state)
    finally:
        unit.free()


def test_reset_returns_to_start_values(unzipped: tuple[str, Any]) -> None:
    unit = Unit(unzipped, {"Q_rated": 9000.0, "source": 1}).init()
    try:
        first = unit.step(DT_S, **_inputs_K(4.0, 1.0, 1.0, 1.0, False, 2))
        unit.fmu.reset()
        assert unit.get("Q_rated") == 7000.0 and unit.get("source") == 0.0
        unit.set(Q_rated=9000.0, source=1)
        unit.t = 0.0
        unit.init()
        assert unit.step(DT_S, **_inputs_K(4.0, 1.0, 1.0, 1.0, False, 2)) == first
    finally:
        unit.free()

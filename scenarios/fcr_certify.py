"""``heatflex certify fcr``: the Nordic FCR prequalification programme against a device under test.

One test session in mosaik at ``time_resolution`` 0.1 s (the 10 Hz FCR-D logging rate)::

    test rig: applied frequency (FrequencyProfile of the programme signal)
              └─> FCR controller (FcrController: droop / FCR-D / static, FME filter, LER)
        └─ P_el_set_kW ─> device under test (simulated heat pump; later a Modbus unit)
    both ──> Parquet recorder (0.1 s)

The signal generator and the controller share one simulator (the rig injects a software
frequency signal into the controller): at 0.1 s the mosaik scheduler, not the models, sets the
pace, and every simulator fewer saves about a quarter of the run time.

The device is settled at its baseline for ``fcr.warmup`` seconds before the session, and the
tests run back to back, each later one preceded by ``fcr.warmup`` seconds at its first frequency,
so the device meets each test in a settled state (its minimum on/off times have elapsed) as on a
real test day. After the run every test is judged by
:func:`scenarios.verdicts.fcr.evaluate`, the tests are combined, and the run folder gets
``run.json``, ``summary.json`` (``kpis`` + ``verdicts``), ``timeseries/*.parquet``, the TSO-format
CSV logs under ``tso/``, ``report.html`` with time plots per test and, for sine tests, Bode and
Nyquist plots, and ``scenario.toml``.

Operating point (reference §1.3; the house is not simulated, a test lasts minutes): the heat
pump runs at a constant outdoor temperature ``fcr.T_out_C`` (also its 24 h / 168 h means) with a
constant heat request equal to the heat of its baseline power, so that without FCR it would draw
exactly ``P_base``. ``P_base`` is the *high-load* point (``P_max``) for FCR-D up, the *low-load*
point for FCR-D down and the middle of the power range for FCR-N (largest symmetric capacity),
unless ``fcr.baseline_frac`` places it. The capacity is the maintained capacity there
(``fcr.capacity_kW = "auto"``, times ``fcr.capacity_share``) or the value offered.

The seam for hardware: :class:`DeviceUnderTest` — a core that steps with ``P_el_set_kW`` and
returns at least ``P_el_kW``, plus its operating point. :func:`simulated_heat_pump` builds it from
the scenario; a Modbus FCR unit (``adapters.modbus`` client cores) can take its place.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mosaik
import numpy as np
import pandas as pd

from adapters import parquet as parquet_mod
from adapters.records import SourceInfo
from scenarios import schema
from scenarios.catalog import resolve_scenario_path
from scenarios.verdicts import fcr as verdicts
from simulators import fcr_programme as prog
from simulators import heatpump as heatpump_mod
from simulators.controllers.fcr import FcrController, FcrParams
from simulators.cosim import base as cosim_base
from simulators.frequency import FrequencyProfile

TIME_RESOLUTION_S: float = 0.1
"""mosaik time unit of a certification session, s (10 Hz: the FCR-D test logging rate)."""

SIM_CONFIG: dict[str, dict[str, str]] = {
    "Core": {"python": "simulators.cosim.base:CoreSim"},
    "Recorder": {"python": "adapters.parquet:ParquetRecorder"},
}

CONTROLLER_OUT: tuple[str, ...] = (
    "f_Hz", "P_el_set_kW", "f_meas_Hz", "activation_frac", "capacity_kW", "P_nem_kW", "nem_allowed",
    "aem_active", "soc_frac")
"""Attributes the FCR controller core outputs (recorded as measurement ``controller``)."""


class CertifyError(ValueError):
    """The certification cannot run as configured (message names the key and what is allowed)."""


# ------------------------------------------------------------------------------------------------
# Device under test (the seam)
# ------------------------------------------------------------------------------------------------


@dataclass
class DeviceUnderTest:
    """What the programme drives: a core ``step(dt_s, P_el_set_kW=...) -> {"P_el_kW", ...}``
    (consumption positive, kW, mean over the step) and its operating point.

    Attributes:
        core: the steppable device (a simulated heat pump, or a Modbus client core).
        outputs: attributes the core returns (``P_el_kW`` required), recorded as ``heatpump``.
        P_base_kW: baseline power at the operating point (what it draws without FCR), kW.
        P_min_kW: lowest power the controller may command, kW (0 = the unit may stop).
        P_max_kW: highest power the controller may command, kW.
        source: ``sim`` or ``hw`` (the ``source`` tag of its records).
        info: operating-point details for ``run.json``.
    """

    core: Any
    outputs: list[str]
    P_base_kW: float
    P_min_kW: float
    P_max_kW: float
    source: str = "sim"
    info: dict[str, Any] = field(default_factory=dict)


class _SimulatedHeatPump:
    """The native heat-pump core at a fixed operating point, commanded by ``P_el_set_kW``."""

    OUTPUTS = ["P_el_kW", "P_el_compressor_kW", "Q_th_kW", "COP", "on", "starts",
               "modulation_frac"]

    def __init__(self, core: heatpump_mod.HeatPump, Q_req_kW: float, T_out_C: float) -> None:
        self.core = core
        self.Q_req_kW = Q_req_kW
        self.weather = {"T_out_C": T_out_C, "T_out_24h_C": T_out_C, "T_out_168h_C": T_out_C}

    def step(self, dt_s: float, P_el_set_kW: Any = None) -> dict[str, Any]:
        out = self.core.step(dt_s, self.Q_req_kW, P_el_set_kW=P_el_set_kW, **self.weather)
        return {k: out[k] for k in self.OUTPUTS}


def simulated_heat_pump(sc: schema.Scenario, product: str, direction: str = "up",
                        warmup_s: float | None = None) -> DeviceUnderTest:
    """The scenario's heat pump (native model, its parameters incl. ``ramp_frac_per_s``) at the
    FCR operating point of ``product`` (see the module docstring), started and settled.

    The unit is stepped at its baseline for ``warmup_s`` (default ``fcr.warmup``) before the
    session so that it runs in steady state (min on/off times elapsed)."""
    from scenarios.world import build_site

    fcr = sc.fcr or schema.FcrConfig()
    data = schema.resolved_dict(sc)
    data["site"]["heatpump"]["model"] = "native"
    data["site"]["n_houses"] = 1
    data.pop("frequency", None)
    data.pop("end", None)
    data["duration"] = 3600.0  # only the heat pump is used; keep the boundary series short
    site = build_site(schema.validate_data(data, sc.name))
    pump: heatpump_mod.HeatPump = site.heatpump
    T = fcr.T_out_C
    p_lo, p_hi = (float(x[0]) for x in pump.compressor_power_range_kW(T, T, T))
    q_cap = float(pump.compressor_capacity_kW(T)[0])
    on_off = p_lo >= p_hi * (1.0 - 1e-9)
    may_stop = on_off if fcr.may_stop == "auto" else bool(fcr.may_stop)
    p_min = 0.0 if may_stop else p_lo
    up = prog.direction_sign(product, direction) > 0 and product != "fcr-n"
    if fcr.baseline_frac != "auto":
        frac = float(fcr.baseline_frac)
        p_base = p_hi if (on_off and frac >= 0.5) else (
            0.0 if on_off else p_lo + frac * (p_hi - p_lo))
        point = f"baseline_frac = {frac:g}"
    elif product == "fcr-n":
        p_base = p_hi if on_off else 0.5 * (p_lo + p_hi)
        point = "middle of the power range (largest symmetric capacity)"
    elif fcr.ler and not on_off:  # Table 10: keep 0.2·C the other way for the NEM shift
        share = 1.0 / 1.2 if up else 0.2 / 1.2
        p_base = p_min + share * (p_hi - p_min)
        point = "LER: P_base leaves C one way and 0.2·C the other (reference Table 10)"
    elif up:
        p_base, point = p_hi, "high load (P_max): largest up-regulation capacity"
    else:
        p_base, point = p_min, "low load: largest down-regulation capacity"
    q_req = q_cap * p_base / p_hi  # the heat of P_base at this operating point (compressor only)
    dut = _SimulatedHeatPump(pump, q_req, T)
    dt = TIME_RESOLUTION_S
    w = fcr.warmup if warmup_s is None else warmup_s
    for _ in range(int(round(w / dt))):
        dut.step(dt, P_el_set_kW=p_base)
    info = {"device": "simulated heat pump (native model)", "T_out_C": T,
            "P_compressor_min_kW": p_lo, "P_compressor_max_kW": p_hi, "on_off": on_off,
            "may_stop": may_stop, "operating_point": point, "Q_req_kW": q_req,
            "ramp_frac_per_s": sc.site.heatpump.ramp_frac_per_s,
            "min_on_s": sc.site.heatpump.min_on, "min_off_s": sc.site.heatpump.min_off,
            "warmup_s": w}
    return DeviceUnderTest(dut, list(_SimulatedHeatPump.OUTPUTS), p_base, p_min, p_hi,
                           "sim", info)


def offered_capacity_kW(dut: DeviceUnderTest, product: str, direction: str,
                        fcr: schema.FcrConfig) -> float:
    """The capacity the test is judged against: ``fcr.capacity_kW`` or, for ``auto``, the
    maintained capacity at the operating point (ref §1.10) times ``fcr.capacity_share``; a
    limited energy reservoir also keeps the Table 10 power reservation for its NEM shift
    (±1.34·C for FCR-N, 0.2·C against the FCR-D direction)."""
    if fcr.capacity_kW != "auto":
        return float(fcr.capacity_kW)
    up = dut.P_base_kW - dut.P_min_kW
    down = dut.P_max_kW - dut.P_base_kW
    if product == "fcr-n":
        c = min(up, down) / (1.34 if fcr.ler else 1.0)
    elif prog.direction_sign(product, direction) > 0:
        c = min(up, down / 0.2) if fcr.ler else up
    else:
        c = min(down, up / 0.2) if fcr.ler else down
    c *= fcr.capacity_share
    if not c > 1e-9:
        raise CertifyError(
            f"fcr: the device offers no {product} capacity at its operating point (P_base = "
            f"{dut.P_base_kW:.3f} kW, P_min = {dut.P_min_kW:.3f} kW, P_max = {dut.P_max_kW:.3f} "
            "kW); allowed: set fcr.baseline_frac / fcr.may_stop, give fcr.capacity_kW, or test "
            "another product (an on/off unit has no symmetric FCR-N capacity)")
    return c


# ------------------------------------------------------------------------------------------------
# Cores of the session
# ------------------------------------------------------------------------------------------------


class _TestRig:
    """The applied frequency and the FcrController at the device's operating point.

    The programme signal is a profile read at the START of each step and held over it (the
    profile starts one step early, so its ``step``, which reports the end of the step it
    advances, yields f(t) for [t, t + dt)). With LER, a reservoir integrates the device's
    deviation from its baseline (consumption above it charges the storage)."""

    def __init__(self, signal: tuple[np.ndarray, np.ndarray], ctrl: FcrController,
                 dut: DeviceUnderTest, fcr: schema.FcrConfig) -> None:
        self.profile = FrequencyProfile(signal[0], signal[1], interpolation="linear",
                                        t0_s=-TIME_RESOLUTION_S)
        self.ctrl = ctrl
        self.dut = dut
        self.ler = fcr.ler
        self.E_res_kWh = fcr.E_res_kWh or math.inf
        self.soc = fcr.soc0_frac

    def step(self, dt_s: float, P_el_kW: Any = None) -> dict[str, Any]:
        f_Hz = self.profile.step(dt_s)["f_Hz"]
        if self.ler and P_el_kW is not None:
            p = float(np.asarray(P_el_kW, dtype=float).ravel()[0])
            self.soc = min(1.0, max(0.0, self.soc + (p - self.dut.P_base_kW) * dt_s / 3600.0
                                    / self.E_res_kWh))
        c = self.ctrl.step(dt_s, f_Hz, self.dut.P_base_kW, P_min_kW=self.dut.P_min_kW,
                           P_max_kW=self.dut.P_max_kW,
                           soc_frac=self.soc if self.ler else None)
        return {"f_Hz": f_Hz, "P_el_set_kW": c["P_set_kW"], "f_meas_Hz": c["f_meas_Hz"],
                "activation_frac": c["activation_frac"], "capacity_kW": c["capacity_kW"],
                "P_nem_kW": c["P_nem_kW"], "nem_allowed": c["nem_allowed"],
                "aem_active": c["aem_active"], "soc_frac": np.array([self.soc])}


def fcr_params(product: str, direction: str, C_kW: float, fcr: schema.FcrConfig) -> FcrParams:
    """Controller parameters for one product with capacity ``C_kW``."""
    kw: dict[str, Any] = {"T_FME_s": fcr.T_FME, "fcrn_deadband_Hz": fcr.deadband_Hz,
                          "ler": fcr.ler}
    if fcr.ler:
        kw["E_res_kWh"] = fcr.E_res_kWh
    if product == "fcr-n":
        kw["C_fcrn_kW"] = C_kW
    elif prog.direction_sign(product, direction) > 0:
        kw["C_fcrd_up_kW"] = C_kW
    else:
        kw["C_fcrd_down_kW"] = C_kW
    if product == "fcr-d-static":
        kw["fcrd_static"] = True
    return FcrParams(**kw)


# ------------------------------------------------------------------------------------------------
# The session
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledTest:
    """A test of the session: its signal and where it starts in session time, s."""

    name: str
    signal: prog.TestSignal
    offset_s: float


def select_tests(product: str, test: str, fcr: schema.FcrConfig) -> list[str]:
    """The tests to run: one, or ``all`` the reference defines for the product (LER only for a
    limited energy reservoir, ``fcr.ler = true``)."""
    available = prog.available_tests(product)
    if test == "all":
        return [t for t in available if t != "ler" or fcr.ler]
    if test not in available:
        raise CertifyError(f"--test {test}: not defined for --product {product}; allowed: "
                           f"{', '.join(available)}, all")
    if test == "ler" and not fcr.ler:
        raise CertifyError("--test ler: the LER test needs a limited energy reservoir; allowed: "
                           "set fcr.ler = true and fcr.E_res_kWh in the scenario")
    return [test]


def schedule(product: str, tests: Sequence[str], direction: str, fcr: schema.FcrConfig,
             dt_s: float = TIME_RESOLUTION_S) -> tuple[list[ScheduledTest], np.ndarray,
                                                        np.ndarray]:
    """The session: tests back to back, each after ``fcr.warmup`` s at its first frequency.

    Returns the scheduled tests and the session's applied-frequency samples (t_s, f_Hz)."""
    kw: dict[str, Any] = {"dt_s": dt_s, "direction": direction, "endurance": fcr.endurance,
                          "ler": fcr.ler, "combined_fcr_n": fcr.combined_fcr_n,
                          "mode_shifting": fcr.mode_shifting}
    if fcr.sine_periods is not None:
        kw["sine_periods"] = fcr.sine_periods
    out: list[ScheduledTest] = []
    ts: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    cursor = 0.0
    for i, name in enumerate(tests):
        try:
            sig = prog.programme(product, name, **kw)
        except ValueError as exc:
            raise CertifyError(f"fcr: {exc}") from None
        # the device is settled before the session; later tests get their own warm-up
        offset = round(cursor + (fcr.warmup if i else 0.0), 6)
        if i:
            ts.append(np.array([cursor]))
            fs.append(np.array([sig.f_Hz[0]]))
        ts.append(offset + sig.t_s)
        fs.append(sig.f_Hz)
        out.append(ScheduledTest(name, sig, offset))
        cursor = round(offset + sig.duration_s, 6)
    ts.append(np.array([cursor]))
    fs.append(np.array([fs[-1][-1]]))
    t, f = np.concatenate(ts), np.concatenate(fs)
    keep = np.concatenate([[True], np.diff(t) > 1e-9])
    return out, t[keep], f[keep]


def _run_session(dut: DeviceUnderTest, ctrl: FcrController, fcr: schema.FcrConfig,
                 t_prof: np.ndarray, f_prof: np.ndarray, until_s: float, out: Path,
                 run_id: str, name: str, start: datetime) -> None:
    """Run the mosaik session; raise RuntimeError with a crashed simulator's traceback."""
    from scenarios.runner import _cancel_pending, _quiet_mosaik_logs

    _quiet_mosaik_logs()
    cosim_base.CRASHES.clear()
    world = mosaik.World(SIM_CONFIG, time_resolution=TIME_RESOLUTION_S, debug=False,
                         cache=False, skip_greetings=True)
    failed: str | None = None
    try:
        def start_sim(model: str, core: Any, inputs: list[str], outputs: list[str]) -> Any:
            sim = world.start("Core", sim_id=model, model=model, inputs=inputs, outputs=outputs,
                              step_size=1)
            return getattr(sim, model).create(1, core=core, eid=model.lower())[0]

        ctrl_in = ["P_el_kW"] if fcr.ler else []
        controller = start_sim("Controller", _TestRig((t_prof, f_prof), ctrl, dut, fcr),
                               ctrl_in, list(CONTROLLER_OUT))
        device = start_sim("Device", dut.core, ["P_el_set_kW"], dut.outputs)
        world.connect(controller, device, "P_el_set_kW")
        if fcr.ler:
            world.connect(device, controller, "P_el_kW", time_shifted=True,
                          initial_data={"P_el_kW": np.array([dut.P_base_kW])})
        sources = {controller.full_id: SourceInfo("controller", "fcr"),
                   device.full_id: SourceInfo("heatpump", "dut", dut.source)}
        rec = world.start("Recorder", sim_id="Recorder", step_size=1).Recorder.create(
            1, out_dir=str(out / "timeseries"), run_id=run_id, scenario=name, start=start,
            sources=sources, flush_interval_s=3600.0)[0]
        world.connect(controller, rec, *CONTROLLER_OUT)
        world.connect(device, rec, *dut.outputs)
        world.run(until=int(round(until_s / TIME_RESOLUTION_S)), print_progress=False)
    except Exception as exc:  # noqa: BLE001 — reported below with the traceback
        import traceback

        failed = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    finally:
        for r in list(parquet_mod.ACTIVE):
            r.close()
        if failed is not None:
            _cancel_pending(world)
    if cosim_base.CRASHES:
        c = cosim_base.CRASHES[0]
        failed = f"simulator {c.sid} crashed at t = {c.time} (0.1 s units):\n{c.traceback}"
    if failed is not None:
        raise RuntimeError(failed)


def _series(frames: dict[str, pd.DataFrame], start: datetime) -> dict[str, np.ndarray]:
    """Session arrays (t_s from the session start) of the recorded frames."""
    hp = frames["heatpump"].sort_values("time")
    ctrl = frames["controller"].sort_values("time")
    if not (len(hp) == len(ctrl)
            and hp["time"].to_numpy().tolist() == ctrl["time"].to_numpy().tolist()):
        raise RuntimeError(f"recorded series do not align: heatpump {len(hp)}, controller "
                           f"{len(ctrl)} samples")
    t0 = pd.Timestamp(start)
    t = ((hp["time"] - t0) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    return {"t_s": np.round(t, 6), "P_kW": hp["P_el_kW"].to_numpy(dtype=float),
            "f_Hz": ctrl["f_Hz"].to_numpy(dtype=float),
            "f_meas_Hz": ctrl["f_meas_Hz"].to_numpy(dtype=float),
            "P_set_kW": ctrl["P_el_set_kW"].to_numpy(dtype=float),
            "P_nem_kW": ctrl["P_nem_kW"].to_numpy(dtype=float),
            "nem": ctrl["nem_allowed"].to_numpy(dtype=float) != 0.0,
            "aem": ctrl["aem_active"].to_numpy(dtype=float) > 0.5,
            "soc": ctrl["soc_frac"].to_numpy(dtype=float)}


def certify_fcr(scenario: str | Path, product: str, test: str = "all",
                out_dir: str | Path | None = None, progress: bool = False,
                report: bool = True) -> Path:
    """Run the FCR prequalification programme against the scenario's device; return the run
    folder. Raises ``schema.ScenarioError`` (scenario mistakes), :class:`CertifyError` (a
    programme that cannot run as configured) or RuntimeError (a crashed simulator)."""
    if product not in prog.PRODUCTS:
        raise CertifyError(f"--product {product}: allowed: {', '.join(prog.PRODUCTS)}")
    path = resolve_scenario_path(str(scenario))
    sc, _raw = schema.load_scenario(path)
    sc = schema.absolutize_paths(sc, path.resolve().parent)
    fcr = sc.fcr or schema.FcrConfig()
    direction = fcr.direction if product == "fcr-d-static" else (
        "down" if product == "fcr-d-down" else "up")
    tests = select_tests(product, test, fcr)
    dut = simulated_heat_pump(sc, product, direction)
    C = offered_capacity_kW(dut, product, direction, fcr)
    ctrl = FcrController(fcr_params(product, direction, C, fcr), n=1)
    plan, t_prof, f_prof = schedule(product, tests, direction, fcr)
    until = float(t_prof[-1])

    started = datetime.now(UTC)
    run_id = f"certify-fcr-{product}-{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    out = Path(out_dir) if out_dir else Path("runs") / run_id
    out.mkdir(parents=True, exist_ok=True)
    resolved = schema.resolved_dict(sc)
    (out / "scenario.toml").write_text(schema.dump_toml(resolved), encoding="utf-8")
    name = f"{sc.name}-certify-fcr"
    meta: dict[str, Any] = {
        "run_id": run_id, "scenario": name, "scenario_file": str(path),
        "scenario_hash": schema.scenario_hash(resolved), "seed": sc.seed,
        "start": sc.start.isoformat(), "end": (sc.start + timedelta(seconds=until)).isoformat(),
        "mode": "as-fast-as-possible", "time_resolution_s": TIME_RESOLUTION_S,
        "product": product, "direction": direction, "tests": tests, "capacity_kW": C,
        "P_base_kW": dut.P_base_kW, "P_min_kW": dut.P_min_kW, "P_max_kW": dut.P_max_kW,
        "device": dut.info, "started_utc": started.isoformat(),
        "schedule": [{"test": s.name, "offset_s": s.offset_s,
                      "duration_s": s.signal.duration_s} for s in plan],
    }
    from scenarios.runner import _versions, _write_json

    meta["versions"] = _versions()
    t0 = time.perf_counter()
    try:
        _run_session(dut, ctrl, fcr, t_prof, f_prof, until, out, run_id, name, sc.start)
    except RuntimeError as exc:
        meta.update(status="failed", error=str(exc), wall_time_s=time.perf_counter() - t0)
        _write_json(out / "run.json", meta)
        raise
    meta["wall_time_s"] = round(time.perf_counter() - t0, 3)
    meta["steps"] = int(round(until / TIME_RESOLUTION_S))
    meta["status"] = "completed"

    frames = parquet_mod.read_timeseries(out / "timeseries")
    s = _series(frames, sc.start)
    opts = verdicts.EvalOptions(allow_reduction=fcr.allow_reduction)
    per_test: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, np.ndarray]] = {}
    tso_paths: list[str] = []
    for st in plan:
        sig = st.signal
        m = (s["t_s"] >= st.offset_s - 1e-6) & (s["t_s"] < st.offset_s + sig.duration_s - 1e-6)
        t = s["t_s"][m] - st.offset_s
        base = dut.P_base_kW + (s["P_nem_kW"][m] if fcr.ler else 0.0)
        rec = {"t_s": t, "f_Hz": s["f_Hz"][m], "P_kW": s["P_kW"][m],
               "P_base_kW": np.broadcast_to(base, t.shape).astype(float),
               "f_meas_Hz": s["f_meas_Hz"][m], "P_set_kW": s["P_set_kW"][m]}
        records[st.name] = rec
        kw: dict[str, Any] = {"options": opts}
        if st.name == "ler":
            kw.update(nem_active=s["nem"][m], aem_active=s["aem"][m])
        if fcr.combined_fcr_n and st.name == "ramp":
            kw["C_fcrn_kW"] = C
        per_test[st.name] = verdicts.evaluate(sig, t, rec["f_Hz"], rec["P_kW"],
                                              rec["P_base_kW"], C, **kw)
        signals = verdicts.tso_signals(product, f_applied_Hz=rec["f_Hz"], P_kW=rec["P_kW"],
                                       P_base_kW=rec["P_base_kW"], C_kW=C, direction=direction)
        signals["ContSetP"] = -rec["P_set_kW"] / 1000.0
        signals["Pmin"] = np.full(t.shape, -dut.P_max_kW / 1000.0)
        signals["Pmax"] = np.full(t.shape, -dut.P_min_kW / 1000.0)
        if fcr.ler:
            signals["SOC"] = s["soc"][m]
        start_utc = sc.start + timedelta(seconds=st.offset_s)
        paths = verdicts.write_tso_files(out / "tso", sig, signals, t_s=t, start_utc=start_utc,
                                         resource=fcr.resource, area=fcr.area,
                                         timezone=fcr.timezone, overwrite=True)
        tso_paths += [p.relative_to(out).as_posix() for p in paths]
    overall = verdicts.combine(per_test)
    verdict_out: dict[str, Any] = {f"{product}.{k}": v for k, v in per_test.items()}
    verdict_out[product] = overall
    kpis = _kpis(s, dut, C, plan)
    meta["tso_files"] = tso_paths
    _write_json(out / "summary.json", {"kpis": kpis, "verdicts": verdict_out})
    if report:
        from scenarios.report import write_fcr_report

        write_fcr_report(out, product, direction, C, dut.P_base_kW, plan, records, per_test,
                         overall, kpis, meta)
    meta["finished_utc"] = datetime.now(UTC).isoformat()
    _write_json(out / "run.json", meta)
    return out


def _kpis(s: dict[str, np.ndarray], dut: DeviceUnderTest, C: float,
          plan: Sequence[ScheduledTest]) -> dict[str, float]:
    """Session figures: capacity, operating point, energy, device starts (all in the names)."""
    dt = np.diff(s["t_s"], append=s["t_s"][-1] + TIME_RESOLUTION_S)
    out = {"capacity_kW": C, "P_base_kW": dut.P_base_kW, "P_min_kW": dut.P_min_kW,
           "P_max_kW": dut.P_max_kW, "session_s": float(s["t_s"][-1] + TIME_RESOLUTION_S),
           "tests": float(len(plan)),
           "electricity_kWh": float(np.dot(s["P_kW"], dt)) / 3600.0,
           "mean_abs_deviation_from_setpoint_kW": float(np.mean(np.abs(s["P_kW"]
                                                                       - s["P_set_kW"])))}
    return out


def print_summary(out: Path) -> bool:
    """Print each requirement of the run folder's verdicts; return the overall pass."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    ok = True
    for name, v in summary["verdicts"].items():
        if "requirements" not in v:
            ok = bool(v["pass"])
            print(f"{'PASS' if v['pass'] else 'FAIL'}  {name} overall"
                  + (f" — failed: {', '.join(v['failed'])}" if v["failed"] else ""))
            continue
        for rname, r in v["requirements"].items():
            mark = "PASS" if r["pass"] else "FAIL"
            val = "–" if r["value"] is None else f"{r['value']:.4g}"
            print(f"{mark}  {name}.{rname}: {val} {r['comparison']} {r['limit']} "
                  f"({r['unit']}) — {r['detail']}")
    return ok


def _cmd_certify_fcr(args: Any) -> int:
    """``heatflex certify fcr``: exit 0 = pass, 1 = fail or crash, 2 = scenario/usage error."""
    import sys

    try:
        out = certify_fcr(args.scenario, args.product, args.test, args.out)
    except schema.ScenarioError as exc:
        for m in exc.messages:
            print(m, file=sys.stderr)
        return 2
    except CertifyError as exc:
        print(f"heatflex certify fcr: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"heatflex certify fcr: the session failed\n{exc}", file=sys.stderr)
        return 1
    passed = print_summary(out)
    print(f"run folder: {out}\nverdict: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def add_fcr_command(csub: Any) -> None:
    """Add ``fcr`` to the ``heatflex certify`` sub-command parser."""
    k = csub.add_parser("fcr", help="Nordic FCR-N / FCR-D prequalification test programme")
    k.add_argument("scenario", help="scenario (TOML path or bundled name) with the device")
    k.add_argument("--product", required=True, choices=list(prog.PRODUCTS))
    k.add_argument("--test", default="all", choices=[*prog.TESTS, "all"],
                   help="one test or all the reference defines for the product (default all)")
    k.add_argument("--out", type=Path, default=None, help="run folder (default runs/<run_id>)")
    k.set_defaults(func=_cmd_certify_fcr)

"""Generic FMU simulator (simulators/fmu.py) against small FMUs built from tests/fmus/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simulators import fmu as fmu_mod
from simulators.fmu import FmuError, FmuMapping, FmuUnits, check_fmu, inspect_fmu
from simulators.fmu_build import build_fmu

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests" / "fmus"

COUNTER_MAP = FmuMapping(
    inputs={"rate": "rate", "inc": "inc", "enable": "enable"},
    outputs={"level": "level", "count": "count", "events": "events", "high": "high"},
)


@pytest.fixture(scope="module")
def fmus(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fmus")
    built = {n: build_fmu(SRC / n, out_dir=out, shared=SRC / "common2")
             for n in ("counter2", "resources2")}
    built["gain3"] = build_fmu(SRC / "gain3", out_dir=out)
    # the file name differs from the modelIdentifier (cnt_core)
    built["counter"] = Path(shutil.copy(built["counter2"], out / "counter.fmu"))
    return built


def rezip(src: Path, dst: Path, drop: str | None = None,
          replace: dict[str, bytes] | None = None) -> Path:
    """Copy an FMU archive, leaving out entries starting with ``drop`` and replacing others."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            if drop and info.filename.startswith(drop):
                continue
            data = (replace or {}).get(info.filename, zi.read(info))
            zo.writestr(info, data)
    return dst


def md_of(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("modelDescription.xml").decode()


# --- FMI 2.0: counter2 ----------------------------------------------------------------------

def test_counter_integer_boolean_io_and_event_jump(fmus):
    u = FmuUnits(fmus["counter"], 3, COUNTER_MAP)  # file counter.fmu, modelIdentifier cnt_core
    assert u.step_s == 1.0  # DefaultExperiment stepSize
    init = u.initial_outputs()
    assert init["count"].dtype == np.int64 and init["high"].dtype == bool
    np.testing.assert_array_equal(init["level"], 0.0)
    rate = np.array([1.0, 2.0, 3.0])
    levels = []
    for _ in range(3):
        out = u.step(1.0, rate=rate, inc=2, enable=[True, False, True])
        levels.append(out["level"])
    # level integrates rate and falls back by threshold 5 at the (state) event inside a step
    t = 3.0
    expect = np.mod(rate * t, 5.0)
    np.testing.assert_allclose(out["level"], expect, atol=1e-12)
    np.testing.assert_array_equal(out["events"], np.floor(rate * t / 5.0).astype(int))
    np.testing.assert_array_equal(out["count"], [6, 0, 6])  # Integer input, Boolean enable
    np.testing.assert_array_equal(out["high"], expect >= 2.5)  # Boolean output
    # the jump: unit 2 (rate 3) went from 3 at t=1 to 1 at t=2 (6 - 5)
    assert levels[0][2] == pytest.approx(3.0) and levels[1][2] == pytest.approx(1.0)
    # fresh arrays: mutating a result does not change later ones
    out["level"][:] = -99.0
    again = u.step(1.0)
    assert np.all(again["level"] >= 0.0)
    # inputs not given keep their last value: count rose by inc = 2 for enabled units
    np.testing.assert_array_equal(again["count"], [8, 0, 8])
    u.terminate()


def test_counter_fixed_step_substeps_and_refuses_other_dt(fmus):
    u = FmuUnits(fmus["counter"], 1, COUNTER_MAP)
    out = u.step(3.0, inc=1)  # 3 doSteps of the FMU's 1 s step
    assert out["count"][0] == 3 and u.time == pytest.approx(3.0)
    with pytest.raises(FmuError, match="canHandleVariableCommunicationStepSize = false"):
        u.step(1.5)
    u2 = FmuUnits(fmus["counter"], 1, COUNTER_MAP, step_s=2.0)
    with pytest.raises(FmuError, match="not a multiple"):
        u2.step(3.0)


def test_counter_parameter_and_no_unit_passthrough(fmus):
    m = FmuMapping(inputs={"rate_kW": "rate"}, outputs={"level_kW": "level"},
                   parameters={"threshold": [2.0, 100.0]})
    u = FmuUnits(fmus["counter"], 2, m)
    out = u.step(1.0, rate_kW=1.5)  # no unit on the FMU side -> no conversion
    np.testing.assert_allclose(out["level_kW"], [1.5, 1.5])
    out = u.step(1.0)
    np.testing.assert_allclose(out["level_kW"], [1.0, 3.0])  # 3 - threshold 2 for unit 0


def test_counter_scale_offset(fmus):
    m = FmuMapping(inputs={"r": "rate"}, outputs={"lv": "level"},
                   scale={"r": 2.0, "lv": 10.0}, offset={"lv": 1.0})
    u = FmuUnits(fmus["counter"], 1, m)
    out = u.step(1.0, r=1.0)  # rate = 2, level = 2, reported 10 * 2 + 1
    assert out["lv"][0] == pytest.approx(21.0)


def test_do_step_error_carries_fmu_log(fmus):
    u = FmuUnits(fmus["counter"], 2, COUNTER_MAP)
    u.step(1.0)
    with pytest.raises(FmuError) as ei:
        u.step(1.0, inc=np.array([1, -1]))
    msg = str(ei.value)
    assert "counter.fmu" in msg and "returned Error" in msg and "t = 1 s" in msg
    assert "inc must be >= 0, got -1 at t=1" in msg  # the FMU's own (formatted) log message
    with pytest.raises(FmuError, match="after a failure"):
        u.step(1.0)
    u.terminate()


def test_do_step_discard(fmus):
    u = FmuUnits(fmus["counter"], 1, COUNTER_MAP)
    with pytest.raises(FmuError, match=r"returned Discard[\s\S]*rate 2000 too large"):
        u.step(1.0, rate=2000.0)


def test_type_mismatches(fmus):
    with pytest.raises(FmuError, match="type mismatch.*'high'.*Boolean"):
        FmuUnits(fmus["counter"], 1, FmuMapping(outputs={"h": "high"}, scale={"h": 2.0}))
    with pytest.raises(FmuError, match="type mismatch.*'P_kW'.*'count' is Integer"):
        FmuUnits(fmus["counter"], 1, FmuMapping(outputs={"P_kW": "count"}))
    u = FmuUnits(fmus["counter"], 1, COUNTER_MAP)
    with pytest.raises(FmuError, match="type mismatch.*'enable'.*Boolean"):
        u.step(1.0, enable=0.5)
    with pytest.raises(FmuError, match="type mismatch.*'inc'.*Integer"):
        u.step(1.0, inc=2.5)
    with pytest.raises(FmuError, match="type mismatch.*parameter 'threshold' is Real"):
        FmuUnits(fmus["counter"], 1, FmuMapping(parameters={"threshold": "high"}))
    with pytest.raises(FmuError, match="causality 'output'"):
        FmuUnits(fmus["counter"], 1, FmuMapping(inputs={"level": "level"}))


def test_unknown_variable_named(fmus):
    with pytest.raises(FmuError) as ei:
        FmuUnits(fmus["counter"], 1, FmuMapping(inputs={"rate": "Rate"}))
    msg = str(ei.value)
    assert "counter.fmu" in msg and "'Rate'" in msg and "attribute 'rate'" in msg
    assert "did you mean 'rate'" in msg
    with pytest.raises(FmuError, match="unknown input attribute 'bogus'"):
        FmuUnits(fmus["counter"], 1, COUNTER_MAP).step(1.0, bogus=1.0)


def test_missing_linux64_binary(fmus, tmp_path):
    broken = rezip(fmus["counter"], tmp_path / "nobin.fmu", drop="binaries/")
    with pytest.raises(FmuError) as ei:
        FmuUnits(broken, 1, COUNTER_MAP)
    msg = str(ei.value)
    assert "nobin.fmu" in msg and "binaries/linux64/cnt_core.so" in msg
    assert "C sources" in msg  # the archive ships sources: tell how to get a binary
    problems = check_fmu(broken)
    assert len(problems) == 1 and "no binary for this platform" in problems[0]


def test_model_exchange_only_refused(fmus, tmp_path):
    md = md_of(fmus["counter"]).replace(
        '<CoSimulation modelIdentifier="cnt_core" canHandleVariableCommunicationStepSize="false"/>',
        '<ModelExchange modelIdentifier="cnt_core"/>')
    me = rezip(fmus["counter"], tmp_path / "me.fmu", replace={"modelDescription.xml": md.encode()})
    with pytest.raises(FmuError, match="provides model exchange but not co-simulation"):
        FmuUnits(me, 1)


def test_one_extraction_shared(fmus, tmp_path):
    path = Path(shutil.copy(fmus["counter"], tmp_path / "shared.fmu"))
    before = len(fmu_mod.EXTRACTIONS)
    a = FmuUnits(path, 2, COUNTER_MAP)
    b = FmuUnits(path, 3, COUNTER_MAP, instance_name="fleet_b")
    assert len(fmu_mod.EXTRACTIONS) == before + 1 and a.unzip == b.unzip
    # instances are independent although they share the binary
    ra = a.step(1.0, rate=1.0)
    rb = b.step(1.0, rate=4.0)
    np.testing.assert_allclose(ra["level"], 1.0)
    np.testing.assert_allclose(rb["level"], 4.0)


# --- FMI 2.0: resources2 --------------------------------------------------------------------

def test_resources_file_and_unit_conversion(fmus):
    m = FmuMapping(inputs={"P_in_kW": "P_in", "T_in_C": "T_in"},
                   outputs={"P_out_kW": "P_out", "T_out_C": "T_out", "T_out_K": "T_out",
                            "P_out_W": "P_out", "gain": "gain"})
    u = FmuUnits(fmus["resources2"], 2, m, step_s=60.0)
    out = u.step(60.0, P_in_kW=np.array([1.0, 2.0]), T_in_C=20.0)
    np.testing.assert_allclose(out["gain"], 2.5)  # read from resources/data.txt
    np.testing.assert_allclose(out["P_out_kW"], [2.5, 5.0])  # kW -> W -> x2.5 -> kW
    np.testing.assert_allclose(out["P_out_W"], [2500.0, 5000.0])
    np.testing.assert_allclose(out["T_out_C"], 21.0)  # degC -> K (+1 K) -> degC
    np.testing.assert_allclose(out["T_out_K"], 294.15)
    out = u.step(90.0)  # variable step allowed: 60 s + 30 s
    assert u.time == pytest.approx(150.0)
    with pytest.raises(FmuError, match="unit mismatch.*'T_x_C'.*'P_in'"):
        FmuUnits(fmus["resources2"], 1, FmuMapping(inputs={"T_x_C": "P_in"}), step_s=60.0)


def test_resources_missing_file_reports_fmu_log(fmus, tmp_path):
    broken = rezip(fmus["resources2"], tmp_path / "nodata.fmu", drop="resources/")
    with pytest.raises(FmuError, match=r"fmiInstantiate failed[\s\S]*cannot open .*data.txt"):
        FmuUnits(broken, 1, step_s=60.0)


# --- FMI 3.0: gain3 -------------------------------------------------------------------------

def test_fmi3_scalars_run(fmus):
    m = FmuMapping(inputs={"u_K": "u"}, outputs={"y_C": "y", "s": "s", "n": "n", "pos": "pos"},
                   parameters={"k": [1.0, 3.0]})
    u = FmuUnits(fmus["gain3"], 2, m)
    assert u.step_s == 60.0
    out = u.step(60.0, u_K=np.array([283.15, 263.15]))  # 10 degC, -10 degC
    np.testing.assert_allclose(out["y_C"], [10.0, -30.0], atol=1e-9)
    np.testing.assert_allclose(out["s"], [60.0, -60.0], atol=1e-9)  # unmapped array: 1+2+3
    np.testing.assert_array_equal(out["pos"], [True, False])
    out = u.step(120.0)
    np.testing.assert_array_equal(out["n"], [3, 3])  # Int32 output: 1 + 2 sub-steps


def test_fmi3_array_refused(fmus):
    with pytest.raises(FmuError, match="'coeffs'.*array"):
        FmuUnits(fmus["gain3"], 1, FmuMapping(parameters={"coeffs": 1.0}))
    with pytest.raises(FmuError, match="'coeffs'.*attribute 'c'.*array"):
        FmuUnits(fmus["gain3"], 1, FmuMapping(outputs={"c": "coeffs"}))


def test_fmi3_clock_refused(fmus, tmp_path):
    md = md_of(fmus["gain3"]).replace(
        "</ModelVariables>",
        '<Clock name="tick" valueReference="9" causality="input" '
        'intervalVariability="triggered"/></ModelVariables>')
    clk = rezip(fmus["gain3"], tmp_path / "clock.fmu",
                replace={"modelDescription.xml": md.encode()})
    with pytest.raises(FmuError, match="clock 'tick'.*not supported"):
        FmuUnits(clk, 1)


# --- inspect / check / CLI --------------------------------------------------------------------

def test_inspect_and_check(fmus):
    text = inspect_fmu(fmus["counter"])
    assert "FMI 2.0" in text and "kinds: CS" in text and "cnt_core" in text
    assert "linux64" in text
    row = next(line.split() for line in text.splitlines() if line.split()[:1] == ["inc"])
    assert row == ["inc", "input", "discrete", "Integer", "-", "1"]
    t3 = inspect_fmu(fmus["gain3"])
    assert "FMI 3.0" in t3 and "x86_64-linux" in t3 and "Float64[3]" in t3 and "degC" in t3
    assert check_fmu(fmus["counter"]) == []
    assert check_fmu(fmus["gain3"]) == []


def test_cli_inspect_subprocess(fmus):
    res = subprocess.run([sys.executable, "-m", "scenarios.cli", "fmu", "inspect",
                          str(fmus["counter"])], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "cnt_core" in res.stdout and "enable" in res.stdout
    res = subprocess.run([sys.executable, "-m", "scenarios.cli", "fmu", "check",
                          str(fmus["counter"])], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0 and "ok" in res.stdout


# --- the n = 1 fast path ------------------------------------------------------------------------

REAL_FORMS = [float, int, np.float64, np.float32, lambda v: np.array([v]), lambda v: np.array(v),
              lambda v: [v], lambda v: np.array([v], dtype=np.float32),
              lambda v: np.array([v], dtype=np.int64)]
INT_FORMS = [int, np.int64, float, lambda v: np.array([v]), lambda v: np.array([v], np.int32),
             lambda v: [v]]
BOOL_FORMS = [bool, int, np.bool_, lambda v: np.array([v]), lambda v: np.array([int(v)])]


@pytest.mark.parametrize("k", range(max(len(REAL_FORMS), len(INT_FORMS), len(BOOL_FORMS))))
def test_single_instance_accepts_every_input_form_like_a_fleet(fmus, k):
    """n = 1 writes plain numbers straight into the FMU buffers; every form an input may take
    gives the same values as the general (fleet) path, with and without scale/offset."""
    rf, intf, bf = (REAL_FORMS[k % len(REAL_FORMS)], INT_FORMS[k % len(INT_FORMS)],
                    BOOL_FORMS[k % len(BOOL_FORMS)])
    for scale in (None, {"rate": 2.0}):
        m = FmuMapping(inputs={"rate": "rate", "inc": "inc", "enable": "enable"},
                       outputs={"level": "level", "count": "count", "high": "high"},
                       scale=scale or {}, offset={"rate": 0.25} if scale else {})
        one, two = FmuUnits(fmus["counter"], 1, m), FmuUnits(fmus["counter"], 2, m)
        for _ in range(2):
            a = one.step(1.0, rate=rf(1), inc=intf(3), enable=bf(True))
            b = two.step(1.0, rate=rf(1), inc=intf(3), enable=bf(True))
        for attr in a:
            assert a[attr].shape == (1,) and a[attr].dtype == b[attr].dtype
            np.testing.assert_array_equal(a[attr], b[attr][:1])
        level = 2 * (2.25 if scale else 1.0)
        np.testing.assert_allclose(a["level"], level)
        np.testing.assert_array_equal(a["count"], [6])
        a = one.step(1.0, enable=bf(False), inc=intf(1))
        np.testing.assert_array_equal(a["count"], [6])
        one.terminate()
        two.terminate()


def test_single_instance_still_validates_integer_and_boolean_inputs(fmus):
    u = FmuUnits(fmus["counter"], 1, COUNTER_MAP)
    with pytest.raises(FmuError, match="'inc' is Integer"):
        u.step(1.0, inc=2.5)
    with pytest.raises(FmuError, match="'enable' is Boolean"):
        u.step(1.0, enable=2)
    with pytest.raises(FmuError, match="'enable' is Boolean"):
        u.step(1.0, enable=np.array([3]))
    with pytest.raises(FmuError, match="unknown input attribute 'rat'"):
        u.step(1.0, rat=1.0)
    out = u.step(1.0, inc=np.int64(4), enable=np.array([1]))
    assert out["count"][0] == 4


def test_outputs_fresh_and_exact_with_mixed_conversions(fmus):
    """Several outputs of one kind come from one (k, n) block: fresh arrays, and unconverted
    outputs are bit-exact (including -0.0) next to converted ones."""
    m = FmuMapping(inputs={"rate": "rate"},
                   outputs={"level": "level", "lv2": "level", "lv_scaled": "level"},
                   scale={"lv_scaled": 10.0})
    for n in (1, 3):
        u = FmuUnits(fmus["counter"], n, m)
        u._out["r"][:] = -0.0  # as if the FMU had returned -0.0
        out = u._outputs()
        assert np.signbit(out["level"]).all() and np.signbit(out["lv2"]).all()
        assert not np.signbit(out["lv_scaled"]).any()  # -0.0 * 10 + 0.0, as numpy computes it
        out = u.step(1.0, rate=0.0)
        out = u.step(1.0, rate=0.25)
        np.testing.assert_array_equal(out["level"], 0.25)
        np.testing.assert_array_equal(out["lv_scaled"], 2.5)
        out["level"][:] = 7.0
        assert out["lv2"][0] == 0.25
        again = u.step(1.0)
        np.testing.assert_array_equal(again["level"], 0.5)
        u.terminate()


# --- two bundled heat-pump FMUs in one mosaik world ---------------------------------------------

class _Inputs:
    """Boundary core: heat-pump inputs per 60-s step from precomputed arrays."""

    needs_time = True

    def __init__(self, profile: dict[str, np.ndarray]):
        self.profile = profile

    def step(self, dt_s: float, t_s: float) -> dict:
        k = int(round(t_s / 60.0))
        return {a: (np.array([v[k]]) if a in ("Q_req_kW", "dhw_mode", "sg_ready_state")
                    else float(v[k])) for a, v in self.profile.items()}


class _Recorded:
    """Keeps every step's outputs of the wrapped core."""

    def __init__(self, core):
        self.core, self.rows = core, []

    def step(self, dt_s: float, **inputs):
        out = self.core.step(dt_s, **inputs)
        self.rows.append({a: np.copy(v) for a, v in out.items()})
        return out


def test_two_heatpump_fmus_in_one_world_match_their_native_twins(tmp_path):
    """Two instances of the bundled heat-pump FMU (one shared binary) with different
    parameters, stepped by mosaik side by side: each equals the native model with its own
    parameters (added dynamics off: the twin mode), and they differ from each other."""
    import mosaik
    from loguru import logger

    from scenarios.world import HEATPUMP_IN, HEATPUMP_OUT
    from simulators.heatpump import HeatPump, HeatPumpParams
    from simulators.heatpump_fmu import NATIVE_TO_FMU, heatpump_fmu_parameters, heatpump_fmu_path

    logger.remove()
    path = heatpump_fmu_path(out_dir=tmp_path / "cache")
    steps = 240
    k = np.arange(steps)
    t_out = 3.0 - 8.0 * np.sin(2 * np.pi * k / steps)
    profile = {
        "Q_req_kW": np.where(k % 60 < 45, 2.0 + 7.0 * (k % 60) / 45.0, 0.0),
        "T_out_C": t_out, "T_out_24h_C": t_out + 1.0, "T_out_168h_C": np.full(steps, 2.0),
        "dhw_mode": (k % 80) >= 70, "sg_ready_state": np.where(k % 100 >= 90, 1, 2),
    }
    params = {"a": HeatPumpParams(source="ground", Q_rated_kW=6.0, min_on_s=300.0, year=2025),
              "b": HeatPumpParams(source="air", Q_rated_kW=10.0, min_on_s=600.0,
                                  modulation_min_frac=0.5, year=2030)}
    world = mosaik.World({"Core": {"python": "simulators.cosim.base:CoreSim"}},
                         time_resolution=1.0, debug=False, cache=False, skip_greetings=True)
    src_sim = world.start("Core", sim_id="Src", model="Src", inputs=[],
                          outputs=list(profile), step_size=60)
    src = src_sim.Src.create(1, core=_Inputs(profile), eid="src")[0]
    hp_sim = world.start("Core", sim_id="HeatPump", model="HP", inputs=HEATPUMP_IN,
                         outputs=HEATPUMP_OUT, step_size=60)
    mapping = {"inputs": {a: NATIVE_TO_FMU[a][0] for a in HEATPUMP_IN},
               "outputs": {a: NATIVE_TO_FMU[a][0] for a in HEATPUMP_OUT}}
    units, rec = {}, {}
    for name, p in params.items():
        units[name] = FmuUnits(path, 1, {**mapping, "parameters": heatpump_fmu_parameters(
            p, dynamics=False)}, step_s=60.0, instance_name=f"hp_{name}")
        rec[name] = _Recorded(units[name])
        ent = hp_sim.HP.create(1, core=rec[name], eid=f"hp_{name}")[0]
        world.connect(src, ent, *HEATPUMP_IN)
    world.run(until=steps * 60, print_progress=False)
    assert units["a"].unzip == units["b"].unzip  # one extraction, one loaded binary
    for name, p in params.items():
        assert len(rec[name].rows) == steps
        native = HeatPump(p)
        for i, row in enumerate(rec[name].rows):
            exp = native.step(60.0, profile["Q_req_kW"][i], profile["T_out_C"][i],
                              profile["T_out_24h_C"][i], profile["T_out_168h_C"][i],
                              dhw_mode=bool(profile["dhw_mode"][i]),
                              sg_ready_state=int(profile["sg_ready_state"][i]))
            for attr in HEATPUMP_OUT:
                np.testing.assert_allclose(np.asarray(row[attr], float),
                                           np.asarray(exp[attr], float), rtol=1e-9, atol=1e-6,
                                           err_msg=f"hp_{name} {attr} step {i}")
        units[name].terminate()
    p_el = {n: np.array([r["P_el_kW"][0] for r in rec[n].rows]) for n in rec}
    starts = {n: rec[n].rows[-1]["starts"][0] for n in rec}
    assert p_el["a"].sum() > 0 and p_el["b"].sum() > 0
    assert np.abs(p_el["a"] - p_el["b"]).max() > 0.5  # kW: the parameters matter
    assert starts["a"] != starts["b"] or not np.allclose(p_el["a"], p_el["b"])

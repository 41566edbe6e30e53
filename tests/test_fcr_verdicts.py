"""FCR prequalification programme and verdicts against small numpy provider models.

Providers (consumption positive, P = P_base − C·activation): ideal linear droop, first-order lag
(bilinear discretisation, exact enough for sampled sines), pure dead time, a static relay.
Reference numbers: standards-grid-markets-certification.md §1.
"""

from __future__ import annotations

import cmath
import math
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.signal import lfilter, lfilter_zi

from scenarios.verdicts.fcr import (
    EvalOptions,
    combine,
    evaluate,
    grid_model,
    stability_distance,
    tso_signals,
    write_tso_csv,
    write_tso_files,
)
from simulators.fcr_programme import (
    SINE_PERIODS,
    TestSignal,
    activation_frac,
    linearity_levels,
    programme,
)

C_KW = 6.0
BASE_KW = 9.0


def _lag(x: np.ndarray, T_s: float, dt_s: float) -> np.ndarray:
    """First-order lag 1/(T s + 1), bilinear (Tustin) discretisation, started in steady state."""
    k = dt_s / (2.0 * T_s)
    b = np.array([k, k]) / (1.0 + k)
    a = np.array([1.0, (k - 1.0) / (1.0 + k)])
    return lfilter(b, a, x, zi=lfilter_zi(b, a) * x[0])[0]


def _provider(sig: TestSignal, *, T_s: float = 0.0, dead_s: float = 0.0,
              gain: float = 1.0) -> np.ndarray:
    """Consumption, kW, of a linear droop provider with optional lag and dead time."""
    d = sig.direction if sig.direction != "both" else "up"
    act = gain * activation_frac(sig.product, sig.f_Hz, d)
    if T_s > 0:
        act = _lag(act, T_s, sig.dt_s)
    n = int(round(dead_s / sig.dt_s))
    if n:
        act = np.concatenate([np.full(n, act[0]), act[:-n]])
    return BASE_KW - C_KW * act


def _run(sig: TestSignal, P: np.ndarray, **kw: object) -> dict:
    return evaluate(sig, sig.t_s, sig.f_Hz, P, BASE_KW, C_KW, **kw)


# --- programme -------------------------------------------------------------------------------


def test_fcrn_step_sequence_matches_table_3():
    sig = programme("fcr-n", "step")
    starts = [(s.name, s.t0_s, s.f_Hz) for s in sig.segments]
    assert starts == [("start", 0, 50.0), ("pre_step", 30, 49.95), ("step0", 60, 50.0),
                      ("step1", 360, 49.9), ("step2", 660, 50.1), ("step3", 960, 50.0)]
    assert sig.duration_s == 1260.0  # "end" at 21 min
    end = programme("fcr-n", "step", endurance=True)
    assert [s.t0_s for s in end.segments[3:]] == [360, 1260, 2160]  # 6, 21, 36 min
    assert end.duration_s == 2460.0  # 41 min
    assert sig.f_Hz[int(round(400 / sig.dt_s))] == pytest.approx(49.9)


def test_fcrd_ramp_sequence_matches_table_4():
    sig = programme("fcr-d-up", "ramp", combined_fcr_n=True)
    seg = {s.name: s for s in sig.segments}
    table = {  # start, rate, target (up)
        "ramp1": (30, 0.14, 49.45), "ramp2": (34.9, 0.09, 49.90), "ramp3": (90, 0.24, 49.50),
        "ramp4": (390, 0.24, 49.90), "ramp5": (690, 0.24, 49.00), "ramp6": (750, 0.24, 50.00),
        "ramp7": (1050, 0.24, 49.70), "ramp8": (1350, 0.24, 49.89)}
    for name, (t0, rate, target) in table.items():
        s = seg[name]
        assert s.t0_s == pytest.approx(t0) and s.f_Hz == pytest.approx(target)
        assert abs(s.f_Hz - s.f_start_Hz) / (s.ramp_end_s - s.t0_s) == pytest.approx(rate)
    assert seg["ramp5"].ramp_end_s == pytest.approx(693.8, abs=0.05)
    assert seg["ramp6"].ramp_end_s == pytest.approx(754.2, abs=0.05)
    down = programme("fcr-d-down", "ramp")
    assert [s.f_Hz for s in down.segments] == pytest.approx(
        [50.1, 50.55, 50.1, 50.5, 50.1, 51.0, 50.0])
    assert programme("fcr-d-up", "ramp", endurance=True).segment("ramp4").t0_s == 990.0


def test_sine_linearity_ler_and_static_sequences():
    n = programme("fcr-n", "sine")
    sines = [s for s in n.segments if s.kind == "sine"]
    assert [(s.period_s, round((s.t1_s - s.t0_s) / s.period_s)) for s in sines] == [
        (T, total) for T, _, total in SINE_PERIODS]
    assert all(s.f_Hz == 50.0 and s.amplitude_Hz == 0.1 for s in sines)
    d = programme("fcr-d-up", "sine")
    assert [s.period_s for s in d.segments if s.kind == "sine"] == [10, 15, 25, 40, 50, 60, 70]
    assert np.max(d.f_Hz) == pytest.approx(49.8) and np.min(d.f_Hz) == pytest.approx(49.6)
    lev = linearity_levels("fcr-n")
    assert len(lev) - 1 == 20 and min(lev) == 49.9 and max(lev) == 50.1
    assert np.allclose(np.abs(np.diff(lev)), 0.02)
    assert linearity_levels("fcr-d-static", "down") == [50.1, 50.2, 50.3, 50.4, 50.5, 50.09]
    ler = programme("fcr-n", "ler")
    assert [s.f_Hz for s in ler.segments] == [50.0, 50.09, 50.11, 50.09, 50.11, 50.09, 49.91,
                                              49.89, 49.91, 49.89, 49.91, 50.0]
    st = programme("fcr-d-static", "ramp")
    assert [s.f_Hz for s in st.segments] == [49.9, 49.5, 49.9]
    assert st.segment("ramp1").t0_s == 180.0


@pytest.mark.parametrize("kw, match", [
    (dict(product="fcr-x", test="step"), "product='fcr-x'"),
    (dict(product="fcr-n", test="ramp"), "not defined for product='fcr-n'"),
    (dict(product="fcr-d-static", test="sine"), "not defined"),
    (dict(product="fcr-n", test="step", dt_s=0), "dt_s=0"),
    (dict(product="fcr-n", test="sine", sine_periods=[11]), r"\[11\] not in"),
])
def test_programme_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        programme(**kw)


# --- FCR-N ---------------------------------------------------------------------------------


def test_ideal_fcrn_provider_passes_every_fcrn_test():
    for test, kw in (("step", {}), ("step", {"endurance": True}), ("linearity", {}),
                     ("sine", {})):
        sig = programme("fcr-n", test, **kw)
        v = _run(sig, _provider(sig))
        assert v["pass"], (test, v["failed"])
    step = _run(sig := programme("fcr-n", "step"), _provider(sig))
    for name in ("req1_up_steady_state", "req1_down_steady_state"):
        assert step["requirements"][name]["value"] == pytest.approx(0.0, abs=1e-9)
    sine = _run(sig := programme("fcr-n", "sine"), _provider(sig))
    r = sine["requirements"]
    assert r["req8_stability"]["value"] > 0.43 * 0.95
    assert r["req8_stability"]["limit"] == pytest.approx(0.4085)
    assert r["req9_performance"]["value"] < 1.0
    assert r["req10_dynamic_linearity"]["value"] < 1e-6
    assert all(row["gain"] == pytest.approx(1.0, abs=1e-6) for row in sine["sine"])


def test_fcrn_steady_state_bands_fail_outside():
    sig = programme("fcr-n", "step")
    under = _run(sig, _provider(sig, gain=0.93))  # 7 % under-delivery, limit 5 %
    assert under["failed"] == ["req1_up_steady_state", "req1_down_steady_state"]
    assert under["requirements"]["req1_up_steady_state"]["value"] == pytest.approx(-0.07)
    assert _run(sig, _provider(sig, gain=1.19))["pass"]  # 19 % over-delivery is allowed
    reduced = _run(sig, _provider(sig, gain=0.93), options=EvalOptions(allow_reduction=True))
    assert reduced["pass"] and reduced["K_red"] == pytest.approx(0.93 / 0.95)
    assert reduced["qualified_capacity_kW"] == pytest.approx(C_KW * 0.93 / 0.95)
    assert not _run(sig, _provider(sig, gain=0.8),
                    options=EvalOptions(allow_reduction=True))["pass"]  # K_red 0.84 < 0.9


def test_ten_second_dead_time_fails_stability():
    sig = programme("fcr-n", "sine")
    v = _run(sig, _provider(sig, dead_s=10.0))
    req = v["requirements"]["req8_stability"]
    assert not req["pass"] and "req8_stability" in v["failed"]
    assert req["value"] < 0 and "LEFT of −1" in req["detail"]
    # the dead time is recovered as phase: −360°·10/T (at T = 40 s: −90°)
    row = next(r for r in v["sine"] if r["period_s"] == 40)
    assert row["phase_deg"] == pytest.approx(-90.0, abs=0.5)


def test_sine_analysis_recovers_first_order_gain_and_phase():
    T = 5.0
    sig = programme("fcr-n", "sine")
    v = _run(sig, _provider(sig, T_s=T))
    assert len(v["sine"]) == len(SINE_PERIODS)
    for row in v["sine"]:
        w = 2 * math.pi / row["period_s"]
        exact = 1.0 / (1.0 + 1j * w * T)
        assert row["gain"] == pytest.approx(abs(exact), rel=0.02)
        assert row["phase_deg"] == pytest.approx(math.degrees(cmath.phase(exact)), abs=2.0)
    # internal frequency signal: F is multiplied by F_FME = 1/(T_FME s + 1)
    fme = _run(sig, _provider(sig, T_s=T), options=EvalOptions(T_FME_s=1.0))
    row = next(r for r in fme["sine"] if r["period_s"] == 10)
    exact = 1.0 / ((1.0 + 1j * 2 * math.pi / 10 * T) * (1.0 + 1j * 2 * math.pi / 10))
    assert row["gain"] == pytest.approx(abs(exact), rel=0.02)
    assert row["phase_deg"] == pytest.approx(math.degrees(cmath.phase(exact)), abs=2.0)


def test_grid_model_and_nyquist_distance():
    # Eq. 11, FCR-N stability case at ω → 0: (600/0.1)·(50/23000)/(0.01·50) = 26.09
    assert abs(grid_model("fcr-n", "stability", 0.0)) == pytest.approx(26.087, rel=1e-4)
    assert abs(grid_model("fcr-d", "performance", 0.0)) == pytest.approx(
        1450 / 0.4 * 50 / 42000 / 0.5, rel=1e-9)
    d, left = stability_distance([2 - 1j, -0.5 - 0.5j])
    assert not left and d == pytest.approx(math.hypot(0.5, 0.5), rel=1e-9)
    d, left = stability_distance([1 - 1j, -3 - 1j, -3 + 1j])
    assert left


def test_relay_fcrn_unit_fails_linearity_band():
    sig = programme("fcr-n", "linearity")
    P = BASE_KW - C_KW * np.round(activation_frac("fcr-n", sig.f_Hz))  # 3-state relay
    v = _run(sig, P)
    assert v["failed"] == ["linearity_band"]
    # worst at 49.96 / 50.04 Hz: ±40 % theoretical, the relay gives 0 %, corner line at ±35 %
    req = v["requirements"]["linearity_band"]
    assert req["value"] == pytest.approx(-0.35, abs=1e-6)
    assert "49.96 Hz" in req["detail"] or "50.04 Hz" in req["detail"]


# --- FCR-D ---------------------------------------------------------------------------------


@pytest.mark.parametrize("product", ["fcr-d-up", "fcr-d-down"])
def test_fast_fcrd_provider_passes_ramp_and_sine(product):
    for test in ("ramp", "sine"):
        sig = programme(product, test)
        v = _run(sig, _provider(sig, T_s=1.0))
        assert v["pass"], (test, v["failed"])
    sig = programme(product, "ramp")
    r = _run(sig, _provider(sig))["requirements"]
    # ideal: 49.9→49.5 Hz in 1/0.6 s, then full: E = (7.5 − 1.667/2) s·ΔP_theo
    assert r["req3_energy_7_5s"]["value"] == pytest.approx(7.5 - 0.4 / 0.24 / 2, abs=0.02)
    assert r["req2_activation_7_5s"]["value"] == pytest.approx(1.0, abs=1e-9)


def test_too_slow_fcrd_provider_fails_dp_7_5s_with_measured_value():
    sig = programme("fcr-d-up", "ramp")
    v = _run(sig, _provider(sig, T_s=10.0))
    assert not v["pass"]
    assert {"req2_activation_7_5s", "req3_energy_7_5s"} <= set(v["failed"])
    req = v["requirements"]["req2_activation_7_5s"]
    assert req["limit"] == 0.86 and req["value"] < 0.86
    assert f"{req['value']:.3f}·ΔP_theo" in req["detail"]
    # analytic: 1 − exp(−(7.5 − t_d)/10) with the ramp ≈ a 0.83 s delay → ≈ 0.49
    assert req["value"] == pytest.approx(0.49, abs=0.02)


def test_fcrd_slow_deactivation_fails_req4():
    sig = programme("fcr-d-up", "ramp")
    act = activation_frac("fcr-d-up", sig.f_Hz)
    hold = act.copy()
    m = (sig.t_s >= 34.9) & (sig.t_s < 60.0)
    hold[m] = 1.0  # keeps full activation 25 s after the frequency recovered
    v = _run(sig, BASE_KW - C_KW * hold)
    assert "req4_deactivation" in v["failed"]
    assert v["requirements"]["req4_deactivation"]["value"] > 2.5


def test_fcrd_combined_ramps_and_reduction():
    sig = programme("fcr-d-up", "ramp", combined_fcr_n=True)
    cn = 2.0
    P = _provider(sig) - cn * activation_frac("fcr-n", sig.f_Hz)
    v = evaluate(sig, sig.t_s, sig.f_Hz, P, BASE_KW, C_KW, C_fcrn_kW=cn)
    assert v["pass"], v["failed"]
    assert v["requirements"]["req1b_combination_ramp7"]["value"] == pytest.approx(0, abs=1e-9)
    with pytest.raises(ValueError, match="C_fcrn_kW"):
        evaluate(sig, sig.t_s, sig.f_Hz, P, BASE_KW, C_KW)
    plain = programme("fcr-d-up", "ramp")
    weak = _provider(plain, gain=0.8)  # 80 % of the offered capacity
    assert not _run(plain, weak)["pass"]
    red = _run(plain, weak, options=EvalOptions(allow_reduction=True))
    assert red["pass"] and red["K_red"] == pytest.approx(0.8 / 0.95)


def _static_relay(sig: TestSignal, on_Hz: float = 49.7, rate_per_s: float = 0.02) -> np.ndarray:
    """Static FCR-D up unit: full activation once f ≤ on_Hz; after 60 s with f ≥ 49.9 Hz it
    deactivates at ``rate_per_s`` of its capacity."""
    act = np.zeros_like(sig.f_Hz)
    a, since = 0.0, None
    for i, f in enumerate(sig.f_Hz):
        if f <= on_Hz:
            a, since = 1.0, None
        elif f >= 49.9 - 1e-6 and a > 0:
            since = sig.t_s[i] if since is None else since
            if sig.t_s[i] - since >= 60.0:
                a = max(0.0, a - rate_per_s * sig.dt_s)
        act[i] = a
    return BASE_KW - C_KW * act


def test_static_fcrd_relay_passes_and_fast_deactivation_fails_rate_limits():
    sig = programme("fcr-d-static", "ramp")
    v = _run(sig, _static_relay(sig))
    assert v["pass"], v["failed"]
    r = v["requirements"]
    # |ΔP| ≤ 5 % of ΔP_theo after 0.95/(0.02 /s) = 47.5 s of deactivation
    assert r["req6_deactivation_time"]["value"] == pytest.approx(47.5, abs=0.2)
    assert r["req7_rate_10s"]["value"] == pytest.approx(0.02, abs=1e-6)
    assert r["req5b_response_start"]["value"] == pytest.approx(0.2 / 0.24, abs=0.11)
    fast = _run(sig, _static_relay(sig, rate_per_s=0.5))
    assert set(fast["failed"]) == {"req7_rate_10s", "req7_step_1s"}
    late = _run(sig, _static_relay(sig, on_Hz=49.5))  # relay at 49.5 Hz: 1.67 s, still < 2.5 s
    assert late["requirements"]["req5b_response_start"]["pass"]
    lin = programme("fcr-d-static", "linearity")
    assert _run(lin, _provider(lin))["pass"]
    lv = _run(lin, _static_relay(lin))
    assert "linearity_band" in lv["failed"]


def test_ler_verdict_uses_nem_aem_signals():
    sig = programme("fcr-d-up", "ler")
    P = _provider(sig)
    nem = (sig.t_s >= 630) & (sig.t_s < 780)  # during the 2.5 min step at 49.91 Hz
    aem = (sig.t_s >= 1500) & (sig.t_s < 1680)
    v = _run(sig, P, nem_active=nem, aem_active=aem)
    assert v["pass"], v["failed"]
    bad = nem | ((sig.t_s >= 100) & (sig.t_s < 110))  # NEM during full activation at 49.5 Hz
    v = _run(sig, P, nem_active=bad, aem_active=aem)
    assert v["failed"] == ["ler_nem_only_in_normal_band"]
    assert v["requirements"]["ler_nem_only_in_normal_band"]["value"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="nem_active"):
        _run(sig, P)
    total = combine({"ramp": _run(p := programme("fcr-d-up", "ramp"), _provider(p)), "ler": v})
    assert not total["pass"] and total["failed"] == ["ler.ler_nem_only_in_normal_band"]


# --- TSO CSV files -------------------------------------------------------------------------

_NAME = re.compile(r"^(?P<res>[A-Za-z0-9-]+)_(?P<svc>Fcrn|FcrdUp|FcrdDo)_(?P<test>[A-Za-z]+)_"
                   r"(?P<area>[A-Z0-9]+)_(?P<tz>UTC|CET)_(?P<i0>\d{8}T\d{4})-(?P<i1>\d{8}T\d{4})_"
                   r"(?P<ms>\d+)ms\.csv$")


def _read(path) -> tuple[list[str], list[datetime], np.ndarray]:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.decode("ascii").split("\r\n")[:-1]
    header = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:]]
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{3}", r[0]) for r in rows)
    stamps = [datetime.strptime(r[0], "%Y%m%dT%H%M%S.%f") for r in rows]
    return header, stamps, np.array([[float(x) for x in r[1:]] for r in rows])


def test_tso_csv_format_round_trip(tmp_path):
    start = datetime(2025, 3, 28, 9, 15, 0, tzinfo=UTC)
    sig = programme("fcr-n", "step")
    P = _provider(sig)
    sigs = tso_signals("fcr-n", f_applied_Hz=sig.f_Hz, P_kW=P, P_base_kW=BASE_KW, C_kW=C_KW)
    path = write_tso_csv(tmp_path, sigs, t_s=sig.t_s, start_utc=start, resource="HP01",
                         product="fcr-n", test_type="Step", sampling_period_s=0.2)
    m = _NAME.match(path.name)
    assert m and m["svc"] == "Fcrn" and m["test"] == "Step" and m["area"] == "DK2"
    assert m["tz"] == "UTC" and m["ms"] == "200"
    assert (m["i0"], m["i1"]) == ("20250328T0915", "20250328T0936")  # 1260 s = 21 min
    header, stamps, data = _read(path)
    assert header == ["DateTime", "InsAcPow", "GridFreq", "ApplFreqSig", "CalcBaseline",
                      "Activated_Fcrn", "Cap_Fcrn"]
    assert len(stamps) == 1260 / 0.2
    assert stamps[0] == datetime(2025, 3, 28, 9, 15, 0)
    assert {(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)} == {0.2}
    k = int(round(400 / sig.dt_s))  # step 1 at 49.9 Hz: consumption 3 kW = −0.003 MW absorbed
    row = data[int(round(400 / 0.2))]
    assert row[0] == pytest.approx(-P[k] / 1000) and row[0] == pytest.approx(-0.003)
    assert row[2] == pytest.approx(49.9) and row[4] == pytest.approx(0.006)
    # FCR-D at 10 Hz, CET, and the rate rule
    d = programme("fcr-d-down", "ramp")
    sd = tso_signals("fcr-d-down", f_applied_Hz=d.f_Hz, P_kW=_provider(d))
    p2 = write_tso_csv(tmp_path, sd, t_s=d.t_s, start_utc=start, resource="HP01",
                       product="fcr-d-down", test_type="Ramp", timezone="CET")
    m2 = _NAME.match(p2.name)
    assert m2 and m2["svc"] == "FcrdDo" and m2["tz"] == "CET" and m2["ms"] == "100"
    assert _read(p2)[1][0] == datetime(2025, 3, 28, 10, 15, 0)
    with pytest.raises(ValueError, match="too slow for FcrdDo"):
        write_tso_csv(tmp_path, sd, t_s=d.t_s, start_utc=start, resource="HP01",
                      product="fcr-d-down", test_type="Ramp", sampling_period_s=0.2)
    with pytest.raises(ValueError, match="too slow for Fcrn"):
        write_tso_csv(tmp_path, sigs, t_s=sig.t_s, start_utc=start, resource="HP01",
                      product="fcr-n", test_type="Step", sampling_period_s=0.5)
    with pytest.raises(ValueError, match="not TSO headers"):
        write_tso_csv(tmp_path, {**sigs, "Power": P}, t_s=sig.t_s, start_utc=start,
                      resource="HP01", product="fcr-n", test_type="Step")
    with pytest.raises(FileExistsError):
        write_tso_csv(tmp_path, sigs, t_s=sig.t_s, start_utc=start, resource="HP01",
                      product="fcr-n", test_type="Step", sampling_period_s=0.2)


def test_tso_sine_files_one_per_period(tmp_path):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    sig = programme("fcr-n", "sine", sine_periods=[40, 300])
    sigs = tso_signals("fcr-n", f_applied_Hz=sig.f_Hz, P_kW=_provider(sig))
    paths = write_tso_files(tmp_path, sig, sigs, t_s=sig.t_s, start_utc=start, resource="Pool7")
    assert len(paths) == 2
    for path, T in zip(paths, (40, 300), strict=True):
        assert _NAME.match(path.name)["test"] == "Sine"
        header, stamps, data = _read(path)
        assert header == [f"DateTime{T}", f"InsAcPow{T}", f"GridFreq{T}", f"ApplFreqSig{T}"]
        n_total = {40: 7, 300: 3}[T]
        assert len(stamps) == round(n_total * T / 0.1)
        assert data[:, 2].max() == pytest.approx(50.1, abs=1e-6)

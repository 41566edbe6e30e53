"""Tests of the Nordic grid-frequency core (dynamic swing model, profile replay, CSV readers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulators.frequency import (
    CALIBRATION_TARGET,
    PERFORMANCE_CASE,
    STABILITY_CASE,
    FrequencyProfile,
    NordicFrequency,
    fcr_activation,
    frequency_statistics,
    read_frequency_csv,
)

F0 = 50.0


def _run(model: NordicFrequency, seconds: float, dt: float = 0.1, **inputs) -> list[dict]:
    return [model.step(dt, **inputs) for _ in range(int(round(seconds / dt)))]


# ------------------------------------------------------------------------------------------------
# Dynamic model: analytic checks (noise off)
# ------------------------------------------------------------------------------------------------


def test_initial_rocof_after_dimensioning_incident_stability_case():
    dP, E_k = 1450.0, STABILITY_CASE["E_k_MWs"]
    m = NordicFrequency(**STABILITY_CASE, noise=False, incidents=[(1.0, dP)])
    out = _run(m, 1.2)
    before, first = out[9], out[10]  # step 10 covers t = 1.0 .. 1.1 s
    analytic = dP * F0 / (2.0 * E_k)  # 0.302 Hz/s
    assert analytic == pytest.approx(0.30, abs=0.005)
    assert before["rocof_Hz_per_s"] == 0.0
    assert -first["rocof_Hz_per_s"] == pytest.approx(analytic, rel=0.05)
    assert first["imbalance_MW"] == -dP


def test_steady_state_in_fcr_n_band_equals_dp_over_regulating_strength():
    # 400 MW < (600 MW/0.1 Hz + 420 MW/Hz)·0.1 Hz = 642 MW: the steady state lies inside the
    # FCR-N linear band, where the FCR regulating strength is 600 MW / 0.1 Hz = 6000 MW/Hz and
    # FCR-D is not active (transient FCR-D activation during the dip leaves no steady-state trace).
    dP = 400.0
    m = NordicFrequency(**PERFORMANCE_CASE, noise=False, incidents=[(1.0, dP)])
    out = _run(m, 600.0)
    R = 600.0 / 0.1
    D = 0.01 * PERFORMANCE_CASE["S_n_MW"]
    assert m.regulating_strength_MW_per_Hz(-0.05) == pytest.approx(R)
    df_expected = -dP / (R + D)
    assert out[-1]["f_Hz"] - F0 == pytest.approx(df_expected, rel=0.01)
    assert out[-1]["P_fcr_n_MW"] == pytest.approx(-R * df_expected, rel=0.01)
    assert out[-1]["fcr_d_up_activation_frac"] == 0.0


def test_steady_state_in_fcr_d_band_stability_case():
    # 1450 MW lands between 49.9 and 49.5 Hz: FCR-N is saturated at 600 MW and FCR-D adds
    # 1450 MW / 0.4 Hz beyond 0.1 Hz.  In this linear region the balance is
    # dP = 600 + R_D·(|Δf| − 0.1) + D·|Δf|  →  |Δf| = (dP − 600 + 0.1·R_D) / (R_D + D).
    dP = 1450.0
    m = NordicFrequency(**STABILITY_CASE, noise=False, incidents=[(0.0, dP)])
    out = _run(m, 600.0)
    R_D = 1450.0 / 0.4
    D = 0.01 * STABILITY_CASE["S_n_MW"]
    df_expected = -(dP - 600.0 + 0.1 * R_D) / (R_D + D)
    assert m.regulating_strength_MW_per_Hz(df_expected) == pytest.approx(R_D)
    assert out[-1]["f_Hz"] - F0 == pytest.approx(df_expected, rel=0.01)
    assert out[-1]["fcr_n_activation_frac"] == 1.0
    assert out[-1]["fcr_d_up_activation_frac"] == pytest.approx((-df_expected - 0.1) / 0.4,
                                                                rel=0.01)


def test_heat_pump_response_raises_frequency_by_analytic_amount():
    dP, p_hp = 400.0, 100.0
    base = _run(NordicFrequency(noise=False, incidents=[(1.0, dP)]), 600.0)
    helped = _run(NordicFrequency(noise=False, incidents=[(1.0, dP)]), 600.0,
                  P_hp_response_MW=p_hp)
    R_plus_D = 600.0 / 0.1 + 0.01 * PERFORMANCE_CASE["S_n_MW"]
    lift = helped[-1]["f_Hz"] - base[-1]["f_Hz"]
    assert lift > 0.0  # fleet consumes less → frequency rises
    assert lift == pytest.approx(p_hp / R_plus_D, rel=0.01)
    # an array of per-unit contributions is summed
    arr = _run(NordicFrequency(noise=False, incidents=[(1.0, dP)]), 600.0,
               P_hp_response_MW=np.full(4, p_hp / 4))
    assert arr[-1]["f_Hz"] == pytest.approx(helped[-1]["f_Hz"], abs=1e-12)


def test_sub_stepping_matches_fine_steps():
    a = NordicFrequency(seed=3, incidents=[(20.0, 1000.0)])
    b = NordicFrequency(seed=3, incidents=[(20.0, 1000.0)])
    fine = _run(a, 60.0, dt=0.1)
    coarse = _run(b, 60.0, dt=1.0)
    assert coarse[-1]["f_Hz"] == pytest.approx(fine[-1]["f_Hz"], abs=1e-9)
    assert coarse[30]["f_Hz"] == pytest.approx(fine[309]["f_Hz"], abs=1e-9)


# ------------------------------------------------------------------------------------------------
# Dynamic model: noise calibration and seeds
# ------------------------------------------------------------------------------------------------


def test_noise_statistics_within_calibration_band_over_six_hours():
    m = NordicFrequency(seed=0)
    n = 6 * 36_000
    f = np.empty(n)
    step = m.step
    for i in range(n):
        f[i] = step(0.1)["f_Hz"]
    stats = frequency_statistics(f[6000:])  # drop the first 10 min (noise starts at zero)
    lo, hi = CALIBRATION_TARGET["std_f_Hz"]
    assert lo <= stats["std_f_Hz"] <= hi
    lo, hi = CALIBRATION_TARGET["share_outside_normal_band"]
    assert lo <= stats["share_outside_normal_band"] <= hi
    assert abs(stats["mean_f_Hz"] - F0) < 0.02


def test_seed_reproduces_and_differs():
    runs = [[NordicFrequency(seed=s) for s in (7, 7, 8)]]
    traces = [[m.step(0.1)["f_Hz"] for _ in range(3000)] for m in runs[0]]
    assert traces[0] == traces[1]
    assert traces[0] != traces[2]
    g = NordicFrequency(seed=np.random.default_rng(7))
    assert [g.step(0.1)["f_Hz"] for _ in range(3000)] == traces[0]


def test_outputs_ranges_and_types():
    m = NordicFrequency(seed=1, incidents=[(5.0, 2500.0)])
    for o in _run(m, 60.0):
        assert set(o) >= {"f_Hz", "rocof_Hz_per_s", "imbalance_MW", "fcr_n_activation_frac",
                          "fcr_d_up_activation_frac", "fcr_d_down_activation_frac"}
        assert all(type(v) is float for v in o.values())
        assert -1.0 <= o["fcr_n_activation_frac"] <= 1.0
        assert 0.0 <= o["fcr_d_up_activation_frac"] <= 1.0
        assert o["fcr_d_down_activation_frac"] == 0.0 or o["f_Hz"] > 50.1


@pytest.mark.parametrize("kwargs, name", [
    ({"E_k_MWs": -1.0}, "E_k_MWs"), ({"S_n_MW": float("nan")}, "S_n_MW"),
    ({"fcr_n_MW": -5}, "fcr_n_MW"), ({"seed": -1}, "seed"), ({"incidents": [(1.0, "x")]},
                                                              "P_lost_MW"),
])
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NordicFrequency(**kwargs)


def test_bad_step_inputs():
    m = NordicFrequency()
    with pytest.raises(ValueError, match="dt_s"):
        m.step(0.0)
    with pytest.raises(ValueError, match="P_hp_response_MW"):
        m.step(0.1, P_hp_response_MW=float("nan"))


# ------------------------------------------------------------------------------------------------
# Characteristics and profile mode
# ------------------------------------------------------------------------------------------------


def test_fcr_characteristics():
    assert fcr_activation(50.0) == (0.0, 0.0, 0.0)
    assert fcr_activation(49.95) == pytest.approx((0.5, 0.0, 0.0))
    assert fcr_activation(49.7) == pytest.approx((1.0, 0.5, 0.0))
    assert fcr_activation(49.0) == pytest.approx((1.0, 1.0, 0.0))
    assert fcr_activation(50.2) == pytest.approx((-1.0, 0.0, 0.25))


def test_profile_linear_and_step_replay():
    t = [0.0, 30.0, 33.1, 40.0]
    f = [49.9, 49.9, 49.466, 49.466]  # an FCR-D-like ramp at 0.14 Hz/s
    lin = FrequencyProfile(t, f)
    out = [lin.step(0.1) for _ in range(500)]
    assert out[299]["f_Hz"] == pytest.approx(49.9)  # t = 30.0
    assert out[309]["f_Hz"] == pytest.approx(49.9 - 0.14 * 1.0)  # t = 31.0
    assert out[309]["rocof_Hz_per_s"] == pytest.approx(-0.14)
    assert out[-1]["f_Hz"] == pytest.approx(49.466)  # held after the end
    assert out[-1]["rocof_Hz_per_s"] == 0.0
    assert out[309]["fcr_d_up_activation_frac"] == pytest.approx(0.14 / 0.4)
    stp = FrequencyProfile([0.0, 1.0, 2.0], [50.0, 49.9, 50.1], interpolation="step", t0_s=0.5)
    vals = [stp.step(0.25)["f_Hz"] for _ in range(8)]  # t = 0.75 .. 2.5
    assert vals == pytest.approx([50.0, 49.9, 49.9, 49.9, 49.9, 50.1, 50.1, 50.1])
    assert stp.at(0.0)["f_Hz"] == 50.0  # at() does not move the replay
    assert stp.step(0.25)["f_Hz"] == 50.1


def test_profile_rejects_bad_arrays():
    with pytest.raises(ValueError, match="strictly increasing"):
        FrequencyProfile([0.0, 1.0, 1.0], [50.0, 50.0, 50.0])
    with pytest.raises(ValueError, match="f_Hz"):
        FrequencyProfile([0.0, 1.0], [50.0, 0.05])
    with pytest.raises(ValueError, match="interpolation"):
        FrequencyProfile([0.0], [50.0], interpolation="cubic")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_fingrid_csv(tmp_path):
    rows = ["Time,Value"] + [f"2023-01-01 00:00:0{i // 10}.{i % 10}00,{50.0 + 0.001 * i:.3f}"
                             for i in range(30)]
    p = _write(tmp_path / "2023-01-01.csv", "\n".join(rows) + "\n")
    s = read_frequency_csv(p)
    assert s.t_s == pytest.approx(np.arange(30) * 0.1)
    assert s.f_Hz[-1] == pytest.approx(50.029)
    assert str(s.start) == "2023-01-01 00:00:00+00:00"
    prof = FrequencyProfile.from_csv(p)
    assert prof.step(1.0)["f_Hz"] == pytest.approx(50.010)
    helsinki = read_frequency_csv(p, fmt="fingrid", tz="Europe/Helsinki")
    assert str(helsinki.start) == "2022-12-31 22:00:00+00:00"


def test_read_generic_csv_iso_and_seconds(tmp_path):
    iso = _write(tmp_path / "iso.csv", "time,f_Hz,source\n2024-06-01T10:00:00Z,50.01,x\n\n"
                 "2024-06-01T10:00:00.5Z,49.99,x\n2024-06-01T10:00:01Z,49.95,x\n")
    s = read_frequency_csv(iso)
    assert s.t_s.tolist() == [0.0, 0.5, 1.0]
    assert s.f_Hz.tolist() == [50.01, 49.99, 49.95]
    sec = _write(tmp_path / "sec.csv", "time,f_Hz\n0,50.0\n0.5,49.9\n1.5,49.8\n")
    s2 = read_frequency_csv(sec, fmt="generic")
    assert s2.start is None
    assert s2.t_s.tolist() == [0.0, 0.5, 1.5]


@pytest.mark.parametrize("body, line", [
    ("Time,Value\n2023-01-01 00:00:00.000,50.0\n2023-01-01 00:00:00.100,abc\n", 3),
    ("Time,Value\n2023-01-01 00:00:00.000,50.0\n\n2023-13-01 00:00:00.100,50.0\n", 4),
    ("Time,Value\n2023-01-01 00:00:00.100,50.0\n2023-01-01 00:00:00.000,50.0\n", 3),
    ("time,f_Hz\n0,50.0\n1,-12\n", 3),
    ("time,f_Hz\n0,50.0\n1\n", 3),
    ("time,f_Hz\n0,50.0\n1,50.0\n2,50.0,7\n", 4),
])
def test_bad_row_names_file_and_line(tmp_path, body, line):
    p = _write(tmp_path / "bad.csv", body)
    with pytest.raises(ValueError, match=rf"bad\.csv:{line}\b"):
        read_frequency_csv(p)


def test_unknown_header_and_format(tmp_path):
    p = _write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="x.csv:1"):
        read_frequency_csv(p)
    with pytest.raises(ValueError, match="fmt"):
        read_frequency_csv(p, fmt="dtu")
    assert math.isnan(FrequencyProfile([0.0], [50.0]).step(1.0)["imbalance_MW"])

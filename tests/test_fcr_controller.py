"""Tests of the FCR controller core and of the heat pump's power-setpoint dynamics.

Reference figures: ``shared/reference/standards-grid-markets-certification.md`` §1.1, §1.2, §1.6,
§1.9, §1.10 and §3.3 (§14a EnWG).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators import heatpump as hp
from simulators.controllers import fcr

DT = 0.1
WEATHER = {"T_out_C": -3.0, "T_out_24h_C": -2.0, "T_out_168h_C": 1.0}


def _ctrl(n: int | None = None, **kw: object) -> fcr.FcrController:
    kw.setdefault("T_FME_s", 0.0)
    return fcr.FcrController(fcr.FcrParams(**kw), n=n)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Characteristics (ref §1.1, Table 8/9 corners)
# --------------------------------------------------------------------------------------------------
def test_droop_curves_at_reference_corners() -> None:
    f = np.array([49.0, 49.5, 49.7, 49.9, 49.95, 50.0, 50.05, 50.1, 50.3, 50.5, 51.0])
    np.testing.assert_allclose(fcr.fcrn_activation(f),
                               [1, 1, 1, 1, 0.5, 0, -0.5, -1, -1, -1, -1], atol=1e-12)
    np.testing.assert_allclose(fcr.fcrd_up_activation(f),
                               [1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(fcr.fcrd_down_activation(f),
                               [0, 0, 0, 0, 0, 0, 0, 0, 0.5, 1, 1], atol=1e-12)
    # Dead band 10 mHz (SOGL max): zero inside, still full at ±100 mHz.
    db = fcr.fcrn_activation([49.99, 50.01, 49.9, 50.1, 49.95], deadband_Hz=0.01)
    np.testing.assert_allclose(db, [0, 0, 1, -1, 0.04 / 0.09], atol=1e-12)
    # Controller: consumer, up-regulation = consume LESS. P_base 2 kW, C = 0.5 kW per product.
    for kw, f_hz, p_expected in [
        ({"C_fcrn_kW": 0.5}, 49.9, 1.5), ({"C_fcrn_kW": 0.5}, 50.1, 2.5),
        ({"C_fcrn_kW": 0.5}, 50.0, 2.0), ({"C_fcrn_kW": 0.5}, 49.95, 1.75),
        ({"C_fcrd_up_kW": 0.5}, 49.5, 1.5), ({"C_fcrd_up_kW": 0.5}, 49.7, 1.75),
        ({"C_fcrd_up_kW": 0.5}, 49.9, 2.0), ({"C_fcrd_up_kW": 0.5}, 50.5, 2.0),
        ({"C_fcrd_down_kW": 0.5}, 50.5, 2.5), ({"C_fcrd_down_kW": 0.5}, 50.3, 2.25),
        ({"C_fcrd_down_kW": 0.5}, 49.5, 2.0),
    ]:
        out = _ctrl(**kw).step(DT, f_hz, 2.0, P_min_kW=0.5, P_max_kW=3.0)
        assert out["P_set_kW"][0] == pytest.approx(p_expected, abs=1e-12), (kw, f_hz)
        assert out["capacity_kW"][0] == pytest.approx(0.5)
        assert out["activation_frac"][0] == pytest.approx((2.0 - p_expected) / 0.5, abs=1e-12)


def test_combined_fcrn_and_fcrd_follow_req_1b() -> None:
    """FCR-N + FCR-D up at 49.7 Hz: ΔP = |ΔP_N| + (|Δf − 0.1|/0.4)·|ΔP_D| (ref §1.5 Req. 1b)."""
    ctrl = _ctrl(C_fcrn_kW=0.4, C_fcrd_up_kW=1.0)
    out = ctrl.step(DT, 49.7, 2.0, P_min_kW=0.0, P_max_kW=3.0)
    assert 2.0 - out["P_set_kW"][0] == pytest.approx(0.4 + (0.3 - 0.1) / 0.4 * 1.0)
    assert out["activated_fcrn_kW"][0] == pytest.approx(0.4)
    assert out["activated_fcrd_up_kW"][0] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------------
# Measurement-equipment dynamics (ref §1.2: F_FME = 1/(T_FME·s + 1), default 1 s)
# --------------------------------------------------------------------------------------------------
def test_fme_filter_time_constant_and_exact_discretisation() -> None:
    ctrl = fcr.FcrController(fcr.FcrParams(C_fcrn_kW=1.0))  # default T_FME = 1 s
    ctrl.step(DT, 50.0, 2.0, P_max_kW=5.0)
    f_meas, act = [], []
    for _ in range(30):  # 3 s after a 100 mHz step
        out = ctrl.step(DT, 49.9, 2.0, P_max_kW=5.0)
        f_meas.append(out["f_meas_Hz"][0])
        act.append(out["activation_fcrn_frac"][0])
    t = DT * np.arange(1, 31)
    np.testing.assert_allclose(f_meas, 50.0 - 0.1 * (1.0 - np.exp(-t / 1.0)), atol=1e-12)
    assert act[9] == pytest.approx(1.0 - math.exp(-1.0), abs=1e-9)  # 63.2 % at t = T_FME
    # Exact for any step length: one 1-s step ends where ten 0.1-s steps end.
    coarse = fcr.FcrController(fcr.FcrParams(C_fcrn_kW=1.0, T_FME_s=2.5))
    fine = fcr.FcrController(fcr.FcrParams(C_fcrn_kW=1.0, T_FME_s=2.5))
    coarse.step(DT, 50.0, 2.0)
    fine.step(DT, 50.0, 2.0)
    f_coarse = coarse.step(1.0, 49.8, 2.0)["f_meas_Hz"][0]
    f_fine = [fine.step(DT, 49.8, 2.0)["f_meas_Hz"][0] for _ in range(10)][-1]
    assert f_coarse == pytest.approx(f_fine, abs=1e-12)
    assert f_coarse == pytest.approx(50.0 - 0.2 * (1.0 - math.exp(-1.0 / 2.5)), abs=1e-12)
    assert fcr.fme_step_factor(0.1, 0.0) == 1.0


# --------------------------------------------------------------------------------------------------
# Static FCR-D (ref §1.6)
# --------------------------------------------------------------------------------------------------
def _band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table 9 linearity band of static units: [x − 5 %, x + 10 %] of ΔP_theo (x = |Δf|/0.4)."""
    return x - 0.05, x + 0.10


def test_static_fleet_staircase_stays_in_linearity_band() -> None:
    """20 relay units: the 100 mHz linearity steps and a slow sweep stay inside the band."""
    n = 20
    ctrl = _ctrl(n=n, C_fcrd_up_kW=1.0, fcrd_static=True)
    assert fcr.static_trigger_frequencies(1, "up")[0] == pytest.approx(49.71)
    assert fcr.static_trigger_frequencies(1, "down")[0] == pytest.approx(50.29)
    np.testing.assert_allclose(ctrl.static_trigger_up_Hz, fcr.static_trigger_frequencies(n, "up"))
    worst = 0.0
    for f_hz in np.linspace(49.9, 49.5, 401):  # slow ramp: the latches only ever add units
        out = ctrl.step(1.0, f_hz, 2.0, P_min_kW=0.0, P_max_kW=3.0)
        x = (49.9 - f_hz) / 0.4
        agg = float(out["activated_fcrd_up_kW"].sum() / n)
        lo, hi = _band(np.array(x))
        assert lo - 1e-9 <= agg <= hi + 1e-9, (f_hz, agg)
        worst = max(worst, abs(agg - (x + 0.025)))
    assert worst <= 0.075 + 1e-9  # centred in the band: at most half its width from the middle
    # The linearity-test steps (49.8 … 49.5 Hz), each held 120 s, on a fresh fleet.
    ctrl = _ctrl(n=n, C_fcrd_up_kW=1.0, fcrd_static=True)
    for f_hz in (49.9, 49.8, 49.7, 49.6, 49.5):
        for _ in range(120):
            out = ctrl.step(1.0, f_hz, 2.0, P_min_kW=0.0, P_max_kW=3.0)
        x = (49.9 - f_hz) / 0.4
        lo, hi = _band(np.array(x))
        assert lo <= out["activation_fcrd_up_frac"].mean() <= hi


def test_static_deactivation_rate_limits_and_pause() -> None:
    """Release starts 60 s after f is back > 49.9 Hz, ≤ 2.5 %/s (10-s mean), no 1-s step > 20 %,
    done within the 15-min grace; f ≤ 49.8 Hz pauses the deactivation (Req. 6/7)."""
    n, dt = 20, 0.5  # 2 Hz logging resolves the 1-s and 10-s rate limits

    def run(f_hz: float, seconds: float) -> list[float]:
        return [float(ctrl.step(dt, f_hz, 2.0, P_min_kW=0.0, P_max_kW=3.0)[
            "activated_fcrd_up_kW"].sum()) for _ in range(round(seconds / dt))]

    ctrl = _ctrl(n=n, C_fcrd_up_kW=1.0, fcrd_static=True)

    run(49.9, 10.0)
    p = run(49.5, 60.0)
    assert p[-1] == pytest.approx(n * 1.0)
    rest = run(49.91, 300.0)
    t = dt * np.arange(1, len(rest) + 1)
    assert all(v == pytest.approx(n) for v in np.array(rest)[t < 60.0 - 1e-9])
    first_drop = t[np.argmax(np.array(rest) < n - 1e-9)]
    assert first_drop == pytest.approx(60.0, abs=dt + 1e-9)
    done = t[np.argmax(np.array(rest) < 1e-9)]
    assert done <= 60.0 + fcr.STATIC_GRACE_S
    trace = np.array(p + rest) / n  # fraction of ΔP_theo, sampled at 2 Hz
    drop_1s = trace[:-2] - trace[2:]
    assert drop_1s.max() <= 0.20 + 1e-9  # Req. 7: no single 1-s step over 20 %
    assert drop_1s.max() >= 0.01  # the release is a real ramp, not a no-op
    mean10 = np.convolve(trace, np.ones(20) / 20, mode="valid")
    assert (mean10[:-20] - mean10[20:]).max() <= 0.025 * 10 + 1e-9  # ≤ 2.5 %/s over 10 s
    # Pause: deactivation started, then f dips to 49.75 Hz (≤ 49.8): release stops meanwhile.
    ctrl = _ctrl(n=n, C_fcrd_up_kW=1.0, fcrd_static=True)
    run(49.5, 10.0)
    run(49.95, 60.0 + 30.0)  # 30 s into a 100-s release: ~30 % released
    before = run(49.95, dt)[-1]
    during = run(49.75, 200.0)  # 49.75 Hz is above every trigger below 49.8, none re-trigger …
    assert during[-1] == pytest.approx(before)  # … and none is released while paused
    after = run(49.95, 200.0)
    assert after[-1] == 0.0


def test_single_static_relay_latches_at_its_trigger() -> None:
    ctrl = _ctrl(C_fcrd_up_kW=2.5, fcrd_static=True)  # one unit: trigger 49.71 Hz
    assert ctrl.step(DT, 49.72, 2.5)["P_set_kW"][0] == 2.5
    assert ctrl.step(DT, 49.70, 2.5)["P_set_kW"][0] == 0.0  # relay: whole capacity at once
    assert ctrl.step(DT, 49.85, 2.5)["P_set_kW"][0] == 0.0  # latched until deactivation
    down = _ctrl(C_fcrd_down_kW=2.0, fcrd_static=True, static_trigger_down_Hz=50.2)
    assert down.step(DT, 50.19, 1.0, P_max_kW=3.0)["P_set_kW"][0] == 1.0
    assert down.step(DT, 50.2, 1.0, P_max_kW=3.0)["P_set_kW"][0] == 3.0


# --------------------------------------------------------------------------------------------------
# LER energy management (ref §1.9)
# --------------------------------------------------------------------------------------------------
def test_ler_nem_shift_and_endurance() -> None:
    """FCR-N LER: endurance L = 60·(E − E_min)/(C − P_NEM); NEM on below 30 min, shift
    0.34·C·mean(NEM_allowed over 300 s), only inside 49.9–50.1 Hz, off again at 57.5 min."""
    c, e_res = 1.0, 2.0  # kW, kWh (electric equivalent)
    ctrl = _ctrl(C_fcrn_kW=c, ler=True, E_res_kWh=e_res)
    kw = {"P_min_kW": 0.0, "P_max_kW": 5.0}
    out = ctrl.step(1.0, 50.0, 2.0, soc_frac=0.5, **kw)
    assert out["endurance_up_min"][0] == pytest.approx(60.0 * 0.5 * e_res / c)  # 60 min
    assert out["P_nem_kW"][0] == 0.0 and out["nem_allowed"][0] == 0.0
    # Up-endurance 0.2·2/1 h = 24 min < 30 → NEM charges (consume more): +0.34·C after 300 s.
    shifts = [ctrl.step(1.0, 50.0, 2.0, soc_frac=0.2, **kw) for _ in range(300)]
    assert shifts[0]["nem_allowed"][0] == 1.0
    assert shifts[149]["P_nem_kW"][0] == pytest.approx(0.34 * c * 150 / 300)
    assert shifts[-1]["P_nem_kW"][0] == pytest.approx(0.34 * c)
    assert shifts[-1]["P_set_kW"][0] == pytest.approx(2.0 + 0.34 * c)
    # Endurance with the shift: 60·0.4/(1 − 0.34) min.
    out = ctrl.step(1.0, 50.0, 2.0, soc_frac=0.2, **kw)
    assert out["endurance_up_min"][0] == pytest.approx(60.0 * 0.4 / (1.0 - 0.34))
    # Outside the normal band NEM is not allowed (the mean decays again).
    out = ctrl.step(1.0, 49.85, 2.0, soc_frac=0.2, **kw)
    assert out["nem_allowed"][0] == 0.0
    assert out["P_nem_kW"][0] == pytest.approx(0.34 * c * 299 / 300)
    # Hysteresis: between 30 and 57.5 min NEM stays on; at ≥ 57.5 min it switches off.
    assert ctrl.step(1.0, 50.0, 2.0, soc_frac=0.25, **kw)["nem_allowed"][0] == 1.0  # 45 min
    assert ctrl.step(1.0, 50.0, 2.0, soc_frac=0.6, **kw)["nem_allowed"][0] == 0.0
    # Down-direction: soc near full → NEM discharges (consume less).
    ctrl = _ctrl(C_fcrn_kW=c, ler=True, E_res_kWh=e_res)
    assert ctrl.step(1.0, 50.0, 2.0, soc_frac=0.9, **kw)["nem_allowed"][0] == -1.0
    # FCR-D up: NEM below 20 min with 0.20·C.
    ctrl = _ctrl(C_fcrd_up_kW=c, ler=True, E_res_kWh=e_res)
    outs = [ctrl.step(1.0, 49.95, 2.0, soc_frac=0.05, **kw) for _ in range(300)]  # 6 min
    assert outs[-1]["P_nem_kW"][0] == pytest.approx(0.20 * c)


def test_ler_aem_moves_reference_frequency() -> None:
    """AEM below 5 min: f_ref = 300-s mean of the saturated frequency, so a held 49.85 Hz
    deviation's FCR-N activation decays linearly to 0 over 300 s; endurance reported as 0."""
    c, e_res = 1.0, 1.0
    ctrl = _ctrl(C_fcrn_kW=c, ler=True, E_res_kWh=e_res)
    kw = {"P_min_kW": 0.0, "P_max_kW": 5.0}
    outs = [ctrl.step(1.0, 49.85, 2.0, soc_frac=0.05, **kw) for _ in range(400)]  # L = 3 min
    assert outs[0]["aem_active"][0] == 1.0 and outs[0]["endurance_up_min"][0] == 0.0
    act = np.array([o["activation_fcrn_frac"][0] for o in outs])
    # After k samples: f_ref = 50 − 0.1·k/300 → activation = 1 − k/300.
    for k in (1, 100, 150, 299):
        assert act[k - 1] == pytest.approx(1.0 - k / 300.0, abs=1e-9)
    assert act[-1] == pytest.approx(0.0, abs=1e-9)
    # Recovery: soc back to endurance ≥ 10 min → AEM off, f_ref returns to 50 Hz over 300 s.
    outs = [ctrl.step(1.0, 50.0, 2.0, soc_frac=0.5, **kw) for _ in range(301)]
    assert outs[0]["aem_active"][0] == 0.0
    assert outs[-1]["activation_fcrn_frac"][0] == pytest.approx(0.0, abs=1e-12)
    assert ctrl.step(1.0, 49.9, 2.0, soc_frac=0.5, **kw)["activation_fcrn_frac"][0] == (
        pytest.approx(1.0))


# --------------------------------------------------------------------------------------------------
# Capacity (ref §1.10: maintained capacity from P_min/P_max and baseline; comfort/tank state)
# --------------------------------------------------------------------------------------------------
def test_capacity_limited_by_power_range_comfort_and_soc() -> None:
    ctrl = _ctrl(C_fcrn_kW=1.0, C_fcrd_up_kW=1.0, C_fcrd_down_kW=1.0)
    out = ctrl.step(DT, 50.0, 2.0, P_min_kW=1.5, P_max_kW=4.0)
    # C_N = min(P_max − P_base, P_base − P_min, C_N) = 0.5; D up = min(0.5 − 0.5, 1) = 0;
    # D down = min(2 − 0.5, 1) = 1.
    assert out["capacity_fcrn_kW"][0] == pytest.approx(0.5)
    assert out["capacity_fcrd_up_kW"][0] == pytest.approx(0.0)
    assert out["capacity_fcrd_down_kW"][0] == pytest.approx(1.0)
    out = ctrl.step(DT, 49.5, 2.0, P_min_kW=1.5, P_max_kW=4.0)
    assert out["P_set_kW"][0] == pytest.approx(1.5)  # never below P_min
    # Comfort: room at the lower edge → no up-regulation (nor symmetric FCR-N); halfway into
    # the 0.5 K margin → half; the down direction is untouched.
    ctrl = _ctrl(C_fcrn_kW=0.5, C_fcrd_up_kW=1.0, C_fcrd_down_kW=1.0)
    kw = {"P_min_kW": 0.0, "P_max_kW": 5.0}
    cold = ctrl.step(DT, 50.0, 2.5, T_room_C=20.0, **kw)
    assert cold["capacity_fcrn_kW"][0] == 0.0 and cold["capacity_fcrd_up_kW"][0] == 0.0
    assert cold["capacity_fcrd_down_kW"][0] == pytest.approx(1.0)
    half = ctrl.step(DT, 50.0, 2.5, T_room_C=20.25, **kw)
    assert half["capacity_fcrn_kW"][0] == pytest.approx(0.25)
    assert half["capacity_fcrd_up_kW"][0] == pytest.approx(0.5)
    warm = ctrl.step(DT, 50.0, 2.5, T_room_C=23.0, **kw)
    assert warm["capacity_fcrd_down_kW"][0] == 0.0 and warm["capacity_fcrd_up_kW"][0] == 1.0
    full_tank = ctrl.step(DT, 50.0, 2.5, soc_frac=1.0, **kw)
    assert full_tank["capacity_fcrd_down_kW"][0] == 0.0
    assert full_tank["capacity_fcrd_up_kW"][0] == pytest.approx(1.0)
    # An on/off unit that is off at baseline offers no up-regulation.
    assert ctrl.step(DT, 49.5, 0.0, **kw)["capacity_fcrd_up_kW"][0] == 0.0


# --------------------------------------------------------------------------------------------------
# Heat pump: setpoint tracking with ramp, §14a dimming (ref §3.3)
# --------------------------------------------------------------------------------------------------
def test_heat_pump_tracks_setpoint_with_exact_ramp_means() -> None:
    ramp = 0.05  # modulation fraction per s
    pump = hp.HeatPump(hp.HeatPumpParams(modulation_min_frac=0.3, ramp_frac_per_s=ramp))
    p_min, p_max = (float(x[0]) for x in pump.compressor_power_range_kW(**WEATHER))
    q_req = 0.8 * 7.0  # compressor capacity: no backup
    run_up = [pump.step(1.0, q_req, P_el_set_kW=p_max, **WEATHER)["P_el_kW"][0]
              for _ in range(30)]
    # Start from 0 at 5 %/s: mean over second k = p_max·ramp·(k − 0.5) until full (20 s).
    expected = [p_max * min(ramp * (k - 0.5), 1.0) for k in range(1, 31)]
    np.testing.assert_allclose(run_up, expected, rtol=1e-12)
    # Setpoint to the middle of the range: 2.5 s of ramp inside a 10-s step, mean exact.
    target = 0.5 * (p_min + p_max)
    out = pump.step(10.0, q_req, P_el_set_kW=target, **WEATHER)
    m_t = target / p_max
    tau = (1.0 - m_t) / ramp
    mean = (tau * (1.0 + m_t) / 2 + (10.0 - tau) * m_t) / 10.0
    assert out["P_el_kW"][0] == pytest.approx(p_max * mean, rel=1e-12)
    # Setpoints outside [P_min, P_max] are clipped; 0 stops it (min on time long past).
    pump2 = hp.HeatPump(hp.HeatPumpParams(min_on_s=0.0))
    assert pump2.step(60.0, q_req, P_el_set_kW=99.0, **WEATHER)["P_el_kW"][0] == (
        pytest.approx(p_max))
    assert pump2.step(60.0, q_req, P_el_set_kW=0.6 * p_min, **WEATHER)["P_el_kW"][0] == (
        pytest.approx(p_min))  # runs at P_min down to half of it …
    assert pump2.step(60.0, q_req, P_el_set_kW=0.4 * p_min, **WEATHER)["on"][0] == 0.0  # … stops
    pump2 = hp.HeatPump(hp.HeatPumpParams(min_on_s=0.0))
    pump2.step(60.0, q_req, P_el_set_kW=p_max, **WEATHER)
    assert pump2.step(60.0, q_req, P_el_set_kW=0.0, **WEATHER)["on"][0] == 0.0
    # Off and inside min_off_s: a setpoint cannot start it.
    assert pump2.step(60.0, q_req, P_el_set_kW=p_max, **WEATHER)["on"][0] == 0.0


def test_14a_limit_with_backup_heater() -> None:
    """Draw incl. backup ≤ max(limit, 4.2 kW); backup cut first; a compressor that cannot
    modulate below the allowed draw stops."""
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=20.0, compressor_share=0.6))
    free = pump.step(60.0, 20.0, **WEATHER)
    assert free["P_el_kW"][0] > 8.0 and free["P_backup_kW"][0] > 7.0
    p_comp = free["P_el_compressor_kW"][0]
    for limit, allowed in ((6.0, 6.0), (2.0, 4.2), (0.0, 4.2)):
        out = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=20.0, compressor_share=0.6)).step(
            60.0, 20.0, P_limit_kW=limit, **WEATHER)
        assert out["P_el_kW"][0] == pytest.approx(allowed, rel=1e-12)
        assert out["P_el_compressor_kW"][0] == pytest.approx(min(p_comp, allowed))
        assert out["Q_backup_kW"][0] == pytest.approx(0.99 * out["P_backup_kW"][0])
    # The guaranteed minimum is a parameter; a big compressor is modulated down to the limit …
    big = hp.HeatPumpParams(Q_rated_kW=60.0, P_limit_min_kW=3.0)
    p_min_big, p_max_big = (float(x[0]) for x in
                            hp.HeatPump(big).compressor_power_range_kW(**WEATHER))
    assert p_min_big < 5.0 < p_max_big
    out = hp.HeatPump(big).step(60.0, 60.0, P_limit_kW=5.0, **WEATHER)
    assert out["P_el_kW"][0] == pytest.approx(5.0) and out["P_backup_kW"][0] == 0.0
    out = hp.HeatPump(big).step(60.0, 60.0, P_limit_kW=1.0, **WEATHER)  # 3 kW < its P_min
    assert out["on"][0] == 0.0 and out["P_el_kW"][0] == pytest.approx(3.0)
    # … and stopped (overriding min on time) when even its minimum is above the allowed draw.
    pump = hp.HeatPump(hp.HeatPumpParams(Q_rated_kW=60.0, modulation_min_frac=0.8))
    assert pump.step(60.0, 55.0, **WEATHER)["on"][0] == 1.0  # 48 kW compressor + 7 kW backup
    out = pump.step(60.0, 55.0, P_limit_kW=1.0, **WEATHER)
    assert out["on"][0] == 0.0 and out["P_el_compressor_kW"][0] == 0.0
    assert out["P_backup_kW"][0] == pytest.approx(4.2)  # the backup may use the 4.2 kW


# --------------------------------------------------------------------------------------------------
# FCR-D dynamic requirement at the core level: ΔP(7.5 s) ≥ 0.86·ΔP_theo, E ≥ 3.2 s·ΔP_theo
# --------------------------------------------------------------------------------------------------
def _fcrd_step_response(params: hp.HeatPumpParams, p_min_for_fcr: float | None,
                        t_step: float = 60.0) -> tuple[float, float, float]:
    """Run HP + FCR-D up controller at 0.1 s; 49.9 Hz, then 49.5 Hz from ``t_step``.

    The unit is started at t = 0 and runs at full compressor power (its schedule); C = the
    maintained capacity (P_max − P_min). Returns (ΔP(7.5 s), E(0–7.5 s) in kWs, ΔP_theo).
    """
    pump = hp.HeatPump(params)
    p_lo, p_hi = (float(x[0]) for x in pump.compressor_power_range_kW(**WEATHER))
    p_min = p_lo if p_min_for_fcr is None else p_min_for_fcr
    ctrl = fcr.FcrController(fcr.FcrParams(C_fcrd_up_kW=p_hi - p_min))  # T_FME = 1 s
    q_req = float(pump.compressor_capacity_kW(WEATHER["T_out_C"])[0])
    n_pre, n_post = round(t_step / DT), round(7.5 / DT)
    power = []
    for k in range(n_pre + n_post):
        f_hz = 49.9 if k < n_pre else 49.5
        c = ctrl.step(DT, f_hz, p_hi, P_min_kW=p_min, P_max_kW=p_hi)
        out = pump.step(DT, q_req, P_el_set_kW=c["P_set_kW"], **WEATHER)
        power.append(out["P_el_kW"][0])
    p = np.array(power)
    base = p[n_pre - 50:n_pre].mean()
    dp = base - p[n_pre:]  # up-regulation = less consumption
    return float(dp[-1]), float(dp.sum() * DT), p_hi - p_min


def test_on_off_heat_pump_with_2_min_min_on_time_fails_fcrd() -> None:
    onoff = hp.HeatPumpParams(modulation_min_frac=1.0, min_on_s=120.0, min_off_s=120.0)
    dp75, energy, dp_theo = _fcrd_step_response(onoff, p_min_for_fcr=0.0)
    assert dp75 < 0.86 * dp_theo  # Req. 2 fails: it cannot stop inside its min on time
    assert energy < 3.2 * dp_theo  # Req. 3 fails
    assert dp75 == pytest.approx(0.0, abs=1e-9)
    # The same unit outside its min on time switches off at once: the lock is the cause.
    dp75_late, _, _ = _fcrd_step_response(onoff, p_min_for_fcr=0.0, t_step=130.0)
    assert dp75_late == pytest.approx(dp_theo)


def test_modulating_fast_ramp_passes_and_typical_inverter_ramp_fails() -> None:
    fast = hp.HeatPumpParams(modulation_min_frac=0.3, ramp_frac_per_s=0.2)
    dp75, energy, dp_theo = _fcrd_step_response(fast, p_min_for_fcr=None)
    assert dp_theo > 0.5
    assert dp75 >= 0.86 * dp_theo
    assert energy >= 3.2 * dp_theo
    slow = hp.HeatPumpParams(modulation_min_frac=0.3, ramp_frac_per_s=hp.RAMP_FRAC_PER_S_INVERTER)
    dp75_s, energy_s, dp_theo_s = _fcrd_step_response(slow, p_min_for_fcr=None)
    assert dp75_s < 0.86 * dp_theo_s and energy_s < 3.2 * dp_theo_s


# --------------------------------------------------------------------------------------------------
# Scalar fast path vs fleet arrays; fresh outputs; bad input
# --------------------------------------------------------------------------------------------------
def test_single_unit_fast_path_matches_fleet_arrays() -> None:
    n = 6
    kw = {
        "C_fcrn_kW": np.array([0.5, 0.0, 0.3, 0.0, 0.4, 0.2]),
        "C_fcrd_up_kW": np.array([0.0, 1.0, 0.5, 2.0, 0.0, 0.6]),
        "C_fcrd_down_kW": np.array([0.0, 0.8, 0.5, 0.0, 0.0, 0.6]),
        "fcrd_static": np.array([False, False, True, True, False, True]),
        "static_trigger_up_Hz": np.array([np.nan, np.nan, 49.8, 49.6, np.nan, 49.7]),
        "static_trigger_down_Hz": np.array([np.nan, np.nan, 50.2, 50.25, np.nan, 50.3]),
        "static_release_s": np.zeros(n),
        "ler": np.array([False, True, False, False, True, True]),
        "E_res_kWh": np.array([np.nan, 0.5, np.nan, np.nan, 0.3, 0.4]),
        "T_FME_s": np.array([1.0, 0.5, 0.0, 1.0, 2.0, 1.0]),
        "fcrn_deadband_Hz": np.array([0.0, 0.0, 0.01, 0.0, 0.005, 0.0]),
    }
    fleet = fcr.FcrController(fcr.FcrParams(**kw))  # type: ignore[arg-type]
    singles = [fcr.FcrController(fcr.FcrParams(**{k: v[i:i + 1] for k, v in kw.items()}))
               for i in range(n)]  # type: ignore[arg-type]
    rng = np.random.default_rng(5)
    f_hz = 50.0
    got: dict[str, list[np.ndarray]] = {key: [] for key in fcr.FcrController.outputs}
    want: dict[str, list[np.ndarray]] = {key: [] for key in fcr.FcrController.outputs}
    for _ in range(800):
        f_hz = float(np.clip(f_hz + rng.normal(0, 0.03) - 0.01 * (f_hz - 50.0), 49.3, 50.7))
        dt = float(rng.choice([0.1, 0.5, 1.0, 3.0, 7.0]))
        inp = {"P_base_kW": rng.uniform(0.0, 3.0, n), "P_min_kW": rng.uniform(0.0, 0.5, n),
               "P_max_kW": rng.uniform(3.0, 4.0, n), "T_room_C": rng.uniform(19.8, 23.2, n),
               "soc_frac": rng.uniform(0.0, 1.0, n)}
        out = fleet.step(dt, f_hz, **inp)
        ones = [single.step(dt, f_hz, **{k: v[i] for k, v in inp.items()})
                for i, single in enumerate(singles)]
        for key in fcr.FcrController.outputs:
            assert all(one[key].shape == (1,) and one[key].dtype == float for one in ones)
            got[key].append(np.concatenate([one[key] for one in ones]))
            want[key].append(out[key])
    for key in fcr.FcrController.outputs:
        # math.expm1 (scalar) and np.expm1 may differ in the last bit: 1e-9 tolerance.
        np.testing.assert_allclose(np.array(got[key]), np.array(want[key]), rtol=1e-9,
                                   atol=1e-9, err_msg=key)
    # The run exercised static latches, AEM and NEM.
    static = np.array(want["activation_fcrd_up_frac"])[:, 2:4]
    assert 0 < static.mean() < 1
    assert np.array(want["aem_active"]).any() and np.abs(np.array(want["nem_allowed"])).any()


def test_outputs_are_fresh_arrays() -> None:
    for n in (1, 3):
        ctrl = _ctrl(n=n, C_fcrn_kW=0.5, ler=True, E_res_kWh=1.0)
        first = ctrl.step(DT, 49.95, 2.0, soc_frac=0.5)
        snap = {k: v.copy() for k, v in first.items()}
        for v in first.values():
            v[...] = -7.0
        second = ctrl.step(DT, 49.95, 2.0, soc_frac=0.5)
        for key in fcr.FcrController.outputs:
            assert second[key].shape == (n,)
            assert not np.shares_memory(first[key], second[key])
        assert second["f_meas_Hz"][0] == snap["f_meas_Hz"][0]
        assert second["aem_active"][0] == snap["aem_active"][0]


def test_bad_parameters_and_inputs() -> None:
    with pytest.raises(ValueError, match=r"C_fcrn_kW=-1.0 is out of range"):
        fcr.FcrParams(C_fcrn_kW=-1.0)
    with pytest.raises(ValueError, match=r"fcrn_deadband_Hz=0.02 is out of range.*0.01"):
        fcr.FcrParams(fcrn_deadband_Hz=0.02)
    with pytest.raises(ValueError, match=r"static_trigger_up_Hz=49.95 is out of range"):
        fcr.FcrParams(static_trigger_up_Hz=49.95)
    with pytest.raises(ValueError, match=r"E_res_kWh=nan is not allowed where ler=True"):
        fcr.FcrController(fcr.FcrParams(ler=True))
    with pytest.raises(ValueError, match=r"C_fcrd_up_kW has length 2 but the fleet has n=3"):
        fcr.FcrController(fcr.FcrParams(C_fcrd_up_kW=[1.0, 2.0]), n=3)
    ctrl = _ctrl(n=2, C_fcrn_kW=1.0)
    with pytest.raises(ValueError, match=r"dt_s=0.0 must be"):
        ctrl.step(0.0, 50.0, 1.0)
    with pytest.raises(ValueError, match=r"f_Hz=70.0 is out of range"):
        ctrl.step(DT, 70.0, 1.0)
    with pytest.raises(ValueError, match=r"P_base_kW=-1.0 is out of range"):
        ctrl.step(DT, 50.0, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"f_Hz has shape \(3,\)"):
        ctrl.step(DT, np.full(3, 50.0), 1.0)
    with pytest.raises(ValueError, match=r"P_min_kW=.* must not exceed P_max_kW"):
        ctrl.step(DT, 50.0, 1.0, P_min_kW=2.0, P_max_kW=1.0)
    with pytest.raises(ValueError, match=r"soc_frac is required for LER units"):
        _ctrl(C_fcrn_kW=1.0, ler=True, E_res_kWh=1.0).step(DT, 50.0, 1.0)
    with pytest.raises(ValueError, match=r"n_units=0 must be a positive integer"):
        fcr.static_trigger_levels(0)

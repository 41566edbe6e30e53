"""Verdicts of the Nordic FCR prequalification tests, from a recorded response (pure numpy).

Input: the :class:`~simulators.fcr_programme.TestSignal` that was applied (its segments say where
the steady states, ramps and sines are), and the record — ``t_s`` (s from the test start),
applied frequency ``f_Hz``, measured power ``P_kW`` (CONSUMPTION POSITIVE), baseline
``P_base_kW`` and prequalified capacity ``C_kW``. A heat pump is a consumer: up-regulation (low
frequency) LOWERS its consumption. Internally every test works on the *activation in the product
direction* ``a = s·(P_base − P)`` with s = +1 for FCR-N and up products, −1 for down products, so
one formula serves up and down (the reference's "mirrored for down").

Output of :func:`evaluate`: a JSON-ready dict ``{"product", "test", "pass", "failed",
"requirements": {name: {"value", "limit", "unit", "pass", "detail"}}, ...}``; requirement values
are normalised by ΔP_theo (p.u.) or are seconds, as their unit says. :func:`write_tso_csv` writes
the TSO-format log files (absorbed power negative at that boundary). Requirement texts and
numbers: ``docs/fcr.md`` and the reference §1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from simulators.fcr_programme import (
    F_NOMINAL_HZ,
    FCRD_BAND_HZ,
    FCRN_BAND_HZ,
    Segment,
    TestSignal,
    direction_sign,
)

# --------------------------------------------------------------------------------------------
# Reference constants (§1.4–1.8)
# --------------------------------------------------------------------------------------------

SS_BAND_FCRN: tuple[float, float] = (-0.05, 0.20)
"""Steady-state band of FCR-N and dynamic FCR-D: 5 % under-, 20 % over-delivery (§1.4, §1.5)."""
SS_BAND_STATIC: tuple[float, float] = (-0.05, 0.10)
"""Static FCR-D Req. 1: −5 %/+10 % (§1.6)."""
DP_7_5S_MIN: float = 0.86
"""FCR-D Req. 2: ΔP(7.5 s) ≥ 0.86·ΔP_ss,theo."""
E_7_5S_MIN_S: float = 3.2
"""FCR-D Req. 3: ∫₀^7.5s ΔP dt ≥ 3.2 s·ΔP_ss,theo."""
T_7_5S: float = 7.5
NADIR_DELAY_S: float = 4.4
"""FCR-D Req. 4: the nadir is taken 4.4 s after ramp 1 starts."""
DEACT_WINDOW_S: float = 40.0
DEACT_ENERGY_MAX_S: float = 2.5
"""FCR-D Req. 4: excess energy after the nadir ≤ 2.5 s·|ΔP_ss,theo| within 40 s."""
STATIC_OVERSHOOT_MAX: float = 0.20
STATIC_START_MAX_S: float = 2.5
STATIC_DEACT_DELAY_S: float = 60.0
STATIC_GRACE_S: float = 900.0
STATIC_RATE_10S: float = 0.025
"""Static FCR-D Req. 7: ≤ 2.5 %/s of ΔP_theo as a 10 s average."""
STATIC_STEP_1S: float = 0.20
"""Static FCR-D Req. 7: ≤ 20 % of ΔP_theo within 1 s."""
K_RED_MIN: Mapping[str, float] = {"fcr-n": 0.9, "fcr-d": 0.75, "fcr-d-static-dyn": 0.84}
"""Lowest allowed reduction factors (§1.4, §1.5, §1.6, §1.8 Req. 9)."""
LIN_CORNERS_FCRN: tuple[tuple[float, float, float], ...] = (
    # f [Hz], lower, upper bound of the up-positive activation [p.u. of |ΔP_theo|] (Table 8)
    (49.90, 0.95, 1.10),
    (50.00, -0.05, 0.10),
)
LIN_CORNERS_FCRN_DOWN: tuple[tuple[float, float, float], ...] = (
    (50.00, -0.10, 0.05),
    (50.10, -1.10, -0.95),
)
LIN_CORNERS_STATIC: tuple[tuple[float, float], ...] = ((49.50, 0.95), (49.88, 0.0))
"""Table 9, lower edge (up direction; mirrored about 50 Hz for down)."""
LIN_CORNERS_STATIC_UPPER: tuple[tuple[float, float], ...] = ((49.50, 1.10), (49.90, 0.10))
"""Table 9, upper edge."""
STABILITY_RADIUS: float = 0.43
STABILITY_MARGIN: float = 0.95
"""Req. 8: stay outside the circle of radius 0.43·0.95 around −1 (95 % margin allowed)."""
K_MARGIN: float = 0.95
"""Req. 9: K_margin."""
D_TIME_CONSTANT_S: float = 70.0
"""Req. 9: disturbance model D(s) = 1/(70 s + 1)."""
GRID_MODEL: Mapping[tuple[str, str], tuple[float, float, float, float, float]] = {
    # (product family, case): ΔP_FCR [MW], Δf_FCR [Hz], S_n [MW], H [s], K_f [pu/Hz] (Table 7)
    ("fcr-n", "performance"): (600.0, 0.1, 42000.0, 190000.0 / 42000.0, 0.01),
    ("fcr-n", "stability"): (600.0, 0.1, 23000.0, 120000.0 / 23000.0, 0.01),
    ("fcr-d", "performance"): (1450.0, 0.4, 42000.0, 190000.0 / 42000.0, 0.01),
    ("fcr-d", "stability"): (1450.0, 0.4, 23000.0, 120000.0 / 23000.0, 0.01),
}


@dataclass(frozen=True)
class EvalOptions:
    """Evaluation choices the reference leaves open (defaults and reasons in the comments)."""

    pre_window_s: float = 10.0
    """Window before a ramp whose mean activation is the ΔP = 0 reference, s."""
    decline_tolerance: float = 0.05
    """After 7.5 s, ΔP may dip this much (p.u. of ΔP_theo) below ΔP(7.5 s): the reference
    tolerates "small, well-damped oscillations"; 5 % equals the category-A power accuracy."""
    start_threshold: float = 0.05
    """Static Req. 5b: the response has "started" once ΔP ≥ 5 % of ΔP_theo (above the ±5 %
    category-A measurement accuracy, so noise is not counted as a response)."""
    deactivated_threshold: float = 0.05
    """Static Req. 6: deactivated once |ΔP| ≤ 5 % of ΔP_theo (same reasoning)."""
    ma_window_s: float = 10.0
    """Linearity tests: moving-average window, s (reference: 10 s)."""
    T_FME_s: float | None = None
    """Sine tests: measurement-equipment time constant when an INTERNAL frequency signal was
    used (F is multiplied by 1/(T_FME·s + 1)); None = external signal. Reference default 1 s."""
    allow_reduction: bool = False
    """Apply reduction factors K_red where the reference allows them."""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def evaluate(signal: TestSignal, t_s: Any, f_Hz: Any, P_kW: Any, P_base_kW: Any, C_kW: float,
             *, C_fcrn_kW: float | None = None, nem_active: Any = None, aem_active: Any = None,
             options: EvalOptions | None = None) -> dict[str, Any]:
    """Verdict of one test from its record.

    Parameters:
        signal: the applied test (product, test, segments).
        t_s: record times, s from the test start (increasing).
        f_Hz: applied frequency at ``t_s``, Hz.
        P_kW: measured active power, kW, consumption positive (the device under test, or the sum
            of a pool: the group complies as a whole).
        P_base_kW: baseline, kW (scalar or array like ``t_s``).
        C_kW: capacity offered for the product (> 0), kW.
        C_fcrn_kW: FCR-N capacity for the combined FCR-N + FCR-D ramps 7–8.
        nem_active, aem_active: LER test only — NEM / AEM state per sample (bool arrays).
        options: :class:`EvalOptions`.
    """
    opt = options or EvalOptions()
    rec = _Record.build(signal, t_s, f_Hz, P_kW, P_base_kW, C_kW)
    if signal.test == "step":
        out = _eval_fcrn_step(signal, rec, opt)
    elif signal.test == "ramp" and signal.product == "fcr-d-static":
        out = _eval_static_ramp(signal, rec, opt)
    elif signal.test == "ramp":
        out = _eval_fcrd_ramp(signal, rec, opt, C_fcrn_kW)
    elif signal.test == "linearity":
        out = _eval_linearity(signal, rec, opt)
    elif signal.test == "sine":
        out = _eval_sine(signal, rec, opt)
    else:
        out = _eval_ler(signal, rec, nem_active, aem_active)
    return _finish(signal, rec, out)


def combine(verdicts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Overall result of several tests of one product: pass if all pass; K_red = min of all."""
    if not verdicts:
        raise ValueError("verdicts is empty; give at least one test verdict")
    ks = [float(v["K_red"]) for v in verdicts.values() if v.get("K_red") is not None]
    caps = [float(v["capacity_kW"]) for v in verdicts.values() if "capacity_kW" in v]
    k = min(ks) if ks else 1.0
    failed = [f"{name}.{r}" for name, v in verdicts.items() for r in v.get("failed", [])]
    out: dict[str, Any] = {"pass": all(bool(v["pass"]) for v in verdicts.values()),
                           "failed": failed, "K_red": k}
    if caps:
        out["qualified_capacity_kW"] = k * min(caps)
    return out


def grid_model(product: str, case: str, omega_rad_s: Any) -> np.ndarray:
    """Power-system model G(jω) of Eq. 11 with the Table 7 parameters.

    G = (ΔP_FCR/Δf_FCR)·(f0/S_n)·1/(2H·jω + K_f·f0); ``case`` is ``performance``/``stability``.
    """
    fam = "fcr-n" if product == "fcr-n" else "fcr-d"
    if case not in ("performance", "stability"):
        raise ValueError(f"case={case!r} is not allowed; use 'performance' or 'stability'")
    dp, df, sn, h, kf = GRID_MODEL[(fam, case)]
    s = 1j * np.asarray(omega_rad_s, dtype=float)
    return (dp / df) * (F_NOMINAL_HZ / sn) / (2.0 * h * s + kf * F_NOMINAL_HZ)


def disturbance_model(omega_rad_s: Any) -> np.ndarray:
    """D(jω) = 1/(70·jω + 1) of Req. 9."""
    return 1.0 / (D_TIME_CONSTANT_S * 1j * np.asarray(omega_rad_s, dtype=float) + 1.0)


def fit_sine(t_s: Any, x: Any, period_s: float) -> tuple[complex, float, np.ndarray]:
    """Least-squares fit x ≈ c + Re{X·e^{jωt}} over the given samples (use whole periods).

    Returns the phasor X (amplitude |X|, phase angle X), the offset c and the fitted samples.
    """
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(x, dtype=float)
    w = 2.0 * np.pi / period_s
    A = np.column_stack([np.cos(w * t), np.sin(w * t), np.ones_like(t)])
    (a, b, c), *_ = np.linalg.lstsq(A, y, rcond=None)
    # a·cos + b·sin = Re{(a − j·b)·e^{jωt}}
    return complex(a, -b), float(c), A @ np.array([a, b, c])


def stability_distance(L: Any) -> tuple[float, bool]:
    """Distance of the Nyquist polyline through ``L`` (ordered by ω) from −1, and whether it
    passes LEFT of −1 (crosses the real axis at Re < −1, i.e. encircles the critical point)."""
    pts = np.asarray(L, dtype=complex)
    d = float(np.min(np.abs(pts + 1.0)))
    left = False
    for p, q in zip(pts[:-1], pts[1:], strict=True):
        v = q - p
        den = abs(v) ** 2
        if den > 0:
            u = min(max(((-1.0 - p) * v.conjugate()).real / den, 0.0), 1.0)
            d = min(d, abs(p + u * v + 1.0))
        if (p.imag <= 0.0 < q.imag) or (q.imag <= 0.0 < p.imag) or (p.imag == 0 and q.imag == 0):
            if p.imag == q.imag:
                x = min(p.real, q.real)
            else:
                x = p.real + (q.real - p.real) * (-p.imag) / (q.imag - p.imag)
            left = left or x < -1.0
    return d, left


# --------------------------------------------------------------------------------------------
# Record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    t: np.ndarray
    f: np.ndarray
    P: np.ndarray
    base: np.ndarray
    a: np.ndarray
    """Activation in the product direction, kW."""
    C: float
    sign: float

    @staticmethod
    def build(sig: TestSignal, t_s: Any, f_Hz: Any, P_kW: Any, P_base_kW: Any,
              C_kW: float) -> _Record:
        t = _vec("t_s", t_s)
        n = t.size
        if n < 2 or not np.all(np.diff(t) > 0):
            raise ValueError("t_s must hold ≥ 2 strictly increasing times, s")
        f = _vec("f_Hz", f_Hz, n)
        P = _vec("P_kW", P_kW, n)
        base = _vec("P_base_kW", P_base_kW, n)
        if not (isinstance(C_kW, int | float) and math.isfinite(C_kW) and C_kW > 0):
            raise ValueError(f"C_kW={C_kW!r} must be a finite capacity > 0, kW")
        d = sig.direction if sig.direction != "both" else "up"
        s = direction_sign(sig.product, d)
        return _Record(t, f, P, base, s * (base - P), float(C_kW), s)

    def covers(self, t0: float, t1: float) -> bool:
        """The record spans [t0, t1): its last sample may lie one sample period before t1."""
        return bool(self.t[0] <= t0 + 1e-6 and self.t[-1] >= t1 - 1.01 * self.dt)

    @property
    def dt(self) -> float:
        return float(np.median(np.diff(self.t)))

    def mean(self, x: np.ndarray, t0: float, t1: float) -> float:
        m = (self.t >= t0 - 1e-9) & (self.t < t1 - 1e-9)
        return float(np.mean(x[m])) if self.covers(t0, t1) and m.any() else math.nan

    def at(self, x: np.ndarray, tq: Any) -> Any:
        return np.interp(tq, self.t, x)

    def cumint(self, x: np.ndarray, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Times in [t0, t1] (both ends included) and ∫_{t0}^{t} x dt at them (trapezoid)."""
        inner = self.t[(self.t > t0) & (self.t < t1)]
        tt = np.concatenate([[t0], inner, [t1]])
        y = self.at(x, tt)
        return tt, np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(tt))])


# --------------------------------------------------------------------------------------------
# FCR-N step test (§1.4)
# --------------------------------------------------------------------------------------------


def _eval_fcrn_step(sig: TestSignal, rec: _Record, opt: EvalOptions) -> dict[str, Any]:
    ss = {k: _ss(sig, rec, f"step{k}") for k in range(4)}
    ref = 0.5 * (ss[0] + ss[3])
    dp1, dp2 = ss[1] - ref, ss[2] - ref
    k_ss = min(1.0, dp1 / (0.95 * rec.C), -dp2 / (0.95 * rec.C))
    k = _reduction(k_ss, K_RED_MIN["fcr-n"], opt)
    theo = k * rec.C
    tag = " (endurance: 15 min steps)" if sig.params.get("endurance") else ""
    reqs = {
        "req1_up_steady_state": _band(
            (dp1 - theo) / theo, SS_BAND_FCRN,
            f"ΔP_ss,1 = {dp1:.3f} kW at 49.90 Hz vs |ΔP_theo| = {theo:.3f} kW{tag}"),
        "req1_down_steady_state": _band(
            (dp2 + theo) / theo, (-SS_BAND_FCRN[1], -SS_BAND_FCRN[0]),
            f"ΔP_ss,2 = {dp2:.3f} kW at 50.10 Hz vs −|ΔP_theo| = {-theo:.3f} kW{tag}"),
    }
    out: dict[str, Any] = {"requirements": reqs, "K_red_ss": _num(k_ss)}
    _add_reduction(out, k_ss, 1.0, K_RED_MIN["fcr-n"], rec.C, opt, "K_red,ss")
    return out


# --------------------------------------------------------------------------------------------
# FCR-D ramp test (§1.5)
# --------------------------------------------------------------------------------------------


def _eval_fcrd_ramp(sig: TestSignal, rec: _Record, opt: EvalOptions,
                    C_fcrn_kW: float | None) -> dict[str, Any]:
    C = rec.C
    ss3, ss4 = _ss(sig, rec, "ramp3"), _ss(sig, rec, "ramp4")
    dss = ss3 - ss4
    r5, r6 = sig.segment("ramp5"), sig.segment("ramp6")
    dyn = _dynamic_75(rec, r5.t0_s, opt)
    k_ss = min(1.0, dss / (0.95 * C))
    k_dyn = min(1.0, dyn["dp75"] / (DP_7_5S_MIN * C), dyn["e75"] / (E_7_5S_MIN_S * C))
    kss = _reduction(k_ss, K_RED_MIN["fcr-d"], opt)
    kdyn = _reduction(k_dyn, K_RED_MIN["fcr-d"], opt)
    reqs: dict[str, Any] = {
        "req1_steady_state": _band(
            (dss - kss * C) / (kss * C), SS_BAND_FCRN,
            f"P_ss,3 − P_ss,4 = {dss:.3f} kW (activation at 49.5/50.5 Hz) vs ΔP_theo = "
            f"{kss * C:.3f} kW"),
    }
    reqs.update(_reqs_75(dyn, kdyn * C, "ramp 5"))
    # After 7.5 s the activation must not fall below its 7.5 s value until ramp 6 starts.
    m = (rec.t >= r5.t0_s + T_7_5S) & (rec.t < r6.t0_s)
    dmin = float(np.min(rec.a[m] - dyn["a_pre"])) if m.any() else math.nan
    tol = opt.decline_tolerance * C
    reqs["req3_no_decline_after_7_5s"] = _req(
        (dmin - dyn["dp75"]) / C, -opt.decline_tolerance, "p.u. of ΔP_theo",
        dmin >= dyn["dp75"] - tol,
        f"min ΔP after 7.5 s = {dmin:.3f} kW vs ΔP(7.5 s) = {dyn['dp75']:.3f} kW "
        f"(tolerance {opt.decline_tolerance:.0%} of ΔP_theo)", ">=")
    reqs["req4_deactivation"] = _deactivation(sig, rec, opt, C)
    if sig.params.get("combined_fcr_n"):
        if C_fcrn_kW is None or not C_fcrn_kW > 0:
            raise ValueError(f"C_fcrn_kW={C_fcrn_kW!r}: the combined ramp test (ramps 7–8) "
                             "needs the FCR-N capacity > 0, kW")
        ss6 = _ss(sig, rec, "ramp6")
        for name in ("ramp7", "ramp8"):
            seg = sig.segment(name)
            dfx = abs(F_NOMINAL_HZ - seg.f_Hz)
            theo = C_fcrn_kW + abs(dfx - 0.1) / FCRD_BAND_HZ * C
            got = _ss(sig, rec, name) - ss6
            reqs[f"req1b_combination_{name}"] = _band(
                (got - theo) / theo, SS_BAND_FCRN,
                f"P_ss − P_ss,6 = {got:.3f} kW at {seg.f_Hz:.2f} Hz vs |ΔP_N| + "
                f"|Δf − 0.1|/0.4·|ΔP_D| = {theo:.3f} kW")
    out: dict[str, Any] = {"requirements": reqs, "K_red_ss": _num(k_ss),
                           "K_red_dyn": _num(k_dyn)}
    _add_reduction(out, k_ss, k_dyn, K_RED_MIN["fcr-d"], C, opt, "min(K_red,ss, K_red,dyn)")
    return out


def _deactivation(sig: TestSignal, rec: _Record, opt: EvalOptions, C: float) -> dict[str, Any]:
    """Req. 4 on ramps 1–2: excess energy above min(|ΔP_nadir|, ½|ΔP_theo|) within 40 s."""
    r1 = sig.segment("ramp1")
    t_n = r1.t0_s + NADIR_DELAY_S
    a_pre = rec.mean(rec.a, r1.t0_s - opt.pre_window_s, r1.t0_s)
    dp = rec.a - a_pre
    if not rec.covers(r1.t0_s - opt.pre_window_s, t_n + DEACT_WINDOW_S):
        return _req(math.nan, DEACT_ENERGY_MAX_S, "s", False, "ramps 1–2 not recorded", "<=")
    dp_n = float(rec.at(dp, t_n))
    level = min(abs(dp_n), 0.5 * C)
    _, cum = rec.cumint(dp - level, t_n, t_n + DEACT_WINDOW_S)
    worst = float(np.max(cum)) / C
    return _req(worst, DEACT_ENERGY_MAX_S, "s", worst <= DEACT_ENERGY_MAX_S,
                f"max ∫(ΔP − min(|ΔP_nadir|, ½ΔP_theo)) dt over 40 s after the nadir "
                f"(t = {t_n:.1f} s, ΔP_nadir = {dp_n:.3f} kW) = {worst:.2f} s·ΔP_theo", "<=")


def _dynamic_75(rec: _Record, t0: float, opt: EvalOptions) -> dict[str, float]:
    """ΔP(7.5 s) and E(0–7.5 s) after a ramp starting at t0, relative to the pre-ramp level."""
    a_pre = rec.mean(rec.a, t0 - opt.pre_window_s, t0)
    if not rec.covers(t0, t0 + T_7_5S):
        return {"a_pre": a_pre, "dp75": math.nan, "e75": math.nan}
    dp75 = float(rec.at(rec.a, t0 + T_7_5S)) - a_pre
    _, cum = rec.cumint(rec.a - a_pre, t0, t0 + T_7_5S)
    return {"a_pre": a_pre, "dp75": dp75, "e75": float(cum[-1])}


def _reqs_75(dyn: Mapping[str, float], theo: float, where: str) -> dict[str, Any]:
    r2 = dyn["dp75"] / theo
    r3 = dyn["e75"] / theo
    return {
        "req2_activation_7_5s": _req(
            r2, DP_7_5S_MIN, "p.u. of ΔP_theo", r2 >= DP_7_5S_MIN,
            f"ΔP(7.5 s) after {where} = {dyn['dp75']:.3f} kW = {r2:.3f}·ΔP_theo "
            f"(ΔP_theo = {theo:.3f} kW); required ≥ {DP_7_5S_MIN}·ΔP_theo", ">="),
        "req3_energy_7_5s": _req(
            r3, E_7_5S_MIN_S, "s", r3 >= E_7_5S_MIN_S,
            f"E(0–7.5 s) after {where} = {dyn['e75']:.3f} kW·s = {r3:.3f} s·ΔP_theo; required "
            f"≥ {E_7_5S_MIN_S} s·ΔP_theo", ">="),
    }


# --------------------------------------------------------------------------------------------
# Static FCR-D ramp test and deactivation (§1.6)
# --------------------------------------------------------------------------------------------


def _eval_static_ramp(sig: TestSignal, rec: _Record, opt: EvalOptions) -> dict[str, Any]:
    C = rec.C
    r1, r2 = sig.segment("ramp1"), sig.segment("ramp2")
    ss0, ss1 = _ss(sig, rec, "settle"), _ss(sig, rec, "ramp1")
    dss = ss1 - ss0
    dyn = _dynamic_75(rec, r1.t0_s, opt)
    k_ss = min(1.0, dss / (0.95 * C))
    k_dyn = min(1.0, dyn["dp75"] / (DP_7_5S_MIN * C), dyn["e75"] / (E_7_5S_MIN_S * C))
    kss = _reduction(k_ss, K_RED_MIN["fcr-d"], opt)
    kdyn = _reduction(k_dyn, K_RED_MIN["fcr-d-static-dyn"], opt)
    reqs: dict[str, Any] = {"req1_steady_state": _band(
        (dss - kss * C) / (kss * C), SS_BAND_STATIC,
        f"P_ss,1 − P_ss,0 = {dss:.3f} kW vs ΔP_theo = {kss * C:.3f} kW")}
    reqs.update(_reqs_75(dyn, kdyn * C, "ramp 1"))
    dp = rec.a - dyn["a_pre"]
    m = (rec.t >= r1.t0_s) & (rec.t < r2.t0_s)
    over = (float(np.max(dp[m])) - (ss1 - dyn["a_pre"])) / C if m.any() else math.nan
    reqs["req5a_overshoot"] = _req(over, STATIC_OVERSHOOT_MAX, "p.u. of ΔP_theo",
                                   over <= STATIC_OVERSHOOT_MAX,
                                   f"max ΔP during ramp 1 hold − ΔP_ss,1 = {over:.3f}·ΔP_theo",
                                   "<=")
    started = np.flatnonzero(m & (dp >= opt.start_threshold * C))
    t_start = float(rec.t[started[0]] - r1.t0_s) if started.size else math.nan
    reqs["req5b_response_start"] = _req(
        t_start, STATIC_START_MAX_S, "s", t_start <= STATIC_START_MAX_S,
        f"ΔP first ≥ {opt.start_threshold:.0%} of ΔP_theo {t_start:.2f} s after ramp 1 starts"
        if started.size else "no response during ramp 1", "<=")
    reqs["req6_deactivation_time"] = _static_deactivation(sig, rec, opt, dp, r2, C)
    reqs.update(_rate_limits(rec, dp, r2.t0_s, C))
    out: dict[str, Any] = {"requirements": reqs, "K_red_ss": _num(k_ss),
                           "K_red_dyn": _num(k_dyn)}
    _add_reduction(out, k_ss, k_dyn, K_RED_MIN["fcr-d-static-dyn"], C, opt,
                   "min(K_red,ss, K_red,dyn)")
    return out


def _static_deactivation(sig: TestSignal, rec: _Record, opt: EvalOptions, dp: np.ndarray,
                         r2: Segment, C: float) -> dict[str, Any]:
    """Req. 6: deactivated within 15 min (+ pauses) of f being back in the normal band 60 s."""
    up = sig.direction == "up"
    # The reference's "continuously > 49.9 Hz": at exactly 49.9 Hz (where ramp 2 ends) the
    # theoretical activation is 0, so the boundary counts as "back" (with 0.1 mHz tolerance).
    normal = rec.f >= 49.9 - 1e-4 if up else rec.f <= 50.1 + 1e-4
    pause = rec.f <= 49.8 if up else rec.f >= 50.2
    i0 = int(np.searchsorted(rec.t, r2.t0_s))
    t_run = None
    run_start = None
    for i in range(i0, rec.t.size):
        if not normal[i]:
            run_start = None
            continue
        run_start = rec.t[i] if run_start is None else run_start
        if rec.t[i] - run_start >= STATIC_DEACT_DELAY_S:
            t_run = float(run_start + STATIC_DEACT_DELAY_S)
            break
    if t_run is None:
        return _req(math.nan, STATIC_GRACE_S, "s", False,
                    "frequency never back in the normal band for 60 s", "<=")
    after = rec.t >= t_run
    dt = np.diff(rec.t, append=rec.t[-1] + rec.dt)
    grace = STATIC_GRACE_S + float(np.sum(dt[after & pause]))
    active = after & (np.abs(dp) > opt.deactivated_threshold * C)
    if active[-1]:
        return _req(math.nan, grace, "s", False,
                    f"still active ({dp[-1]:.3f} kW) at the end of the record, "
                    f"{rec.t[-1] - t_run:.0f} s after deactivation started", "<=")
    idx = np.flatnonzero(active)
    t_ready = float(rec.t[idx[-1] + 1]) if idx.size else t_run
    took = t_ready - t_run
    return _req(took, grace, "s", took <= grace,
                f"deactivation started at t = {t_run:.1f} s (60 s after f back in the normal "
                f"band); |ΔP| ≤ {opt.deactivated_threshold:.0%} of ΔP_theo after {took:.1f} s",
                "<=")


def _rate_limits(rec: _Record, dp: np.ndarray, t0: float, C: float) -> dict[str, Any]:
    """Req. 7: P(t−10) − P(t) ≤ 0.025·ΔP_theo·10 and P(t−1) − P(t) ≤ 0.2·ΔP_theo."""
    m = rec.t >= t0 + 1.0
    t = rec.t[m]
    drop1 = float(np.max(rec.at(dp, t - 1.0) - dp[m])) / C if t.size else math.nan
    m10 = rec.t >= t0 + 10.0
    t10 = rec.t[m10]
    drop10 = (float(np.max(rec.at(dp, t10 - 10.0) - dp[m10])) / (10.0 * C)
              if t10.size else math.nan)
    return {
        "req7_rate_10s": _req(drop10, STATIC_RATE_10S, "p.u./s of ΔP_theo",
                              drop10 <= STATIC_RATE_10S,
                              f"max 10 s average deactivation rate = {drop10 * 100:.2f} %/s "
                              "of ΔP_theo", "<="),
        "req7_step_1s": _req(drop1, STATIC_STEP_1S, "p.u. of ΔP_theo", drop1 <= STATIC_STEP_1S,
                             f"max decrease within 1 s = {drop1 * 100:.1f} % of ΔP_theo", "<="),
    }


# --------------------------------------------------------------------------------------------
# Linearity tests (§1.6, §1.7)
# --------------------------------------------------------------------------------------------


def linearity_band(product: str, f_Hz: Any, direction: str = "up") -> tuple[Any, Any]:
    """Allowed (lower, upper) activation in p.u. of |ΔP_theo| from the band corners.

    FCR-N (Table 8): up-positive activation; at exactly 50.00 Hz the union of both sides
    [−10 %, +10 %]. FCR-D (Table 9): activation magnitude in the product direction; for
    ``down`` the frequency is mirrored about 50 Hz. NaN outside the tabulated frequency range.
    """
    f = np.asarray(f_Hz, dtype=float)
    if product == "fcr-n":
        (fu0, lu0, hu0), (fu1, lu1, hu1) = LIN_CORNERS_FCRN
        (fd0, ld0, hd0), (fd1, ld1, hd1) = LIN_CORNERS_FCRN_DOWN
        lo = np.where(f < 50.0, np.interp(f, [fu0, fu1], [lu0, lu1]),
                      np.interp(f, [fd0, fd1], [ld0, ld1]))
        hi = np.where(f < 50.0, np.interp(f, [fu0, fu1], [hu0, hu1]),
                      np.interp(f, [fd0, fd1], [hd0, hd1]))
        at50 = np.isclose(f, 50.0, atol=1e-6)
        lo, hi = np.where(at50, ld0, lo), np.where(at50, hu1, hi)
        outside = (f < 49.9 - 1e-6) | (f > 50.1 + 1e-6)
    else:
        fe = f if direction_sign(product, direction) > 0 else 100.0 - f
        lo = np.interp(fe, *zip(*LIN_CORNERS_STATIC, strict=True), right=0.0)
        hi = np.interp(fe, *zip(*LIN_CORNERS_STATIC_UPPER, strict=True))
        outside = (fe < 49.5 - 1e-6) | (fe > 49.9 + 1e-6)
    return np.where(outside, np.nan, lo), np.where(outside, np.nan, hi)


def moving_average(t_s: np.ndarray, x: np.ndarray, window_s: float) -> np.ndarray:
    """Trailing moving average over ``window_s`` (exact for piecewise-linear x; shorter at the
    start of the record)."""
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (x[1:] + x[:-1]) * np.diff(t_s))])
    tb = np.maximum(t_s - window_s, t_s[0])
    span = t_s - tb
    avg = (cum - np.interp(tb, t_s, cum)) / np.where(span > 0, span, 1.0)
    return np.where(span > 0, avg, x)


def _eval_linearity(sig: TestSignal, rec: _Record, opt: EvalOptions) -> dict[str, Any]:
    ma = moving_average(rec.t, rec.a, opt.ma_window_s) / rec.C
    d = sig.direction if sig.direction != "both" else "up"
    rows: list[dict[str, Any]] = []
    worst, worst_name = math.inf, ""
    for seg in sig.segments:
        lo, hi = (float(v) for v in linearity_band(sig.product, seg.f_Hz, d))
        if math.isnan(lo):
            continue  # 49.91/50.09 Hz return step: deactivation, not a band point
        m = (rec.t >= seg.eval_t0_s) & (rec.t < seg.t1_s)
        if not rec.covers(seg.eval_t0_s, seg.t1_s) or not m.any():
            margin = math.nan
        else:
            margin = float(min(np.min(ma[m] - lo), np.min(hi - ma[m])))
        rows.append({"segment": seg.name, "f_Hz": seg.f_Hz, "lower": lo, "upper": hi,
                     "ma_min": _num(np.min(ma[m])) if m.any() else None,
                     "ma_max": _num(np.max(ma[m])) if m.any() else None,
                     "margin": _num(margin)})
        if math.isnan(margin) or margin < worst:
            worst, worst_name = margin, f"{seg.name} at {seg.f_Hz:.2f} Hz"
        if math.isnan(margin):
            worst_name += " (not recorded)"
            break
    step = "20 mHz" if sig.product == "fcr-n" else "100 mHz"
    reqs = {"linearity_band": _req(
        worst, 0.0, "p.u. of ΔP_theo", worst >= 0.0,
        f"{step} steps: smallest margin of the {opt.ma_window_s:g} s moving average to the "
        f"band corners = {worst:+.3f}·ΔP_theo ({worst_name}); {len(rows)} levels evaluated",
        ">=")}
    return {"requirements": reqs, "levels": rows}


# --------------------------------------------------------------------------------------------
# Sine tests, stability and performance (§1.8)
# --------------------------------------------------------------------------------------------


def _eval_sine(sig: TestSignal, rec: _Record, opt: EvalOptions) -> dict[str, Any]:
    df = FCRN_BAND_HZ if sig.product == "fcr-n" else FCRD_BAND_HZ
    rows: list[dict[str, Any]] = []
    F_list, w_list, ratios, missing = [], [], [], []
    dP = rec.P - rec.base  # consumption deviation: the ideal response is in phase with f
    for seg in (s for s in sig.segments if s.kind == "sine"):
        if not rec.covers(seg.eval_t0_s, seg.t1_s):
            missing.append(seg.name)
            continue
        m = (rec.t >= seg.eval_t0_s - 1e-9) & (rec.t < seg.t1_s - 1e-9)
        Xf, _, _ = fit_sine(rec.t[m], rec.f[m], seg.period_s)
        Xp, _, p_est = fit_sine(rec.t[m], dP[m], seg.period_s)
        w = 2.0 * np.pi / seg.period_s
        F = (Xp / Xf) * (df / rec.C)
        if opt.T_FME_s is not None:
            F = F / (1.0 + 1j * w * opt.T_FME_s)
        resid = math.sqrt(float(np.sum((dP[m] - p_est) ** 2)))
        spread = math.sqrt(float(np.sum((p_est - np.mean(p_est)) ** 2)))
        ratio = resid / spread if spread > 0 else math.inf
        F_list.append(F)
        w_list.append(w)
        ratios.append(ratio)
        rows.append({"period_s": seg.period_s, "n_periods": seg.n_eval_periods,
                     "A_f_Hz": abs(Xf), "A_P_kW": abs(Xp), "gain": abs(F),
                     "phase_deg": math.degrees(math.atan2(F.imag, F.real)),
                     "linearity_ratio": ratio})
    reqs: dict[str, Any] = {}
    if missing or not F_list:
        reqs["sine_periods_recorded"] = _req(
            len(missing), 0, "periods", False, f"sine periods not (fully) recorded: {missing}",
            "==")
        return {"requirements": reqs, "sine": rows}
    order = np.argsort(w_list)
    w = np.asarray(w_list)[order]
    F = np.asarray(F_list)[order]
    L = F * grid_model(sig.product, "stability", w)
    dist, left = stability_distance(L)
    r = STABILITY_RADIUS * STABILITY_MARGIN
    value = -dist if left else dist
    reqs["req8_stability"] = _req(
        value, r, "1", (not left) and dist > r,
        (f"Nyquist curve of F·G (stability case) passes LEFT of −1 (encircles it); distance "
         f"{dist:.3f}" if left else
         f"min distance of the Nyquist curve of F·G (stability case) from −1 = {dist:.3f}; "
         f"must exceed 0.43·0.95 = {r:.4f}"), ">")
    perf = _performance(sig.product, w, F)
    worst_T = 2 * np.pi / w[int(np.argmax(perf))]
    k_min = K_RED_MIN["fcr-n" if sig.product == "fcr-n" else "fcr-d"]
    k_dyn = 1.0 if perf.max() < 1.0 else _k_red_performance(sig.product, w, F, k_min)
    kd = _reduction(k_dyn if k_dyn is not None else 0.0, k_min, opt)
    perf_k = _performance(sig.product, w, F / kd) if kd < 1.0 else perf
    reqs["req9_performance"] = _req(
        float(perf_k.max()), 1.0, "1", bool(perf_k.max() < 1.0),
        f"max over periods of K_margin·|G/(1+F·G)|·|D| = {perf_k.max():.3f} (worst at T = "
        f"{worst_T:g} s)" + (f", with F/K_red,dyn, K_red,dyn = {kd:.3f}" if kd < 1.0 else ""),
        "<")
    lin = float(max(ratios))
    reqs["req10_dynamic_linearity"] = _req(
        lin, 1.0, "1", lin < 1.0,
        f"max over periods of √Σ(P − P_est)² / √Σ(P_est − mean)² = {lin:.3f}", "<")
    for row, Lk, pk in zip((rows[i] for i in order), L, perf, strict=True):
        row.update(nyquist_re=Lk.real, nyquist_im=Lk.imag, distance=abs(Lk + 1.0),
                   performance_ratio=float(pk))
    out: dict[str, Any] = {"requirements": reqs, "sine": [rows[i] for i in order],
                           "K_red_dyn": _num(k_dyn)}
    _add_reduction(out, 1.0, k_dyn if k_dyn is not None else math.nan, k_min, rec.C, opt,
                   "K_red,dyn (Req. 9)")
    return out


def _performance(product: str, w: np.ndarray, F: np.ndarray) -> np.ndarray:
    """K_margin·|G/(1+F·G)|·|D(jω)| per period (Req. 9 passes where < 1)."""
    G = grid_model(product, "performance", w)
    return K_MARGIN * np.abs(G / (1.0 + F * G)) * np.abs(disturbance_model(w))


def _k_red_performance(product: str, w: np.ndarray, F: np.ndarray,
                       k_min: float) -> float | None:
    """Largest K ≤ 1 (step 0.001) with Req. 9 met for F/K; None if none ≥ ``k_min``."""
    for k in np.arange(1.0, k_min - 1e-9, -0.001):
        if _performance(product, w, F / k).max() < 1.0:
            return float(round(k, 3))
    return None


# --------------------------------------------------------------------------------------------
# LER energy management (§1.9)
# --------------------------------------------------------------------------------------------


def _eval_ler(sig: TestSignal, rec: _Record, nem: Any, aem: Any) -> dict[str, Any]:
    if nem is None or aem is None:
        raise ValueError("the LER test needs nem_active and aem_active (bool per sample): the "
                         "verdict judges the energy management, which only they show")
    n = rec.t.size
    nem_b = _vec("nem_active", nem, n) > 0.5
    aem_b = _vec("aem_active", aem, n) > 0.5
    dt = np.diff(rec.t, append=rec.t[-1] + rec.dt)
    outside = (rec.f <= 49.9 + 1e-9) | (rec.f >= 50.1 - 1e-9)
    bad = float(np.sum(dt[nem_b & outside]))
    reqs: dict[str, Any] = {
        "ler_nem_only_in_normal_band": _req(
            bad, 0.0, "s", bad == 0.0,
            f"NEM active for {bad:.1f} s while f outside 49.9–50.1 Hz", "<="),
        "ler_nem_engaged": _req(float(np.sum(dt[nem_b])), 0.0, "s", bool(nem_b.any()),
                                "time with NEM active (the sequence must trigger it)", ">"),
        "ler_aem_engaged": _req(float(np.sum(dt[aem_b])), 0.0, "s", bool(aem_b.any()),
                                "time with AEM active (the sequence must trigger it)", ">"),
        "ler_recovered": _req(float(nem_b[-1] or aem_b[-1]), 0.0, "1",
                              not (nem_b[-1] or aem_b[-1]),
                              "NEM and AEM both off at the end of the sequence", "=="),
    }
    # Steady-state droop in the steps where AEM is off (NEM only shifts the baseline, which
    # P_base_kW must include: CalcBaseline).
    worst, where = math.inf, ""
    for seg in sig.segments:
        m = (rec.t >= seg.eval_t0_s) & (rec.t < seg.t1_s)
        if not m.any() or aem_b[m].any():
            continue
        theo = abs(seg.activation_frac) * rec.C
        if theo == 0.0:
            continue
        got = float(np.mean(rec.a[m])) * math.copysign(1.0, seg.activation_frac * rec.sign)
        dev = (got - theo) / theo
        margin = min(dev - SS_BAND_FCRN[0], SS_BAND_FCRN[1] - dev)
        if margin < worst:
            worst, where = margin, f"{seg.name} at {seg.f_Hz:.2f} Hz: {dev:+.3f}"
    if math.isfinite(worst):
        reqs["ler_steady_state"] = _req(
            worst, 0.0, "p.u. of ΔP_theo", worst >= 0.0,
            f"worst margin to the −5 %/+20 % band in steps without AEM ({where})", ">=")
    return {"requirements": reqs}


# --------------------------------------------------------------------------------------------
# TSO-format CSV files (§1.2)
# --------------------------------------------------------------------------------------------

TSO_SERVICE: Mapping[str, str] = {"fcr-n": "Fcrn", "fcr-d-up": "FcrdUp", "fcr-d-down": "FcrdDo"}
TSO_TEST_TYPE: Mapping[str, str] = {"step": "Step", "ramp": "Ramp", "linearity": "Linearity",
                                    "sine": "Sine", "ler": "Ler"}
_SVC = ("Fcrn", "FcrdUp", "FcrdDo")
TSO_HEADERS: frozenset[str] = frozenset(
    ["InsAcPow", "GridFreq", "ApplFreqSig", "CalcBaseline", "Pmin", "Pmax", "ContOutSig",
     "ContSetP", "SOC", "AmbTemp"]
    + [f"{p}_{s}" for p in ("ContMode", "Cap", "ContStatus", "RegStr", "Activated", "ResSize",
                            "NEM_MW", "NEM", "AEM") for s in _SVC])
"""Signal headers of Tables 18/19 (§1.2); power-like signals are in MW."""
MAX_SAMPLING_PERIOD_S: Mapping[str, float] = {"Fcrn": 0.2, "FcrdUp": 0.1, "FcrdDo": 0.1}
"""Test logging rate ≥ 5 Hz (FCR-N) / ≥ 10 Hz (FCR-D)."""
TIMEZONES: Mapping[str, timedelta] = {"UTC": timedelta(0), "CET": timedelta(hours=1)}


def tso_service(product: str, direction: str = "up") -> str:
    """``Fcrn`` / ``FcrdUp`` / ``FcrdDo`` of the file name."""
    if product == "fcr-d-static":
        return "FcrdUp" if direction_sign(product, direction) > 0 else "FcrdDo"
    if product not in TSO_SERVICE:
        raise ValueError(f"product={product!r} is not allowed; use one of "
                         "fcr-n, fcr-d-up, fcr-d-down, fcr-d-static")
    return TSO_SERVICE[product]


def tso_signals(product: str, *, f_applied_Hz: Any, P_kW: Any, P_base_kW: Any | None = None,
                f_grid_Hz: Any | None = None, C_kW: float | None = None,
                direction: str = "up") -> dict[str, np.ndarray]:
    """Core TSO signals from heatflex signals: powers kW consumption-positive → MW with absorbed
    power NEGATIVE (InsAcPow, CalcBaseline), frequencies in Hz, Cap_* in MW, and the activated
    power Activated_* (MW, positive in the product direction; FCR-N up-positive)."""
    f = np.asarray(f_applied_Hz, float)
    P = np.broadcast_to(np.asarray(P_kW, float), f.shape)
    svc = tso_service(product, direction)
    out: dict[str, np.ndarray] = {
        "InsAcPow": -P / 1000.0,
        "GridFreq": np.broadcast_to(np.asarray(f if f_grid_Hz is None else f_grid_Hz, float),
                                    f.shape).copy(),
        "ApplFreqSig": f.copy(),
    }
    if P_base_kW is not None:
        base = np.broadcast_to(np.asarray(P_base_kW, float), f.shape)
        out["CalcBaseline"] = -base / 1000.0
        s = direction_sign(product, direction)
        out[f"Activated_{svc}"] = s * (base - P) / 1000.0
    if C_kW is not None:
        out[f"Cap_{svc}"] = np.full(f.shape, C_kW / 1000.0)
    return out


def tso_file_name(resource: str, service: str, test_type: str, area: str, timezone: str,
                  start: datetime, end: datetime, sampling_period_s: float) -> str:
    """``[Resource]_[Service]_[TestType]_[Area]_[Timezone]_[Interval]_[SamplingRate].csv``."""
    for name, v in (("resource", resource), ("test_type", test_type), ("area", area)):
        if not re.fullmatch(r"[A-Za-z0-9-]+", v):
            raise ValueError(f"{name}={v!r} must be letters, digits or '-' (the file name uses "
                             "'_' as separator)")
    if service not in _SVC:
        raise ValueError(f"service={service!r} is not allowed; use one of {', '.join(_SVC)}")
    ms = sampling_period_s * 1000.0
    if abs(ms - round(ms)) > 1e-6 or round(ms) < 1:
        raise ValueError(f"sampling_period_s={sampling_period_s!r} must be a whole number of ms")
    interval = f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    return f"{resource}_{service}_{test_type}_{area}_{timezone}_{interval}_{round(ms)}ms.csv"


def write_tso_csv(out_dir: str | Path, signals: Mapping[str, Any], *, t_s: Any,
                  start_utc: datetime, resource: str, product: str, test_type: str,
                  area: str = "DK2", timezone: str = "UTC", direction: str = "up",
                  sampling_period_s: float | None = None, sine_period_s: float | None = None,
                  overwrite: bool = False) -> Path:
    """Write one TSO-format test log (§1.2) and return its path.

    ASCII, comma delimiter, point decimals, CRLF line ends; first column ``DateTime`` as
    ``YYYYMMDDThhmmss.nnn`` (``start_utc + t_s`` in ``timezone``: UTC or CET = UTC+1). Columns
    are the ``signals`` (headers from :data:`TSO_HEADERS`, TSO units and signs — see
    :func:`tso_signals`) with 6 decimals (≥ 3 required). The samples are taken at
    ``sampling_period_s`` (default: the record's own period) by sample-and-hold; it must meet
    the test logging rate (≤ 0.2 s FCR-N, ≤ 0.1 s FCR-D). A sine test goes in its own file with
    ``sine_period_s`` appended to every header (``DateTime40``, ``InsAcPow40``, …).
    """
    t = _vec("t_s", t_s)
    if t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError("t_s must hold ≥ 2 strictly increasing times, s")
    if start_utc.tzinfo is None:
        raise ValueError(f"start_utc={start_utc!r} must be timezone-aware (UTC)")
    if timezone not in TIMEZONES:
        raise ValueError(f"timezone={timezone!r} is not allowed; use UTC or CET")
    svc = tso_service(product, direction)
    unknown = sorted(set(signals) - TSO_HEADERS)
    if unknown:
        raise ValueError(f"signals {unknown} are not TSO headers (Tables 18/19): "
                         f"{', '.join(sorted(TSO_HEADERS))}")
    for req in ("InsAcPow", "GridFreq", "ApplFreqSig"):
        if req not in signals:
            raise ValueError(f"signals must contain {req!r} (core TSO signal)")
    period = float(np.median(np.diff(t))) if sampling_period_s is None else sampling_period_s
    period = round(period, 6)
    if not period <= MAX_SAMPLING_PERIOD_S[svc] + 1e-9:
        raise ValueError(f"sampling_period_s={period!r} is too slow for {svc}: the test logging "
                         f"rate must be ≥ {1 / MAX_SAMPLING_PERIOD_S[svc]:g} Hz")
    n = int(math.floor((t[-1] - t[0]) / period + 1e-6)) + 1
    tq = t[0] + np.arange(n) * period
    idx = np.clip(np.searchsorted(t, tq + 1e-9, side="right") - 1, 0, t.size - 1)
    cols = {k: _vec(k, v, t.size)[idx] for k, v in signals.items()}
    t0 = start_utc.astimezone(UTC).replace(tzinfo=None) + TIMEZONES[timezone]
    stamps = [t0 + timedelta(milliseconds=round(x * 1000.0)) for x in tq]
    end = stamps[-1] + timedelta(milliseconds=round(period * 1000.0))
    end_min = end.replace(second=0, microsecond=0)
    if end_min < end:
        end_min += timedelta(minutes=1)
    name = tso_file_name(resource, svc, test_type, area, timezone,
                         stamps[0].replace(second=0, microsecond=0), end_min, period)
    path = Path(out_dir) / name
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    suffix = "" if sine_period_s is None else f"{sine_period_s:g}"
    header = ",".join(f"{h}{suffix}" for h in ["DateTime", *cols])
    data = np.column_stack(list(cols.values()))
    lines = [header]
    for ts, row in zip(stamps, data, strict=True):
        ds = f"{ts:%Y%m%dT%H%M%S}.{ts.microsecond // 1000:03d}"
        lines.append(ds + "," + ",".join(f"{v:.6f}" for v in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
    return path


def write_tso_files(out_dir: str | Path, signal: TestSignal, signals: Mapping[str, Any], *,
                    t_s: Any, start_utc: datetime, resource: str, area: str = "DK2",
                    timezone: str = "UTC", sampling_period_s: float | None = None,
                    overwrite: bool = False) -> list[Path]:
    """The TSO files of one test: one file, or for a sine test one file per period (its
    transient and stationary periods, with the period appended to the headers)."""
    t = _vec("t_s", t_s)
    d = signal.direction if signal.direction in ("up", "down") else "up"
    kw: dict[str, Any] = dict(start_utc=start_utc, resource=resource, product=signal.product,
                              test_type=TSO_TEST_TYPE[signal.test], area=area,
                              timezone=timezone, direction=d,
                              sampling_period_s=sampling_period_s, overwrite=overwrite)
    if signal.test != "sine":
        return [write_tso_csv(out_dir, signals, t_s=t, **kw)]
    paths = []
    for seg in (s for s in signal.segments if s.kind == "sine"):
        m = (t >= seg.t0_s - 1e-9) & (t < seg.t1_s - 1e-9)
        sub = {k: _vec(k, v, t.size)[m] for k, v in signals.items()}
        paths.append(write_tso_csv(out_dir, sub, t_s=t[m], sine_period_s=seg.period_s, **kw))
    return paths


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _ss(sig: TestSignal, rec: _Record, name: str) -> float:
    seg = sig.segment(name)
    return rec.mean(rec.a, seg.eval_t0_s, seg.t1_s)


def _reduction(k: float, k_min: float, opt: EvalOptions) -> float:
    """The factor applied to ΔP_theo: K if reductions are allowed and K is in [k_min, 1)."""
    if opt.allow_reduction and math.isfinite(k) and k_min <= k < 1.0:
        return float(k)
    return 1.0


def _add_reduction(out: dict[str, Any], k_ss: float, k_dyn: float, k_min: float, C: float,
                   opt: EvalOptions, what: str) -> None:
    """Add the K_red requirement (only when reductions are allowed) and the capacity."""
    k = min(k_ss, k_dyn)
    k_eff = k if opt.allow_reduction and math.isfinite(k) else 1.0
    k_eff = min(k_eff, 1.0)
    out["capacity_kW"] = C
    if opt.allow_reduction:
        ok = math.isfinite(k) and k >= k_min
        out["requirements"]["k_red"] = _req(
            k, k_min, "1", ok, f"{what} = {k:.3f}; the reference allows ≥ {k_min}", ">=")
        out["K_red"] = _num(min(k_eff, 1.0))
        out["qualified_capacity_kW"] = k_eff * C if ok else 0.0


def _band(value: float, band: tuple[float, float], detail: str) -> dict[str, Any]:
    lo, hi = band
    eps = 1e-9  # a value reduced exactly onto a band edge (K_red) must pass
    return _req(value, [lo, hi], "p.u. of ΔP_theo", lo - eps <= value <= hi + eps,
                f"{detail}: relative deviation {value:+.3f}, allowed [{lo:+.2f}, {hi:+.2f}]",
                "in")


def _req(value: float, limit: Any, unit: str, ok: Any, detail: str, op: str) -> dict[str, Any]:
    v = _num(value)
    return {"value": v, "limit": limit, "unit": unit, "pass": bool(ok) and v is not None,
            "detail": detail, "comparison": op}


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _finish(sig: TestSignal, rec: _Record, out: dict[str, Any]) -> dict[str, Any]:
    reqs = out["requirements"]
    failed = [k for k, r in reqs.items() if not r["pass"]]
    res: dict[str, Any] = {"product": sig.product, "test": sig.test,
                           "direction": sig.direction, "pass": not failed, "failed": failed}
    res.update(out)
    if not failed and "K_red" not in res:
        res["K_red"] = 1.0
    return res


def _vec(name: str, x: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if n is not None:
        if a.ndim == 0:
            a = np.full(n, float(a))
        if a.shape != (n,):
            raise ValueError(f"{name} has shape {a.shape}; expected a scalar or ({n},)")
    elif a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


__all__: Sequence[str] = (
    "EvalOptions", "evaluate", "combine", "grid_model", "disturbance_model", "fit_sine",
    "stability_distance", "linearity_band", "moving_average", "tso_service", "tso_signals",
    "tso_file_name", "write_tso_csv", "write_tso_files",
)

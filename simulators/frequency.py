"""Nordic grid frequency: dynamic single-bus swing model and measured/test-profile replay.

Pure model core (no co-simulation imports).  Two cores with the same outputs:

* :class:`NordicFrequency` (*dynamic* mode) — the aggregated single-bus swing equation of the
  Nordic synchronous area with load self-regulation, the conventional FCR-N / FCR-D of the rest of
  the system, a seeded stochastic load–generation imbalance, scheduled dimensioning incidents and
  the aggregated response of the simulated heat pumps fed back into the frequency::

      2·E_k/f0 · dΔf/dt = P_fcr_n + P_fcr_d_up − P_fcr_d_down + P_hp + P_imb − K_f·S_n·Δf

  (Δf = f − f0 in Hz, powers in MW, E_k in MWs).  Parameters from the TSOs' requirement model
  (reference §1.1, §1.8 Table 7, §2): E_k = 190 GWs / S_n = 42 GW ("performance") or
  120 GWs / 23 GW ("stability"), K_f = 0.01 pu/Hz, FCR-N 600 MW, FCR-D 1450 MW up / 1400 MW down.

* :class:`FrequencyProfile` (*profile* mode) — replays a (t_s, f_Hz) series (measured data read by
  :func:`read_frequency_csv`, or the prequalification test signals of
  ``simulators/fcr_programme.py`` handed over as plain arrays).

Both cores step as ``step(dt_s, ...) -> dict`` and return plain Python floats (a single system,
not a fleet): ``f_Hz`` (end of the step), ``rocof_Hz_per_s`` ((f_end − f_start)/dt_s),
``imbalance_MW``, ``fcr_n_activation_frac`` (−1..1, positive = upward regulation, i.e. f below
50 Hz), ``fcr_d_up_activation_frac`` and ``fcr_d_down_activation_frac`` (0..1).  Activation shares
are the static FCR characteristics (reference §1.1) evaluated at the end-of-step frequency.

Calibration of the stochastic imbalance (see :data:`CALIBRATION_TARGET`): the reference has no
published share of time outside 49.9–50.1 Hz (§2 [GAP]); the target used here is a standard
deviation of f of ≈ 45 mHz and ≈ 2.5 % of the time outside the normal band, which is the
order of magnitude of the Nordic system in the late 2010s (Fingrid frequency-quality reports,
≈ 10 000–15 000 min/yr outside the band, [R] recalled) and within the SOGL Annex III Nordic
target of ≤ 15 000 min/yr = 2.9 % (reference §2, [R]).  It can be recomputed from Fingrid's 10 Hz
open data or the DTU 2019 data set with :func:`read_frequency_csv` + :func:`frequency_statistics`.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "F0_HZ",
    "FCR_N_BAND_HZ",
    "FCR_D_START_HZ",
    "FCR_D_FULL_HZ",
    "PERFORMANCE_CASE",
    "STABILITY_CASE",
    "CALIBRATION_TARGET",
    "fcr_activation",
    "NordicFrequency",
    "FrequencyProfile",
    "FrequencySeries",
    "read_frequency_csv",
    "frequency_statistics",
]

F0_HZ: float = 50.0
"""Nominal frequency of the Nordic synchronous area, Hz."""

FCR_N_BAND_HZ: float = 0.1
"""FCR-N: linear over ±100 mHz around 50.0 Hz, full activation at 49.9 / 50.1 Hz (§1.1)."""

FCR_D_START_HZ: float = 0.1
FCR_D_FULL_HZ: float = 0.5
"""FCR-D up: 0 % at f ≥ 49.9 Hz, 100 % at f ≤ 49.5 Hz; FCR-D down mirrored (50.1 → 50.5 Hz)."""

_FCR_D_SPAN_HZ: float = FCR_D_FULL_HZ - FCR_D_START_HZ

PERFORMANCE_CASE: dict[str, float] = {"E_k_MWs": 190_000.0, "S_n_MW": 42_000.0}
"""Table 7 "performance" case (§1.8): E_k = 190 GWs, S_n = 42 GW (H = 4.52 s)."""

STABILITY_CASE: dict[str, float] = {"E_k_MWs": 120_000.0, "S_n_MW": 23_000.0}
"""Table 7 "stability" case (§1.8): E_k = 120 GWs, S_n = 23 GW (H = 5.22 s)."""

CALIBRATION_TARGET: dict[str, tuple[float, float]] = {
    "std_f_Hz": (0.035, 0.055),
    "share_outside_normal_band": (0.01, 0.05),
}
"""Accepted band of the noise statistics of a 6-hour run of the dynamic model (defaults).

Target (centre): σ_f ≈ 45 mHz and ≈ 2.5 % of the time outside 49.9–50.1 Hz.  Reference §2 marks
the share outside the band as [GAP]; the order of magnitude is that of the Nordic system in the
2010s — Fingrid's frequency-quality reports give ≈ 10 000–15 000 min/yr outside the band ([R],
recalled, ≈ 2–3 %), the SOGL Annex III Nordic target is ≤ 15 000 min/yr = 2.9 % (§2, [R]); a
Gaussian with σ = 45 mHz has 2.6 % outside ±100 mHz.  With the defaults, six 6-hour runs (seeds
0–5) gave σ_f = 40.0–45.0 mHz and 1.7–3.1 % outside; the band allows for that window-to-window
spread.  Replace by figures computed from Fingrid's 10 Hz data when available."""

_EPS_T: float = 1e-9  # time tolerance for scheduled events, s


def fcr_activation(f_Hz: float) -> tuple[float, float, float]:
    """Static FCR characteristics at frequency ``f_Hz`` (§1.1).

    Returns ``(fcr_n, fcr_d_up, fcr_d_down)``: FCR-N in −1..1 (positive = upward regulation,
    f < 50 Hz), FCR-D up and down in 0..1 (linear 49.9→49.5 Hz and 50.1→50.5 Hz, saturated)."""
    df = f_Hz - F0_HZ
    n = -df / FCR_N_BAND_HZ
    n = 1.0 if n > 1.0 else (-1.0 if n < -1.0 else n)
    up = (-df - FCR_D_START_HZ) / _FCR_D_SPAN_HZ
    up = 0.0 if up < 0.0 else (1.0 if up > 1.0 else up)
    down = (df - FCR_D_START_HZ) / _FCR_D_SPAN_HZ
    down = 0.0 if down < 0.0 else (1.0 if down > 1.0 else down)
    return n, up, down


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (≥ 0 with allow_zero), else ValueError naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: allowed: a finite number") from None
    ok = math.isfinite(v) and (v >= 0.0 if allow_zero else v > 0.0)
    if not ok:
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r}: allowed: a finite number {rule}")
    return v


def _finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: allowed: a finite number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r}: allowed: a finite number")
    return v


# ------------------------------------------------------------------------------------------------
# Dynamic mode
# ------------------------------------------------------------------------------------------------


class NordicFrequency:
    """Aggregated single-bus swing model of the Nordic grid frequency (scalar, one system).

    Args (units in the names; defaults = Table 7 performance case and §1.1 volumes):
        E_k_MWs: kinetic energy of the rotating masses, MWs (190 000; 120 000 = stability case).
        S_n_MW: system size (load) used for the self-regulation K_f·S_n, MW (42 000 / 23 000).
        K_f_per_Hz: load self-regulation, fraction of S_n per Hz (0.01, §2).
        f0_Hz: nominal frequency (50).
        fcr_n_MW: conventional FCR-N capacity of the rest of the system, MW (600, §1.1).
        fcr_d_up_MW / fcr_d_down_MW: FCR-D capacities, MW (1450 / 1400, §1.1 [S10]).
        T_fcr_n_s: first-order time constant of the aggregated conventional FCR-N, s (10).
            [choice] Mostly hydro governors; the legacy Nordic requirement (63 % within 60 s)
            bounds it from above.  10 s gives a lightly damped (ζ ≈ 0.27) ≈ 20 s mode and a
            nadir of 49.83 Hz after a 400 MW trip at 190 GWs.
        T_fcr_d_s: first-order time constant of conventional FCR-D, s (3.5).  [choice] Meets the
            2023 requirement for a step (ΔP(7.5 s) = 0.88 ≥ 0.86, E(7.5 s) = 4.4 s ≥ 3.2 s of
            ΔP_theo); nadir after a 1450 MW trip 49.43 Hz (190 GWs) / 49.22 Hz (120 GWs).
        fcr_n_rate_MW_per_s / fcr_d_rate_MW_per_s: optional ramp-rate limits of the conventional
            response, MW/s (None = no limit).
        noise: enable the stochastic imbalance (False = deterministic, for analytic checks).
        imbalance_std_MW / imbalance_tau_s: slow Ornstein–Uhlenbeck imbalance (stationary std,
            correlation time), MW / s.  Calibrated (see :data:`CALIBRATION_TARGET`).
        fast_std_MW / fast_tau_s: fast OU component (load noise, seconds), MW / s.
        schedule_std_MW / schedule_period_s / schedule_ramp_s: market-period steps: at every
            period boundary a new level ~ N(0, std) is drawn and ramped to over ``ramp_s``
            (15-min MTU since 2025; the ramp models the schedule ramping of generators).
        incidents: scheduled dimensioning incidents ``(t_s, P_lost_MW)``: from t_s on,
            P_lost_MW of generation is missing (> 0 → frequency falls; < 0 = loss of load).
            Incidents persist (no FRR restores them, see docs).
        seed: int seed or a ``np.random.Generator`` for the stochastic imbalance.
        f_init_Hz: initial frequency (the FCR start at their static response to it).
        max_substep_s: internal integration step; larger dt_s are sub-stepped (0.1 s).

    ``step(dt_s, P_hp_response_MW=0.0)``: ``P_hp_response_MW`` > 0 means the heat-pump fleet
    reduces its consumption (helps when f is low); an array is summed (per-unit contributions).
    """

    needs_time = False

    def __init__(
        self,
        E_k_MWs: float = PERFORMANCE_CASE["E_k_MWs"],
        S_n_MW: float = PERFORMANCE_CASE["S_n_MW"],
        K_f_per_Hz: float = 0.01,
        f0_Hz: float = F0_HZ,
        fcr_n_MW: float = 600.0,
        fcr_d_up_MW: float = 1450.0,
        fcr_d_down_MW: float = 1400.0,
        T_fcr_n_s: float = 10.0,
        T_fcr_d_s: float = 3.5,
        fcr_n_rate_MW_per_s: float | None = None,
        fcr_d_rate_MW_per_s: float | None = None,
        noise: bool = True,
        imbalance_std_MW: float = 200.0,
        imbalance_tau_s: float = 300.0,
        fast_std_MW: float = 25.0,
        fast_tau_s: float = 5.0,
        schedule_std_MW: float = 155.0,
        schedule_period_s: float = 900.0,
        schedule_ramp_s: float = 300.0,
        incidents: Iterable[tuple[float, float]] = (),
        seed: int | np.random.Generator = 0,
        f_init_Hz: float | None = None,
        max_substep_s: float = 0.1,
    ) -> None:
        self.E_k_MWs = _positive("E_k_MWs", E_k_MWs)
        self.S_n_MW = _positive("S_n_MW", S_n_MW)
        self.K_f_per_Hz = _positive("K_f_per_Hz", K_f_per_Hz, allow_zero=True)
        self.f0_Hz = _positive("f0_Hz", f0_Hz)
        self.fcr_n_MW = _positive("fcr_n_MW", fcr_n_MW, allow_zero=True)
        self.fcr_d_up_MW = _positive("fcr_d_up_MW", fcr_d_up_MW, allow_zero=True)
        self.fcr_d_down_MW = _positive("fcr_d_down_MW", fcr_d_down_MW, allow_zero=True)
        self.T_fcr_n_s = _positive("T_fcr_n_s", T_fcr_n_s, allow_zero=True)
        self.T_fcr_d_s = _positive("T_fcr_d_s", T_fcr_d_s, allow_zero=True)
        self.fcr_n_rate_MW_per_s = (math.inf if fcr_n_rate_MW_per_s is None else
                                    _positive("fcr_n_rate_MW_per_s", fcr_n_rate_MW_per_s))
        self.fcr_d_rate_MW_per_s = (math.inf if fcr_d_rate_MW_per_s is None else
                                    _positive("fcr_d_rate_MW_per_s", fcr_d_rate_MW_per_s))
        self.noise = bool(noise)
        self.imbalance_std_MW = _positive("imbalance_std_MW", imbalance_std_MW, allow_zero=True)
        self.imbalance_tau_s = _positive("imbalance_tau_s", imbalance_tau_s)
        self.fast_std_MW = _positive("fast_std_MW", fast_std_MW, allow_zero=True)
        self.fast_tau_s = _positive("fast_tau_s", fast_tau_s)
        self.schedule_std_MW = _positive("schedule_std_MW", schedule_std_MW, allow_zero=True)
        self.schedule_period_s = _positive("schedule_period_s", schedule_period_s)
        self.schedule_ramp_s = _positive("schedule_ramp_s", schedule_ramp_s, allow_zero=True)
        if self.schedule_ramp_s > self.schedule_period_s:
            raise ValueError(f"schedule_ramp_s={schedule_ramp_s!r}: allowed: <= schedule_period_s"
                             f" ({self.schedule_period_s})")
        self.max_substep_s = _positive("max_substep_s", max_substep_s)
        if isinstance(seed, np.random.Generator):
            self._rng = seed
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            self._rng = np.random.default_rng(int(seed))
        else:
            raise ValueError(f"seed={seed!r}: allowed: an integer >= 0 or a numpy Generator")

        # Derived coefficients (MW·s/Hz, MW/Hz)
        self.M_MWs_per_Hz = 2.0 * self.E_k_MWs / self.f0_Hz
        self.D_load_MW_per_Hz = self.K_f_per_Hz * self.S_n_MW
        self._kn = self.fcr_n_MW / FCR_N_BAND_HZ  # MW/Hz in the FCR-N band
        self._kdu = self.fcr_d_up_MW / _FCR_D_SPAN_HZ
        self._kdd = self.fcr_d_down_MW / _FCR_D_SPAN_HZ

        # State
        self._t = 0.0
        self._incidents: list[tuple[float, float]] = []
        self._inc_i = 0
        self._P_incident = 0.0
        for inc in incidents:
            self.add_incident(*inc)
        f_start = self.f0_Hz if f_init_Hz is None else _positive("f_init_Hz", f_init_Hz)
        self._df = f_start - self.f0_Hz
        tn, tu, td = self._targets(self._df)
        self._Pn, self._Pu, self._Pd = tn, tu, td
        self._x_slow = 0.0
        self._x_fast = 0.0
        self._sched_old = 0.0
        self._sched_new = 0.0
        self._sched_tb = 0.0  # start time of the current ramp
        self._sched_next = 0.0 if (self.noise and self.schedule_std_MW > 0.0) else math.inf
        self._z: list[float] = []
        self._zi = 0
        self._P_imb = 0.0
        self._dt = -1.0
        self._nsub = 1
        self._h = 0.0

    # -- configuration -----------------------------------------------------------------------

    def add_incident(self, t_s: float, P_lost_MW: float) -> None:
        """Schedule an incident: from ``t_s`` on, ``P_lost_MW`` of generation is missing."""
        t = _finite("incident t_s", t_s)
        p = _finite("incident P_lost_MW", P_lost_MW)
        if t < self._t - _EPS_T:
            raise ValueError(f"incident t_s={t_s!r}: allowed: >= the current time {self._t}")
        pending = self._incidents[self._inc_i:] + [(t, p)]
        pending.sort(key=lambda x: x[0])
        self._incidents = self._incidents[: self._inc_i] + pending

    @property
    def t_s(self) -> float:
        """Simulated time since the start, s."""
        return self._t

    @property
    def f_Hz(self) -> float:
        """Current frequency, Hz."""
        return self.f0_Hz + self._df

    def regulating_strength_MW_per_Hz(self, df_Hz: float) -> float:
        """Incremental FCR regulating strength (MW/Hz, without load) at deviation ``df_Hz``.

        FCR-N contributes fcr_n_MW/0.1 Hz inside ±0.1 Hz, FCR-D fcr_d_MW/0.4 Hz between 0.1 and
        0.5 Hz; outside these bands the response is saturated (0 MW/Hz)."""
        a = abs(df_Hz)
        k = self._kn if a < FCR_N_BAND_HZ else 0.0
        if FCR_D_START_HZ < a < FCR_D_FULL_HZ:
            k += self._kdu if df_Hz < 0.0 else self._kdd
        return k

    # -- internals ---------------------------------------------------------------------------

    def _targets(self, df: float) -> tuple[float, float, float]:
        """Static FCR-N, FCR-D up and FCR-D down power (MW) at deviation df (Hz)."""
        n, up, down = fcr_activation(F0_HZ + df)
        return self.fcr_n_MW * n, self.fcr_d_up_MW * up, self.fcr_d_down_MW * down

    def _set_dt(self, dt_s: float) -> None:
        """Sub-step count and the exact discrete coefficients for a new step size."""
        if not (isinstance(dt_s, (int, float)) and math.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s={dt_s!r}: allowed: a finite number > 0 (seconds)")
        n = max(1, math.ceil(dt_s / self.max_substep_s - 1e-9))
        h = dt_s / n
        self._dt, self._nsub, self._h = dt_s, n, h
        self._cn = 1.0 - math.exp(-h / self.T_fcr_n_s) if self.T_fcr_n_s > 0 else 1.0
        self._cd = 1.0 - math.exp(-h / self.T_fcr_d_s) if self.T_fcr_d_s > 0 else 1.0
        self._rn = self.fcr_n_rate_MW_per_s * h
        self._rd = self.fcr_d_rate_MW_per_s * h
        self._hM = h / self.M_MWs_per_Hz
        self._den = 1.0 + h * self.D_load_MW_per_Hz / self.M_MWs_per_Hz
        a1 = math.exp(-h / self.imbalance_tau_s)
        a2 = math.exp(-h / self.fast_tau_s)
        on = 1.0 if self.noise else 0.0
        self._a1, self._b1 = a1, on * self.imbalance_std_MW * math.sqrt(1.0 - a1 * a1)
        self._a2, self._b2 = a2, on * self.fast_std_MW * math.sqrt(1.0 - a2 * a2)

    def _refill(self) -> None:
        """Pre-draw a block of standard normals (plain floats) for the OU updates."""
        self._z = self._rng.standard_normal(8192).tolist()
        self._zi = 0

    def _as_MW(self, value: Any) -> float:
        if isinstance(value, (int, float)):
            v = float(value)
        else:
            arr = np.asarray(value, dtype=float)
            v = float(arr.sum())
        if not math.isfinite(v):
            raise ValueError(f"P_hp_response_MW={value!r}: allowed: finite MW")
        return v

    # -- step ----------------------------------------------------------------------------------

    def step(self, dt_s: float, P_hp_response_MW: Any = 0.0) -> dict[str, float]:
        """Advance by ``dt_s`` seconds; returns end-of-step frequency and FCR activation shares.

        ``imbalance_MW`` is the uncontrolled generation − load imbalance at the end of the step
        (stochastic part − lost generation), i.e. before FCR, load self-regulation and the
        heat-pump response."""
        if dt_s != self._dt:
            self._set_dt(dt_s)
        p_hp = P_hp_response_MW
        if type(p_hp) is not float or p_hp != p_hp or p_hp in (math.inf, -math.inf):
            p_hp = self._as_MW(p_hp)
        noise = self.noise
        h = self._h
        cn, cd, rn, rd = self._cn, self._cd, self._rn, self._rd
        kn, kdu, kdd = self.fcr_n_MW, self.fcr_d_up_MW, self.fcr_d_down_MW
        hM, den = self._hM, self._den
        df = self._df
        pn, pu, pd = self._Pn, self._Pu, self._Pd
        x1, x2 = self._x_slow, self._x_fast
        a1, b1, a2, b2 = self._a1, self._b1, self._a2, self._b2
        t0 = self._t
        df_start = df
        p_imb = self._P_imb
        inc_t = self._incidents[self._inc_i][0] if self._inc_i < len(self._incidents) else math.inf
        for k in range(self._nsub):
            t = t0 + k * h
            if t >= inc_t - _EPS_T:
                while self._inc_i < len(self._incidents) and \
                        self._incidents[self._inc_i][0] <= t + _EPS_T:
                    self._P_incident += self._incidents[self._inc_i][1]
                    self._inc_i += 1
                inc_t = (self._incidents[self._inc_i][0] if self._inc_i < len(self._incidents)
                         else math.inf)
            if noise:
                i = self._zi
                if i + 2 > len(self._z):
                    self._refill()
                    i = 0
                z = self._z
                x1 = a1 * x1 + b1 * z[i]
                x2 = a2 * x2 + b2 * z[i + 1]
                self._zi = i + 2
                if t >= self._sched_next - _EPS_T:
                    self._new_schedule(t)
                tr = t - self._sched_tb
                ramp = self.schedule_ramp_s
                if tr >= ramp:
                    sched = self._sched_new
                else:
                    sched = self._sched_old + (self._sched_new - self._sched_old) * (tr / ramp)
                p_imb = x1 + x2 + sched - self._P_incident
            else:
                p_imb = -self._P_incident
            # static FCR targets at the current deviation
            a = -df / FCR_N_BAND_HZ
            tn = kn if a >= 1.0 else (-kn if a <= -1.0 else kn * a)
            tu = td = 0.0
            if df < -FCR_D_START_HZ:
                a = (-df - FCR_D_START_HZ) / _FCR_D_SPAN_HZ
                tu = kdu if a >= 1.0 else kdu * a
            elif df > FCR_D_START_HZ:
                a = (df - FCR_D_START_HZ) / _FCR_D_SPAN_HZ
                td = kdd if a >= 1.0 else kdd * a
            # first-order lags with optional rate limits
            d = (tn - pn) * cn
            pn += d if -rn <= d <= rn else (rn if d > 0 else -rn)
            d = (tu - pu) * cd
            pu += d if -rd <= d <= rd else (rd if d > 0 else -rd)
            d = (td - pd) * cd
            pd += d if -rd <= d <= rd else (rd if d > 0 else -rd)
            # swing equation, load self-regulation implicit
            df = (df + hM * (pn + pu - pd + p_hp + p_imb)) / den
        self._df = df
        self._Pn, self._Pu, self._Pd = pn, pu, pd
        self._x_slow, self._x_fast = x1, x2
        self._P_imb = p_imb
        self._t = round(t0 + dt_s, 9)
        f = self.f0_Hz + df
        n, up, down = fcr_activation(F0_HZ + df)
        return {
            "f_Hz": f,
            "rocof_Hz_per_s": (df - df_start) / dt_s,
            "imbalance_MW": p_imb,
            "fcr_n_activation_frac": n,
            "fcr_d_up_activation_frac": up,
            "fcr_d_down_activation_frac": down,
            "P_fcr_n_MW": pn,
            "P_fcr_d_MW": pu - pd,
        }

    def _new_schedule(self, t: float) -> None:
        """Market-period boundary: ramp from the current schedule level to a new random one."""
        tr = t - self._sched_tb
        ramp = self.schedule_ramp_s
        cur = (self._sched_new if tr >= ramp else
               self._sched_old + (self._sched_new - self._sched_old) * (tr / ramp))
        self._sched_old = cur
        self._sched_new = self.schedule_std_MW * float(self._rng.standard_normal())
        self._sched_tb = self._sched_next
        self._sched_next += self.schedule_period_s


# ------------------------------------------------------------------------------------------------
# Profile mode
# ------------------------------------------------------------------------------------------------


class FrequencyProfile:
    """Replays a frequency series ``(t_s, f_Hz)`` as a steppable core.

    Args:
        t_s: sample times, s, strictly increasing (profile time; the simulation at time 0 reads
            the profile at ``t0_s``).
        f_Hz: frequency samples, Hz (45–55 Hz accepted, to catch mHz deviations or dropouts).
        interpolation: ``"linear"`` or ``"step"`` (zero-order hold: each value holds until the
            next sample).
        t0_s: profile time at simulation start, s.
    Before the first sample the first value holds, after the last the last value holds.
    ``step(dt_s, **ignored)`` advances by dt_s and reports f at the END of the step and the mean
    RoCoF over the step ((f_end − f_start)/dt_s); ``at(t_s)`` is the value at simulation time t_s.
    """

    needs_time = False

    def __init__(self, t_s: Sequence[float] | np.ndarray, f_Hz: Sequence[float] | np.ndarray,
                 interpolation: str = "linear", t0_s: float = 0.0) -> None:
        t = np.asarray(t_s, dtype=float).ravel()
        f = np.asarray(f_Hz, dtype=float).ravel()
        if t.size == 0 or t.size != f.size:
            raise ValueError(f"t_s/f_Hz: sizes {t.size} and {f.size}: allowed: equal and >= 1")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"t_s: non-finite time at index {int(np.argmin(np.isfinite(t)))}")
        bad = ~np.isfinite(f) | (f < 45.0) | (f > 55.0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"f_Hz[{i}]={f[i]!r}: allowed: 45..55 Hz")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            i = int(np.argmin(np.diff(t) > 0)) + 1
            raise ValueError(f"t_s[{i}]={t[i]!r}: allowed: strictly increasing times")
        if interpolation not in ("linear", "step"):
            raise ValueError(f"interpolation={interpolation!r}: allowed: 'linear', 'step'")
        self.interpolation = interpolation
        self._t = t.tolist()
        self._f = f.tolist()
        self._linear = interpolation == "linear"
        self._i = 0
        self._now = _finite("t0_s", t0_s)
        self.t0_s = self._now
        self._f_now = self._value(self._now)

    @classmethod
    def from_csv(cls, path: str | Path, fmt: str = "auto", interpolation: str = "linear",
                 t0_s: float = 0.0) -> FrequencyProfile:
        """A profile from :func:`read_frequency_csv` (time relative to its first sample)."""
        s = read_frequency_csv(path, fmt)
        return cls(s.t_s, s.f_Hz, interpolation, t0_s)

    def _value(self, t: float) -> float:
        """Frequency at profile time t (cursor moves forward; rewinds if t goes back)."""
        ts, fs = self._t, self._f
        last = len(ts) - 1
        if t <= ts[0]:
            self._i = 0
            return fs[0]
        if t >= ts[last]:
            return fs[last]
        i = self._i
        if ts[i] > t:  # went back (e.g. at()'s RoCoF window): jump, do not rewind to 0
            i = bisect.bisect_right(ts, t) - 1
        while ts[i + 1] <= t:
            i += 1
        self._i = i
        if not self._linear:
            return fs[i]
        t_a = ts[i]
        return fs[i] + (fs[i + 1] - fs[i]) * (t - t_a) / (ts[i + 1] - t_a)

    def at(self, t_s: float) -> dict[str, float]:
        """Frequency and activation shares at simulation time ``t_s`` (rocof over ±50 ms)."""
        t = self.t0_s + t_s
        f = self._value(t)
        rocof = (self._value(t + 0.05) - self._value(t - 0.05)) / 0.1
        self._value(self._now)  # restore the cursor
        return self._out(f, rocof)

    @staticmethod
    def _out(f: float, rocof: float) -> dict[str, float]:
        n, up, down = fcr_activation(f)
        return {
            "f_Hz": f,
            "rocof_Hz_per_s": rocof,
            "imbalance_MW": math.nan,  # not known from a frequency record
            "fcr_n_activation_frac": n,
            "fcr_d_up_activation_frac": up,
            "fcr_d_down_activation_frac": down,
        }

    def step(self, dt_s: float, **ignored: Any) -> dict[str, float]:
        """Advance by ``dt_s`` s; end-of-step frequency and the step's mean RoCoF."""
        if not (isinstance(dt_s, (int, float)) and math.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s={dt_s!r}: allowed: a finite number > 0 (seconds)")
        f_start = self._f_now
        self._now = round(self._now + dt_s, 9)
        f = self._value(self._now)
        self._f_now = f
        return self._out(f, (f - f_start) / dt_s)


# ------------------------------------------------------------------------------------------------
# CSV readers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencySeries:
    """A frequency record: ``t_s`` seconds since ``start`` (UTC; None when the file gives
    seconds), ``f_Hz`` in Hz."""

    t_s: np.ndarray
    f_Hz: np.ndarray
    start: pd.Timestamp | None


_FINGRID_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def read_frequency_csv(path: str | Path, fmt: str = "auto", tz: str = "UTC") -> FrequencySeries:
    """Read a frequency record from CSV (comma separated, one header row).

    Formats:
      * ``"fingrid"`` — Fingrid open data (10 Hz): header ``Time,Value``; ``Time`` like
        ``2023-01-01 00:00:00.000`` (naive, interpreted in ``tz``), ``Value`` frequency in Hz.
      * ``"generic"`` — header ``time,f_Hz``: ``time`` either ISO-8601 timestamps (naive = ``tz``)
        or seconds (plain numbers), ``f_Hz`` in Hz.  Extra columns are ignored.
      * ``"auto"`` — chosen from the header.
    Blank lines are skipped.  A malformed row (wrong field count, unparsable time or number,
    frequency outside 45–55 Hz, time not after the previous row) raises ``ValueError`` naming the
    file and its line number.
    """
    p = Path(path)
    if fmt not in ("auto", "fingrid", "generic"):
        raise ValueError(f"fmt={fmt!r}: allowed: 'auto', 'fingrid', 'generic'")
    try:
        raw = pd.read_csv(p, dtype=str, skip_blank_lines=False, keep_default_na=False,
                          skipinitialspace=True)
    except FileNotFoundError:
        raise ValueError(f"frequency CSV {p}: file not found") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"frequency CSV {p}: empty file; expected a header row") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+), saw (\d+)", str(exc))
        where = f"{p}:{m.group(1)}: {m.group(2)} fields" if m else f"{p}: {exc}"
        raise ValueError(f"frequency CSV {where}; malformed row") from None
    cols = [c.strip() for c in raw.columns]
    raw.columns = cols
    if fmt == "auto":
        if "Time" in cols and "Value" in cols:
            fmt = "fingrid"
        elif "time" in cols and "f_Hz" in cols:
            fmt = "generic"
        else:
            raise ValueError(f"frequency CSV {p}:1: header {', '.join(cols)}: expected "
                             "'Time,Value' (Fingrid) or 'time,f_Hz' (generic)")
    tcol, fcol = ("Time", "Value") if fmt == "fingrid" else ("time", "f_Hz")
    for c in (tcol, fcol):
        if c not in cols:
            raise ValueError(f"frequency CSV {p}:1: no column {c!r} for format {fmt!r}; "
                             f"columns found: {', '.join(cols)}")
    tt = raw[tcol].str.strip()
    ff = raw[fcol].str.strip()
    blank = (raw.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    lines = np.arange(len(raw)) + 2  # header is line 1
    keep = ~blank
    tt, ff, lines = tt[keep], ff[keep], lines[keep]
    if len(tt) == 0:
        raise ValueError(f"frequency CSV {p}: no data rows")
    f = pd.to_numeric(ff, errors="coerce").to_numpy(dtype=float)
    start: pd.Timestamp | None
    num = pd.to_numeric(tt, errors="coerce")
    if fmt == "generic" and not num.isna().all():
        t = num.to_numpy(dtype=float)
        start = None
        bad_t = ~np.isfinite(t)
    else:
        if fmt == "fingrid":
            ts = pd.to_datetime(tt, format=_FINGRID_TIME_FORMAT, errors="coerce")
        else:
            ts = pd.to_datetime(tt, format="ISO8601", errors="coerce", utc=False)
        bad_t = ts.isna().to_numpy()
        if bad_t.any():
            _bad_row(p, lines, tt, ff, int(np.argmax(bad_t)), f"time {tcol}")
        bad_t = np.zeros(len(ts), dtype=bool)
        try:
            if ts.dt.tz is None:
                ts = ts.dt.tz_localize(tz)
            ts = ts.dt.tz_convert("UTC")
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"frequency CSV {p}: cannot localise times to tz={tz!r}: {exc}"
                             ) from None
        start = ts.iloc[0]
        t = (ts - start).dt.total_seconds().to_numpy(dtype=float)
    if bad_t.any():
        _bad_row(p, lines, tt, ff, int(np.argmax(bad_t)), f"time {tcol}")
    bad_f = ~np.isfinite(f) | (f < 45.0) | (f > 55.0)
    if bad_f.any():
        _bad_row(p, lines, tt, ff, int(np.argmax(bad_f)), f"{fcol} (Hz, allowed 45..55)")
    if t.size > 1:
        bad_order = np.concatenate([[False], np.diff(t) <= 0])
        if bad_order.any():
            _bad_row(p, lines, tt, ff, int(np.argmax(bad_order)),
                     "time (not after the previous row)")
    return FrequencySeries(t, f, start)


def _bad_row(p: Path, lines: np.ndarray, tt: pd.Series, ff: pd.Series, i: int, what: str) -> None:
    raise ValueError(f"frequency CSV {p}:{int(lines[i])}: bad {what}: "
                     f"{tt.iloc[i]!r},{ff.iloc[i]!r}")


def frequency_statistics(f_Hz: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Noise statistics of an equidistant frequency record: mean, std (Hz) and the share of
    samples outside the normal band 49.9–50.1 Hz (the calibration quantities)."""
    f = np.asarray(f_Hz, dtype=float)
    if f.size == 0:
        raise ValueError("f_Hz: empty record; allowed: at least one sample")
    return {
        "mean_f_Hz": float(f.mean()),
        "std_f_Hz": float(f.std()),
        "share_outside_normal_band": float(np.mean(np.abs(f - F0_HZ) > FCR_N_BAND_HZ)),
    }

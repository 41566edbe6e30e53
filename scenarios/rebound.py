"""Rebound (kickback / payback) KPIs of a demand-response event against its counterfactual.

Pure numpy/pandas on the AGGREGATE series of two paired runs — the event run and the
counterfactual run (same seeds, weather, occupancy; no event or another mitigation) — plus
optional grid and room-temperature series. Definitions follow the standards reference §4
("snapback", payback, peak after release ÷ pre-event baseline, transformer loading per 15 min and
hours above 100 %, EN 50160 10-min voltage band).

Series convention (as ``scenarios/kpi.py``): ``t_s`` holds the START of each sample interval, s;
a value holds until the next sample, the last one for ``step_s`` (default: the median spacing).
All integrals are exact integrals of these step functions. Both runs are sampled at the same
``t_s``.

KPIs (``rebound_kpis``), per event with nominal window [start, end):

* ``curtailed_kWh`` = ∫_start^end (P_cf − P_ev) dt — energy not drawn during the event;
* ``payback_kWh`` = ∫_end^{end+W} (P_ev − P_cf) dt, W = ``window_after_s`` (4 h);
  ``payback_ratio`` = payback ÷ curtailed;
* ``rebound_peak_kW`` = max P_ev in [end, end+W); ``rebound_peak_vs_cf`` = it ÷ max P_cf in the
  same window; ``rebound_peak_vs_baseline`` = it ÷ mean P_ev over the ``baseline_s`` (1 h) before
  the start (the pre-event baseline);
* ``rebound_duration_h`` — from the release to the end of the last interval in [end, end+W)
  where P_ev − P_cf exceeds ``tolerance_frac`` x the counterfactual's mean power in the window;
* ``coincident_peak_kW`` / ``coincident_peak_cf_kW`` / ``coincident_peak_ratio`` — the
  aggregate maximum over the whole series, event run vs counterfactual;
* grid: ``trafo_loading_max_pct`` (highest 15-min mean of any transformer), ``trafo_overload_h``
  (transformer-hours of 15-min means > 100 %), same with ``_cf``; ``v_min_pu`` (lowest sample),
  ``v_10min_outside_share`` (share of the per-bus 10-min mean voltages outside 1 ± 0.10 p.u.,
  EN 50160), ``v_10min_below_85_share`` (below −15 %, the "all 10-min means" bound);
* ``comfort_debt_Kh`` = Σ_houses ∫ max(T_cf − T_ev, 0) dt / 3600 — how much colder the houses were
  than in the counterfactual, K·h; ``comfort_debt_per_house_Kh``.

Energy bookkeeping: for a linear building, ∫(Q_cf − Q_ev) dt over a horizon in which the
temperature difference returns to zero equals Σ_j H_j ∫ (T_cf,j − T_ev,j) dt — the heat not
delivered equals the heat losses avoided by being colder; :func:`energy_bookkeeping` checks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = [
    "REBOUND_WINDOW_S",
    "BASELINE_WINDOW_S",
    "LOADING_AVG_S",
    "VOLTAGE_AVG_S",
    "rebound_kpis",
    "interval_lengths_s",
    "bin_means",
    "energy_bookkeeping",
]

REBOUND_WINDOW_S: float = 4 * 3600.0
"""Window after the release in which the rebound peak and payback are sought (reference §4)."""
BASELINE_WINDOW_S: float = 3600.0
"""Pre-event baseline: mean aggregate power of the event run over this long before the start."""
LOADING_AVG_S: float = 900.0
"""Transformer loading is judged on 15-min means (reference §4, DSO metrics)."""
VOLTAGE_AVG_S: float = 600.0
"""EN 50160 judges 10-min mean voltages (reference §4)."""
V_BAND_PU: float = 0.10
"""EN 50160: ±10 % of U_n for 95 % of the 10-min means of a week."""
V_LOW_ALL_PU: float = 0.85
"""EN 50160: every 10-min mean within +10 % / −15 %."""


def _as_1d(name: str, x: np.ndarray | list[float], n: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"rebound {name}: shape {arr.shape}; allowed: a 1-D series")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"rebound {name}: {arr.shape[0]} samples, expected {n} (same as t_s)")
    return arr


def interval_lengths_s(t_s: np.ndarray, step_s: float | None = None) -> np.ndarray:
    """Length each sample holds for, s: the spacing to the next sample; the last holds ``step_s``
    (default: the median spacing; 1 s for a single sample)."""
    t = np.asarray(t_s, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("rebound t_s: allowed: a non-empty 1-D series of finite times in s")
    d = np.diff(t)
    if np.any(d <= 0):
        raise ValueError("rebound t_s: times must be strictly increasing")
    last = float(np.median(d)) if step_s is None and d.size else (
        1.0 if step_s is None else float(step_s))
    if not last > 0:
        raise ValueError(f"rebound step_s={step_s!r}; allowed: > 0")
    return np.append(d, last)


def _window_integral(t: np.ndarray, dt: np.ndarray, v: np.ndarray, a: float, b: float) -> float:
    """∫_a^b v dt of the step function (samples start at t, last dt long), value·s."""
    lo = np.clip(t, a, b)
    hi = np.clip(t + dt, a, b)
    return float(np.sum(v * (hi - lo)))


def _overlaps(t: np.ndarray, dt: np.ndarray, a: float, b: float) -> np.ndarray:
    return (t < b) & (t + dt > a)


def bin_means(t_s: np.ndarray, dt_s: np.ndarray, values: np.ndarray, bin_s: float,
              t0_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact time-weighted means of a step series over consecutive bins [t0 + k·bin, ...).

    ``values`` is (T,) or (T, M) (M series sharing the time axis). Returns (bin starts (K,),
    means (K,) or (K, M)); bins with no coverage are NaN. Exact also when samples straddle bin
    edges (split pro rata).
    """
    t = np.asarray(t_s, dtype=float)
    dt = np.asarray(dt_s, dtype=float)
    v = np.asarray(values, dtype=float)
    squeeze = v.ndim == 1
    v2 = v[:, None] if squeeze else v
    t_end = float((t + dt).max())
    k = max(1, math.ceil((t_end - t0_s) / bin_s - 1e-9))
    edges = t0_s + bin_s * np.arange(k + 1)
    # cumulative integral at each edge: F(edge) = Σ v·overlap([t, t+dt), (-inf, edge))
    cum_t = np.concatenate([[0.0], np.cumsum(dt)])
    cum_v = np.vstack([np.zeros((1, v2.shape[1])), np.cumsum(v2 * dt[:, None], axis=0)])
    idx = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, t.size - 1)
    frac = np.clip(edges - t[idx], 0.0, dt[idx])
    before = edges < t[0]
    f_v = cum_v[idx] + v2[idx] * frac[:, None]
    f_t = cum_t[idx] + frac
    f_v[before] = 0.0
    f_t[before] = 0.0
    cover = np.diff(f_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.diff(f_v, axis=0) / cover[:, None]
    means[cover <= 0] = np.nan
    return edges[:-1], (means[:, 0] if squeeze else means)


def rebound_kpis(
    t_s: np.ndarray,
    P_event_kW: np.ndarray,
    P_cf_kW: np.ndarray,
    event_start_s: float,
    event_end_s: float,
    *,
    step_s: float | None = None,
    window_after_s: float = REBOUND_WINDOW_S,
    baseline_s: float = BASELINE_WINDOW_S,
    tolerance_frac: float = 0.05,
    trafo_loading_pct: np.ndarray | None = None,
    trafo_loading_cf_pct: np.ndarray | None = None,
    v_pu: np.ndarray | None = None,
    v_cf_pu: np.ndarray | None = None,
    T_room_event_C: np.ndarray | None = None,
    T_room_cf_C: np.ndarray | None = None,
    t0_s: float = 0.0,
) -> dict[str, float]:
    """Rebound KPIs of one event (see the module docstring for the definitions).

    Args:
        t_s: sample start times, s, (T,), strictly increasing, shared by every series.
        P_event_kW, P_cf_kW: aggregate power of the event run / the counterfactual, kW, (T,).
        event_start_s, event_end_s: nominal event window, s (the release is at the end).
        step_s: length of the last sample, s (default: the median spacing).
        window_after_s: rebound window after the release, s (4 h).
        baseline_s: pre-event baseline window, s (1 h).
        tolerance_frac: rebound duration threshold, fraction of the counterfactual's mean
            power in the window.
        trafo_loading_pct, trafo_loading_cf_pct: transformer loading, %, (T,) or (T, n_trafo).
        v_pu, v_cf_pu: voltages, p.u., (T,) or (T, n_bus) (e.g. every house bus).
        T_room_event_C, T_room_cf_C: room temperatures, °C, (T,) or (T, N houses).
        t0_s: time origin of the clock-aligned 15-min / 10-min bins, s.

    Returns:
        A flat dict of floats (NaN where a ratio has a zero denominator).
    """
    t = _as_1d("t_s", t_s)
    n = t.size
    dt = interval_lengths_s(t, step_s)
    p_ev = _as_1d("P_event_kW", P_event_kW, n)
    p_cf = _as_1d("P_cf_kW", P_cf_kW, n)
    a, b = float(event_start_s), float(event_end_s)
    if not (math.isfinite(a) and math.isfinite(b) and b > a):
        raise ValueError(f"rebound event window ({event_start_s!r}, {event_end_s!r}); "
                         "allowed: finite times with end > start")
    w_end = b + float(window_after_s)
    out: dict[str, float] = {}
    curtailed = _window_integral(t, dt, p_cf - p_ev, a, b) / 3600.0
    payback = _window_integral(t, dt, p_ev - p_cf, b, w_end) / 3600.0
    out["curtailed_kWh"] = curtailed
    out["payback_kWh"] = payback
    out["payback_ratio"] = _ratio(payback, curtailed)
    inwin = _overlaps(t, dt, b, w_end)
    base_cover = _window_integral(t, dt, np.ones(n), a - baseline_s, a)
    baseline = (_window_integral(t, dt, p_ev, a - baseline_s, a) / base_cover
                if base_cover > 0 else math.nan)
    out["baseline_kW"] = baseline
    if inwin.any():
        peak = float(p_ev[inwin].max())
        out["rebound_peak_kW"] = peak
        out["rebound_peak_cf_kW"] = float(p_cf[inwin].max())
        out["rebound_peak_vs_cf"] = _ratio(peak, out["rebound_peak_cf_kW"])
        out["rebound_peak_vs_baseline"] = _ratio(peak, baseline)
        cover = _window_integral(t, dt, np.ones(n), b, w_end)
        mean_cf = _window_integral(t, dt, p_cf, b, w_end) / cover
        excess = inwin & (p_ev - p_cf > tolerance_frac * mean_cf)
        out["rebound_duration_h"] = (
            float(min((t + dt)[excess].max(), w_end) - b) / 3600.0 if excess.any() else 0.0)
    out["coincident_peak_kW"] = float(p_ev.max())
    out["coincident_peak_cf_kW"] = float(p_cf.max())
    out["coincident_peak_ratio"] = _ratio(out["coincident_peak_kW"], out["coincident_peak_cf_kW"])
    for suffix, series in (("", trafo_loading_pct), ("_cf", trafo_loading_cf_pct)):
        if series is not None:
            out.update(_trafo_kpis(t, dt, series, t0_s, suffix))
    for suffix, series in (("", v_pu), ("_cf", v_cf_pu)):
        if series is not None:
            out.update(_voltage_kpis(t, dt, series, t0_s, suffix))
    if T_room_event_C is not None and T_room_cf_C is not None:
        out.update(_comfort_kpis(t, dt, T_room_event_C, T_room_cf_C))
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den not in (0.0,) and math.isfinite(den) else math.nan


def _matrix(name: str, x: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"rebound {name}: shape {np.shape(x)}; allowed: ({n},) or ({n}, M)")
    return arr


def _trafo_kpis(t: np.ndarray, dt: np.ndarray, loading: np.ndarray, t0: float,
                suffix: str) -> dict[str, float]:
    m = _matrix("trafo_loading_pct", loading, t.size)
    _, means = bin_means(t, dt, m, LOADING_AVG_S, t0)
    over = np.nan_to_num(means, nan=0.0) > 100.0
    return {
        f"trafo_loading_max_pct{suffix}": float(np.nanmax(means)),
        f"trafo_loading_max_sample_pct{suffix}": float(np.nanmax(m)),
        f"trafo_overload_h{suffix}": float(over.sum() * LOADING_AVG_S / 3600.0),
    }


def _voltage_kpis(t: np.ndarray, dt: np.ndarray, v: np.ndarray, t0: float,
                  suffix: str) -> dict[str, float]:
    m = _matrix("v_pu", v, t.size)
    _, means = bin_means(t, dt, m, VOLTAGE_AVG_S, t0)
    valid = np.isfinite(means)
    outside = valid & (np.abs(means - 1.0) > V_BAND_PU)
    below = valid & (means < V_LOW_ALL_PU)
    nv = max(int(valid.sum()), 1)
    return {
        f"v_min_pu{suffix}": float(np.nanmin(m)),
        f"v_10min_min_pu{suffix}": float(np.nanmin(means)),
        f"v_10min_outside_share{suffix}": float(outside.sum() / nv),
        f"v_10min_below_85_share{suffix}": float(below.sum() / nv),
    }


def _comfort_kpis(t: np.ndarray, dt: np.ndarray, t_ev: np.ndarray,
                  t_cf: np.ndarray) -> dict[str, float]:
    ev = _matrix("T_room_event_C", t_ev, t.size)
    cf = _matrix("T_room_cf_C", t_cf, t.size)
    if ev.shape != cf.shape:
        raise ValueError(f"rebound T_room: event {ev.shape} vs counterfactual {cf.shape}")
    debt = float(np.sum(np.maximum(cf - ev, 0.0) * dt[:, None])) / 3600.0
    return {"comfort_debt_Kh": debt, "comfort_debt_per_house_Kh": debt / ev.shape[1]}


def energy_bookkeeping(
    curtailed_kWh: float, payback_kWh: float, H_kW_per_K: float | np.ndarray,
    deficit_Kh: float | np.ndarray, C_kWh_per_K: float | np.ndarray = 0.0,
    dT_end_K: float | np.ndarray = 0.0,
) -> Mapping[str, float]:
    """Heat bookkeeping of a curtailment on linear RC houses.

    net avoided = curtailed − payback must equal Σ H·∫(T_cf − T_ev) dt (losses avoided) +
    Σ C·(T_cf − T_ev)(end) (heat still owed at the end of the horizon). ``deficit_Kh`` is the
    SIGNED ∫(T_cf − T_ev) dt per house (equal to the comfort debt when the event run is never
    warmer). Returns the two sides and the residual (kWh).
    """
    lhs = float(curtailed_kWh) - float(payback_kWh)
    rhs = float(np.sum(np.asarray(H_kW_per_K) * np.asarray(deficit_Kh))
                + np.sum(np.asarray(C_kWh_per_K) * np.asarray(dT_end_K)))
    return {"net_avoided_kWh": lhs, "losses_avoided_plus_owed_kWh": rhs, "residual_kWh": lhs - rhs}

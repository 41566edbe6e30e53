"""FlexHeat Nordhavn controllers: control loop, rolling-horizon MILP (scipy/HiGHS), FCR-N option,
perfect-foresight bound and the report's annual energy model (EnergyLab Nordhavn WP5.3, model a).

Pure numpy/scipy/pandas; no mosaik. The plant is planned with an hourly ENERGY-BALANCE tank

    S_t = eta * S_{t-1} + Q_hp_t + Q_eb_t - D_t      (kWh, 1-h steps, eta = 0.9978 per hour)

(the report's model a; ``docs/models/flexheat-milp.md`` says why not a stratified linearisation),
a heat pump with on/off binary ``u``, heat ``Q`` in [Q_min*u, Q_max*u], an affine electric power
``P_el = p_fixed*u + p_per*Q`` fitted to the plant's COP curve, start costs, minimum up/down
times, a 200 kW electric boiler and, optionally, a symmetric FCR-N band of electric power offered
while the heat pump runs, with the tank as its limited energy reservoir.

Conventions: hours are UTC hours; prices are TOTAL electricity prices (spot + taxes + tariffs) in
DKK/MWh and FCR-N capacity prices in DKK/MW/h; powers in kW (consumption positive), energies in
kWh; one plan step = 1 h.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from simulators.prices import LOCAL_TZ

# --------------------------------------------------------------------------------------------
# plant model of the plan
# --------------------------------------------------------------------------------------------

DEFAULT_P_FIXED_KW: float = 22.53
"""Intercept of the affine P_el(Q) fit, kW (while running). Least-squares fit over load 0.34..1.0
of the shared plant COP model (fh_common: COP = 0.49*(1-0.58*(x-0.85)^2)*COP_Lorenz) at 75 °C
supply, 40 °C HP inlet (upper end of the 35–40 °C return range: the poorly stratified lower half
of the tank feeds the HP a little warmer than the 34.48 °C bottom mean), 10.5 °C source; COP at
88 % load = 2.96. Max fit error 6.2 kW = 2.3 % of P_el (at the ends of the load range). The lead
replaces these with :meth:`PlanModel.from_cop_curve` on the plant heat pump's own curve."""

DEFAULT_P_PER_KWTH: float = 0.3065
"""Slope of the affine P_el(Q) fit, kW electric per kW heat (marginal 1/COP ≈ 1/3.26)."""


@dataclass(frozen=True)
class PlanModel:
    """The plant as the MILP sees it (FlexHeat defaults; all fields configurable).

    Attributes:
        Q_nom_kW: nominal heat output (load fraction 1.0), kW. Report: 800 kJ/s.
        Q_min_kW: minimum heat output while running, kW. Report: ca. 34 % of full load → 272.
        Q_max_kW: maximum heat output, kW (800).
        p_fixed_kW, p_per_kWth: affine electric power ``P_el = p_fixed*u + p_per*Q`` (kW, kW/kW).
        Q_knee_kW, p_knee_per_kWth: optional convex knee: above ``Q_knee_kW`` (the best-COP
            load) every kW of heat costs ``p_knee_per_kWth`` more electricity, i.e.
            ``P_el += p_knee*max(0, Q - Q_knee*u)`` — exact at Q_min, the knee and Q_max for a
            COP curve with its optimum inside the range (one continuous variable per hour, no
            binaries: the cost is convex above the knee). None = affine only.
        start_cost_DKK: penalty per heat-pump start, DKK. Report: 30.
        min_up_h, min_down_h: minimum run / stop time, whole hours (>= 1; 1 = no constraint
            beyond the hourly grid). Report silent; helper F's plant HP: 1 h on, 0.5 h off.
        S_min_kWh, S_max_kWh: tank energy bounds, kWh. Report model a: 0 .. 4500.
        eta_per_h: tank storage efficiency per hour. Report: 1 - 0.22 % = 0.9978.
        eboiler_kW: electric boiler heat capacity usable in the plan, kW. Report: 200.
        eboiler_eta: electric boiler efficiency (heat/electricity). 0.99 — resistance boilers lose
            only jacket heat (helper F's boilers.py uses the same value).
        fcr_max_kW: cap of the symmetric FCR-N band of electric power, kW; None = only the
            heat pump's own range limits it (see :attr:`fcr_band_max_kW`); 0 disables FCR-N.
        fcr_endurance_h: FCR-N limited-energy-reservoir endurance per direction, h (60 min).
        fcr_shortfall_penalty_DKK_per_MW_h: penalty per MW/h of a COMMITTED FCR-N band the plan
            cannot hold (the band is then soft). ASSUMPTION: 2000 DKK/MW/h, ~10x a typical FCR-N
            capacity price, so a plan sheds a commitment only when the tank or the heat pump
            cannot hold it.
    """

    Q_nom_kW: float = 800.0
    Q_min_kW: float = 272.0
    Q_max_kW: float = 800.0
    p_fixed_kW: float = DEFAULT_P_FIXED_KW
    p_per_kWth: float = DEFAULT_P_PER_KWTH
    start_cost_DKK: float = 30.0
    min_up_h: int = 1
    min_down_h: int = 1
    S_min_kWh: float = 0.0
    S_max_kWh: float = 4500.0
    eta_per_h: float = 0.9978
    eboiler_kW: float = 200.0
    eboiler_eta: float = 0.99
    fcr_max_kW: float | None = None
    Q_knee_kW: float | None = None
    p_knee_per_kWth: float = 0.0
    fcr_endurance_h: float = 1.0
    fcr_shortfall_penalty_DKK_per_MW_h: float = 2000.0

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"PlanModel.{name}={getattr(self, name)!r}; must be {allowed}")

        for name in ("Q_nom_kW", "Q_max_kW", "p_per_kWth", "eta_per_h", "eboiler_eta"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise bad(name, "a finite number > 0")
        for name in ("Q_min_kW", "p_fixed_kW", "start_cost_DKK", "S_min_kWh", "eboiler_kW",
                     "fcr_endurance_h", "fcr_shortfall_penalty_DKK_per_MW_h"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise bad(name, "a finite number >= 0")
        if self.Q_min_kW > self.Q_max_kW:
            raise bad("Q_min_kW", f"<= Q_max_kW={self.Q_max_kW}")
        if not (math.isfinite(self.S_max_kWh) and self.S_max_kWh > self.S_min_kWh):
            raise bad("S_max_kWh", f"finite and > S_min_kWh={self.S_min_kWh}")
        if self.eta_per_h > 1 or self.eboiler_eta > 1:
            raise ValueError(f"PlanModel.eta_per_h={self.eta_per_h!r} / eboiler_eta="
                             f"{self.eboiler_eta!r}; efficiencies must lie in (0, 1]")
        for name in ("min_up_h", "min_down_h"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise bad(name, "a whole number of hours >= 1")
        if self.Q_knee_kW is not None and not (
            math.isfinite(self.Q_knee_kW) and self.Q_min_kW <= self.Q_knee_kW <= self.Q_max_kW
        ):
            raise bad("Q_knee_kW", f"None or in [Q_min_kW, Q_max_kW] = [{self.Q_min_kW}, "
                      f"{self.Q_max_kW}]")
        if not (math.isfinite(self.p_knee_per_kWth) and self.p_knee_per_kWth >= 0):
            raise bad("p_knee_per_kWth", "a finite number >= 0")
        if self.fcr_max_kW is not None and not (
            math.isfinite(self.fcr_max_kW) and self.fcr_max_kW >= 0
        ):
            raise bad("fcr_max_kW", "None or a finite number >= 0")

    # ---- derived figures -------------------------------------------------------------------
    def P_el_kW(self, Q_kW: np.ndarray | float, on: np.ndarray | float = 1.0) -> np.ndarray:
        """Electric power of the heat pump at heat output ``Q_kW`` (affine model, plus the
        convex knee if set), kW."""
        on_a = np.asarray(on, float)
        Q_a = np.asarray(Q_kW, float)
        P = self.p_fixed_kW * on_a + self.p_per_kWth * Q_a
        if self.Q_knee_kW is not None and self.p_knee_per_kWth > 0:
            P = P + self.p_knee_per_kWth * np.maximum(Q_a - self.Q_knee_kW * on_a, 0.0)
        return P

    @property
    def fcr_band_max_kW(self) -> float:
        """Largest symmetric FCR-N band of electric power while running, kW: half the electric
        range P_el(Q_min)..P_el(Q_max), capped by ``fcr_max_kW``."""
        half = 0.5 * float(self.P_el_kW(self.Q_max_kW) - self.P_el_kW(self.Q_min_kW))
        cap = half if self.fcr_max_kW is None else min(half, float(self.fcr_max_kW))
        return max(0.0, cap)

    @property
    def fcr_heat_per_band_kWh(self) -> float:
        """Tank head-/foot-room needed per kW of FCR-N band, kWh: a full activation for the
        endurance time moves the heat output by band / p_per (the marginal COP of the affine
        model) for ``fcr_endurance_h``."""
        return self.fcr_endurance_h / self.p_per_kWth

    @classmethod
    def from_cop_curve(
        cls,
        load_fracs: Sequence[float] | np.ndarray,
        cops: Sequence[float] | np.ndarray,
        Q_nom_kW: float = 800.0,
        load_min_frac: float = 0.34,
        knee: bool = False,
        **overrides: Any,
    ) -> PlanModel:
        """Fit the affine P_el(Q) to a COP curve by least squares over load_min_frac..1.0.

        ``knee=True`` instead fits the two-segment convex model exact at three points: the
        line through P_el(Q_min) and P_el at the best-COP load (the knee), and the extra slope
        from the knee to Q_max (the heat pump is most efficient at 80–90 % load, so full load
        costs more per kWh than the affine fit says).

        Args:
            load_fracs: load fractions of ``Q_nom_kW`` (points outside load_min_frac..1 ignored).
            cops: COP at those loads.
            Q_nom_kW: nominal heat output, kW; sets Q_max_kW = Q_nom_kW, Q_min_kW =
                load_min_frac * Q_nom_kW unless overridden.
            overrides: any other PlanModel field.
        """
        p_fixed, p_per, _, _ = affine_fit(load_fracs, cops, Q_nom_kW, load_min_frac)
        kw: dict[str, Any] = {"Q_nom_kW": float(Q_nom_kW), "Q_max_kW": float(Q_nom_kW),
                              "Q_min_kW": float(load_min_frac * Q_nom_kW),
                              "p_fixed_kW": p_fixed, "p_per_kWth": p_per}
        if knee:
            x = np.asarray(load_fracs, float)
            c = np.asarray(cops, float)
            ok = (x >= load_min_frac - 1e-12) & (x <= 1.0 + 1e-12)
            x, c = x[ok], c[ok]
            Q = x * Q_nom_kW
            P = Q / c
            i0, ik, i1 = int(np.argmin(x)), int(np.argmax(c)), int(np.argmax(x))
            if not (x[i0] < x[ik] < x[i1]):
                raise ValueError("knee=True needs the best COP strictly inside the load range")
            a1 = (P[ik] - P[i0]) / (Q[ik] - Q[i0])
            a2 = (P[i1] - P[ik]) / (Q[i1] - Q[ik])
            kw.update(p_per_kWth=float(a1), p_fixed_kW=float(P[i0] - a1 * Q[i0]),
                      Q_knee_kW=float(Q[ik]), p_knee_per_kWth=float(max(a2 - a1, 0.0)))
        kw.update(overrides)
        return cls(**kw)


def affine_fit(
    load_fracs: Sequence[float] | np.ndarray,
    cops: Sequence[float] | np.ndarray,
    Q_nom_kW: float = 800.0,
    load_min_frac: float = 0.34,
) -> tuple[float, float, float, float]:
    """Least-squares fit of P_el = p_fixed + p_per * Q to P_el = Q / COP over load_min..1.

    Returns ``(p_fixed_kW, p_per_kWth, max_abs_error_kW, max_rel_error)`` (errors at the given
    points inside the range)."""
    x = np.asarray(load_fracs, dtype=float).ravel()
    c = np.asarray(cops, dtype=float).ravel()
    if x.shape != c.shape:
        raise ValueError(f"load_fracs has {x.size} values, cops has {c.size}; must be equal")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(c)) and np.all(c > 0)):
        raise ValueError("load_fracs must be finite and cops finite and > 0")
    if not (math.isfinite(Q_nom_kW) and Q_nom_kW > 0):
        raise ValueError(f"Q_nom_kW={Q_nom_kW!r}; must be > 0")
    sel = (x >= load_min_frac - 1e-12) & (x <= 1.0 + 1e-12)
    if np.count_nonzero(sel) < 2 or np.ptp(x[sel]) <= 0:
        raise ValueError(f"load_fracs: need >= 2 distinct points in [{load_min_frac}, 1.0]")
    Q = x[sel] * Q_nom_kW
    P = Q / c[sel]
    A = np.column_stack([np.ones_like(Q), Q])
    coef, *_ = np.linalg.lstsq(A, P, rcond=None)
    err = A @ coef - P
    return (float(coef[0]), float(coef[1]), float(np.max(np.abs(err))),
            float(np.max(np.abs(err) / P)))


# --------------------------------------------------------------------------------------------
# the MILP
# --------------------------------------------------------------------------------------------


class PlanInfeasibleError(ValueError):
    """The MILP has no feasible schedule (or HiGHS found none within the time limit)."""


@dataclass(frozen=True)
class Plan:
    """An hourly schedule (arrays of length T, hour 0 starts at the plan's start).

    ``objective_DKK`` is HiGHS's objective (+ the constant of committed FCR bands): energy cost
    + start cost + FCR shortfall penalty − FCR revenue. ``status`` is "optimal" or
    "time_limit" (a feasible, not proven optimal schedule; ``mip_gap`` says how far)."""

    Q_hp_kW: np.ndarray
    u: np.ndarray
    start: np.ndarray
    Q_eb_kW: np.ndarray
    fcr_band_kW: np.ndarray
    S_kWh: np.ndarray
    P_el_kW: np.ndarray
    objective_DKK: float
    energy_cost_DKK: float
    start_cost_DKK: float
    fcr_revenue_DKK: float
    fcr_penalty_DKK: float
    solve_time_s: float
    status: str
    mip_gap: float
    mip_dual_bound_DKK: float
    S0_kWh: float
    on0: bool
    on_hours0: int
    S_end_min_kWh: float
    fcr_fixed_kW: np.ndarray | None = None

    @property
    def hours(self) -> int:
        """Number of plan hours."""
        return int(self.Q_hp_kW.size)


def _hourly(name: str, value: Any, T: int | None = None) -> np.ndarray:
    """A finite 1-D float array (fresh copy); ValueError naming ``name``."""
    try:
        a = np.array(value, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not numeric: {exc}") from None
    if T is not None and a.size == 1:
        a = np.full(T, float(a[0]))
    if T is not None and a.size != T:
        raise ValueError(f"{name} has {a.size} hours; expected {T}")
    if a.size == 0:
        raise ValueError(f"{name} is empty; need at least one hour")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has a non-finite value {a[~np.isfinite(a)][0]!r}")
    return a


def _tank_bounds(model: PlanModel, S0: float, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-hour tank bounds: [S_min, S_max] widened to admit a measured start outside them.

    Above S_max the bound decays with the standing loss (the HP-off path stays feasible); below
    S_min the level may not fall further than where it already is."""
    decay = S0 * model.eta_per_h ** np.arange(1, T + 1)
    hi = np.maximum(model.S_max_kWh, decay)
    lo = np.full(T, min(model.S_min_kWh, S0))
    return lo, hi


def plan_milp(
    price_el_DKK_per_MWh: Sequence[float] | np.ndarray,
    demand_kW: Sequence[float] | np.ndarray,
    S0_kWh: float,
    on0: bool,
    on_hours0: int,
    model: PlanModel,
    fcr_price_DKK_per_MW_h: Sequence[float] | np.ndarray | None = None,
    fcr_fixed_kW: Sequence[float] | np.ndarray | None = None,
    S_end_min_kWh: float | None = None,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 1e-4,
) -> Plan:
    """Cost-optimal hourly schedule of the plant (MILP, scipy.optimize.milp / HiGHS).

    Args:
        price_el_DKK_per_MWh: (T,) TOTAL electricity price per hour, DKK/MWh.
        demand_kW: (T,) heat demand per hour (mean power), kW.
        S0_kWh: tank energy at the start, kWh (may lie outside the bounds: see _tank_bounds).
        on0: heat pump running just before hour 0.
        on_hours0: whole hours the heat pump has been in state ``on0`` (for min up/down).
        model: the plant.
        fcr_price_DKK_per_MW_h: (T,) FCR-N capacity price; None = no FCR-N (band 0).
        fcr_fixed_kW: (T,) committed band per hour, NaN = free; committed hours hold the band
            (soft, with the model's shortfall penalty) — the day already sold in the auction.
        S_end_min_kWh: terminal condition S_{T-1} >= this; None = S0 (so the plan does not empty
            the tank; capped at S_max).
        time_limit_s, mip_rel_gap: HiGHS limits.

    Raises:
        PlanInfeasibleError: no feasible schedule (message says what was asked).
        ValueError: bad input.
    """
    price = _hourly("price_el_DKK_per_MWh", price_el_DKK_per_MWh)
    T = price.size
    D = _hourly("demand_kW", demand_kW, T)
    if np.any(D < 0):
        raise ValueError(f"demand_kW has a negative value {D[D < 0][0]!r}; must be >= 0")
    if not (isinstance(S0_kWh, int | float | np.floating) and math.isfinite(S0_kWh)):
        raise ValueError(f"S0_kWh={S0_kWh!r}; must be a finite number")
    on0 = bool(on0)
    if on_hours0 < 0:
        raise ValueError(f"on_hours0={on_hours0!r}; must be >= 0")
    priced = fcr_price_DKK_per_MW_h is not None
    fcr_p = _hourly("fcr_price_DKK_per_MW_h", fcr_price_DKK_per_MW_h, T) if priced else np.zeros(T)
    fixed = np.full(T, np.nan)
    if fcr_fixed_kW is not None:
        fixed = np.array(fcr_fixed_kW, dtype=float).ravel()
        if fixed.size != T:
            raise ValueError(f"fcr_fixed_kW has {fixed.size} hours; expected {T}")
        if np.any(fixed[~np.isnan(fixed)] < 0):
            raise ValueError("fcr_fixed_kW must be >= 0 (or NaN = free)")
    if not (time_limit_s > 0):
        raise ValueError(f"time_limit_s={time_limit_s!r}; must be > 0")
    if not (0 <= mip_rel_gap < 1):
        raise ValueError(f"mip_rel_gap={mip_rel_gap!r}; must lie in [0, 1)")

    m = model
    S0 = float(S0_kWh)
    lo, hi = _tank_bounds(m, S0, T)
    S_end = min(S0, m.S_max_kWh) if S_end_min_kWh is None else float(S_end_min_kWh)
    if S_end > hi[-1]:
        raise ValueError(f"S_end_min_kWh={S_end!r} is above the tank bound {hi[-1]:g} kWh")
    is_fixed = ~np.isnan(fixed)
    bmax = m.fcr_band_max_kW if priced else 0.0
    b_ub = np.where(is_fixed, np.nan_to_num(fixed), bmax)
    k = m.fcr_heat_per_band_kWh
    b_ub[0] = min(b_ub[0], max(0.0, (m.S_max_kWh - S0) / k), max(0.0, (S0 - m.S_min_kWh) / k))
    fcr = bool(np.any(b_ub > 0))

    # variable layout: Q, u, y (start), E (e-boiler heat), S, B (FCR band), X (heat above the
    # knee, only with a convex knee) — T each
    knee = m.Q_knee_kW is not None and m.p_knee_per_kWth > 0
    iQ, iU, iY, iE, iS, iB, iX = (np.arange(T) + j * T for j in range(7))
    nv = (7 if knee else 6) * T
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lbs: list[np.ndarray] = []
    ubs: list[np.ndarray] = []
    nrow = 0

    def add(entries: list[tuple[np.ndarray, np.ndarray | float]], n: int, lb: Any,
            ub: Any) -> None:
        """n new rows lb <= sum(coef * x[col]) <= ub; each entry = (columns (n,), coefs)."""
        nonlocal nrow
        for c, v in entries:
            rows.append(np.arange(n) + nrow)
            cols.append(np.asarray(c))
            vals.append(np.broadcast_to(np.asarray(v, float), np.shape(c)).copy())
        lbs.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        ubs.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        nrow += n

    inf = np.inf
    t1 = np.arange(1, T)
    # output range
    add([(iQ, 1.0), (iU, -m.Q_max_kW)], T, -inf, 0.0)
    if knee:  # X_t >= Q_t - Q_knee*u_t (X >= 0 by its bound; its cost makes it exact)
        add([(iX, 1.0), (iQ, -1.0), (iU, float(m.Q_knee_kW))], T, 0.0, inf)
    add([(iQ, 1.0), (iU, -m.Q_min_kW)], T, 0.0, inf)
    # starts: y_t = max(0, u_t - u_{t-1}) exactly (for binary u)
    lb_c = np.zeros(T)
    lb_c[0] = -float(on0)
    r0 = nrow
    add([(iY, 1.0), (iU, -1.0)], T, lb_c, inf)
    if T > 1:
        rows.append(r0 + t1)
        cols.append(iU[t1 - 1])
        vals.append(np.ones(T - 1))
    add([(iY, 1.0), (iU, -1.0)], T, -inf, 0.0)
    if T > 1:
        add([(iY[t1], 1.0), (iU[t1 - 1], 1.0)], T - 1, -inf, 1.0)
    # energy balance
    rhs = -D.copy()
    rhs[0] += m.eta_per_h * S0
    ent: list[tuple[np.ndarray, np.ndarray | float]] = [(iS, 1.0), (iQ, -1.0), (iE, -1.0)]
    add(ent, T, rhs, rhs)
    if T > 1:
        rows.append(nrow - T + t1)
        cols.append(iS[t1 - 1])
        vals.append(np.full(T - 1, -m.eta_per_h))
    # minimum up / down times (aggregated window form)
    for h_min, up in ((m.min_up_h, True), (m.min_down_h, False)):
        if h_min <= 1:
            continue
        r_l, c_l, v_l = [], [], []
        rhs_w = np.ones(T) if not up else np.zeros(T)
        for t in range(T):
            a = max(0, t - h_min + 1)
            w = np.arange(a, t + 1)
            r_l.append(np.full(w.size, t))
            c_l.append(iY[w])
            v_l.append(np.ones(w.size))
            if up:
                r_l.append(np.array([t]))
                c_l.append(np.array([iU[t]]))
                v_l.append(np.array([-1.0]))
            elif a == 0:
                rhs_w[t] -= float(on0)
            else:
                r_l.append(np.array([t]))
                c_l.append(np.array([iU[a - 1]]))
                v_l.append(np.array([1.0]))
        rows.append(np.concatenate(r_l) + nrow)
        cols.append(np.concatenate(c_l))
        vals.append(np.concatenate(v_l))
        lbs.append(np.full(T, -inf))
        ubs.append(rhs_w)
        nrow += T
    # FCR-N band: symmetric electric band within the running range, reservoir head/foot-room
    if fcr:
        # P_el(Q) ± B within [P_el(Q_min), P_el(Q_max)] while running (with the knee: P_el =
        # p_fixed*u + p*Q + p_knee*X; the downward room leaves X out — conservative, and X
        # cannot be inflated to claim band)
        p = m.p_per_kWth
        P_hi = float(m.P_el_kW(m.Q_max_kW)) - m.p_fixed_kW
        P_lo = float(m.P_el_kW(m.Q_min_kW)) - m.p_fixed_kW
        up = [(iQ, p), (iB, 1.0), (iU, -P_hi)] + ([(iX, m.p_knee_per_kWth)] if knee else [])
        dn = [(iQ, p), (iB, -1.0), (iU, -P_lo)]
        add(up, T, -inf, 0.0)
        add(dn, T, 0.0, inf)
        add([(iB, 1.0), (iU, -max(bmax, float(np.nanmax(b_ub))))], T, -inf, 0.0)
        add([(iS, 1.0), (iB, k)], T, -inf, hi)
        add([(iS, 1.0), (iB, -k)], T, lo, inf)
        if T > 1:
            add([(iS[t1 - 1], 1.0), (iB[t1], k)], T - 1, -inf, hi[:-1])
            add([(iS[t1 - 1], 1.0), (iB[t1], -k)], T - 1, lo[:-1], inf)

    # bounds
    lb = np.zeros(nv)
    ub = np.empty(nv)
    ub[iQ] = m.Q_max_kW
    ub[iU] = 1.0
    ub[iY] = 1.0
    ub[iY[0]] = 1.0 - float(on0)
    ub[iE] = m.eboiler_kW
    lb[iS] = lo
    ub[iS] = hi
    lb[iS[-1]] = max(lo[-1], S_end)
    ub[iB] = b_ub
    if knee:
        ub[iX] = m.Q_max_kW
    # history of min up/down
    if on0 and on_hours0 < m.min_up_h:
        lb[iU[: min(T, m.min_up_h - on_hours0)]] = 1.0
    if not on0 and on_hours0 < m.min_down_h:
        ub[iU[: min(T, m.min_down_h - on_hours0)]] = 0.0
        ub[iY[: min(T, m.min_down_h - on_hours0)]] = 0.0
    integrality = np.zeros(nv)
    integrality[iU] = 1

    c = np.zeros(nv)
    c[iQ] = price / 1000.0 * m.p_per_kWth
    c[iU] = price / 1000.0 * m.p_fixed_kW
    c[iY] = m.start_cost_DKK
    c[iE] = price / 1000.0 / m.eboiler_eta
    if knee:
        c[iX] = price / 1000.0 * m.p_knee_per_kWth
    pen = m.fcr_shortfall_penalty_DKK_per_MW_h
    c[iB] = -(fcr_p + np.where(is_fixed, pen, 0.0)) / 1000.0
    const = float(np.sum(np.nan_to_num(fixed[is_fixed])) * pen / 1000.0)

    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(nrow, nv)).tocsr()
    t0 = time.perf_counter()
    res = milp(c, constraints=LinearConstraint(A, np.concatenate(lbs), np.concatenate(ubs)),
               integrality=integrality, bounds=Bounds(lb, ub),
               options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap),
                        "disp": False})
    dt = time.perf_counter() - t0
    if res.x is None:
        why = {2: "infeasible", 1: "time limit reached before any feasible schedule"}.get(
            res.status, f"HiGHS status {res.status}: {res.message}")
        raise PlanInfeasibleError(
            f"plan_milp: no schedule ({why}) for {T} h from S0={S0:g} kWh (on0={on0}, "
            f"on_hours0={on_hours0}), S_end >= {S_end:g} kWh, peak demand {D.max():g} kW vs "
            f"Q_max+e-boiler {m.Q_max_kW + m.eboiler_kW:g} kW, tank {m.S_min_kWh:g}.."
            f"{m.S_max_kWh:g} kWh")
    x = res.x
    u = np.round(x[iU]).clip(0, 1)
    Q = np.clip(x[iQ], m.Q_min_kW * u, m.Q_max_kW * u)
    y = np.maximum(0.0, u - np.concatenate([[float(on0)], u[:-1]]))
    E = np.clip(x[iE], 0.0, m.eboiler_kW)
    B = np.clip(x[iB], 0.0, ub[iB]) * u
    S = x[iS].copy()
    P = m.P_el_kW(Q, u) + E / m.eboiler_eta
    energy = float(np.sum(price * P) / 1000.0)
    rev = float(np.sum(fcr_p * B) / 1000.0)
    penalty = float(np.sum(np.where(is_fixed, np.nan_to_num(fixed) - B, 0.0)) * pen / 1000.0)
    return Plan(
        Q_hp_kW=Q, u=u, start=y, Q_eb_kW=E, fcr_band_kW=B, S_kWh=S, P_el_kW=P,
        objective_DKK=float(res.fun) + const, energy_cost_DKK=energy,
        start_cost_DKK=float(y.sum() * m.start_cost_DKK), fcr_revenue_DKK=rev,
        fcr_penalty_DKK=penalty, solve_time_s=dt,
        status="optimal" if res.status == 0 else "time_limit",
        mip_gap=float(getattr(res, "mip_gap", 0.0) or 0.0),
        mip_dual_bound_DKK=float(getattr(res, "mip_dual_bound", np.nan)) + const,
        S0_kWh=S0, on0=on0, on_hours0=int(on_hours0), S_end_min_kWh=S_end,
        fcr_fixed_kW=fixed if fcr_fixed_kW is not None else None,
    )


# --------------------------------------------------------------------------------------------
# independent re-evaluation of a schedule
# --------------------------------------------------------------------------------------------


def _runs(state: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal state: (first index, length, value)."""
    out: list[tuple[int, int, bool]] = []
    i = 0
    n = state.size
    while i < n:
        j = i
        while j + 1 < n and state[j + 1] == state[i]:
            j += 1
        out.append((i, j - i + 1, bool(state[i])))
        i = j + 1
    return out


def evaluate_plan(
    plan: Plan,
    price_el_DKK_per_MWh: Sequence[float] | np.ndarray,
    demand_kW: Sequence[float] | np.ndarray,
    S0_kWh: float,
    model: PlanModel,
    fcr_price_DKK_per_MW_h: Sequence[float] | np.ndarray | None = None,
    tol: float = 1e-6,
) -> dict[str, Any]:
    """Re-evaluate a schedule independently of the MILP: simulate the tank hour by hour, count
    the starts from the on/off sequence, recompute the costs and check every constraint.

    Uses only ``plan.u``, ``plan.Q_hp_kW``, ``plan.Q_eb_kW``, ``plan.fcr_band_kW`` and the plan's
    initial state / terminal / committed band (not its S, P_el, starts or costs).

    Returns:
        dict: ``S_kWh`` (T,), ``P_el_kW`` (T,), ``starts`` (int), ``energy_cost_DKK``,
        ``start_cost_DKK``, ``fcr_revenue_DKK``, ``fcr_penalty_DKK``, ``objective_DKK``,
        ``heat_hp_MWh``, ``electricity_MWh`` and ``violations`` (list of messages; empty = the
        schedule respects every constraint within ``tol`` (kW / kWh, relative 1e-9 of scale)).
    """
    m = model
    price = _hourly("price_el_DKK_per_MWh", price_el_DKK_per_MWh)
    T = price.size
    D = _hourly("demand_kW", demand_kW, T)
    fcr_p = (np.zeros(T) if fcr_price_DKK_per_MW_h is None
             else _hourly("fcr_price_DKK_per_MW_h", fcr_price_DKK_per_MW_h, T))
    u = np.asarray(plan.u, float)
    Q = np.asarray(plan.Q_hp_kW, float)
    E = np.asarray(plan.Q_eb_kW, float)
    B = np.asarray(plan.fcr_band_kW, float)
    if not (u.size == Q.size == E.size == B.size == T):
        raise ValueError(f"plan has {u.size} hours, prices have {T}; must be equal")
    v: list[str] = []
    tq = tol + 1e-9 * m.Q_max_kW
    on = u > 0.5
    if np.any((u != 0) & (u != 1)):
        v.append("u is not binary")
    for t in np.flatnonzero(on & ((Q < m.Q_min_kW - tq) | (Q > m.Q_max_kW + tq))):
        v.append(f"hour {t}: Q_hp={Q[t]:.6g} kW outside [{m.Q_min_kW:g}, {m.Q_max_kW:g}]")
    for t in np.flatnonzero(~on & (np.abs(Q) > tq)):
        v.append(f"hour {t}: Q_hp={Q[t]:.6g} kW while off")
    for t in np.flatnonzero((E < -tq) | (E > m.eboiler_kW + tq)):
        v.append(f"hour {t}: Q_eb={E[t]:.6g} kW outside [0, {m.eboiler_kW:g}]")
    # starts and min up/down (with the initial history)
    prev = np.concatenate([[plan.on0], on[:-1]])
    starts = int(np.count_nonzero(on & ~prev))
    runs = _runs(on)
    for j, (i0, n, val) in enumerate(runs):
        length = n + (plan.on_hours0 if (j == 0 and val == plan.on0) else 0)
        completed = j < len(runs) - 1
        need = m.min_up_h if val else m.min_down_h
        if completed and length < need:
            v.append(f"hours {i0}..{i0 + n - 1}: {'on' if val else 'off'} for {length} h "
                     f"< minimum {need} h")
    if runs and runs[0][2] != plan.on0:  # the state before hour 0 ends at hour 0
        need = m.min_up_h if plan.on0 else m.min_down_h
        if plan.on_hours0 < need:
            v.append(f"hour 0: switched {'off' if plan.on0 else 'on'} after {plan.on_hours0} h "
                     f"< minimum {need} h")
    # tank, hour by hour
    S = np.empty(T)
    s = float(S0_kWh)
    for t in range(T):
        s = m.eta_per_h * s + Q[t] + E[t] - D[t]
        S[t] = s
    lo, hi = _tank_bounds(m, float(S0_kWh), T)
    ts = tol + 1e-9 * m.S_max_kWh
    for t in np.flatnonzero((S < lo - ts) | (S > hi + ts)):
        v.append(f"hour {t}: tank {S[t]:.6g} kWh outside [{lo[t]:g}, {hi[t]:g}]")
    if S[-1] < plan.S_end_min_kWh - ts:
        v.append(f"end: tank {S[-1]:.6g} kWh < terminal {plan.S_end_min_kWh:g} kWh")
    # FCR-N band
    k = m.fcr_heat_per_band_kWh
    if np.any(B < -tq):
        v.append("negative FCR band")
    for t in np.flatnonzero(B > tq):
        if not on[t]:
            v.append(f"hour {t}: FCR band {B[t]:.6g} kW while the heat pump is off")
            continue
        P_hp = m.P_el_kW(Q[t])
        if B[t] > m.fcr_band_max_kW + tq and (plan.fcr_fixed_kW is None
                                               or np.isnan(plan.fcr_fixed_kW[t])):
            v.append(f"hour {t}: FCR band {B[t]:.6g} kW > max {m.fcr_band_max_kW:.6g} kW")
        if P_hp + B[t] > m.P_el_kW(m.Q_max_kW) + tq or P_hp - B[t] < m.P_el_kW(m.Q_min_kW) - tq:
            v.append(f"hour {t}: P_el {P_hp:.6g} ± {B[t]:.6g} kW leaves the running range")
        s_start = float(S0_kWh) if t == 0 else S[t - 1]
        lo_s = m.S_min_kWh if t == 0 else lo[t - 1]
        hi_s = m.S_max_kWh if t == 0 else hi[t - 1]
        for s_, l_, h_, where in ((s_start, lo_s, hi_s, "start"), (S[t], lo[t], hi[t], "end")):
            if s_ + k * B[t] > h_ + ts or s_ - k * B[t] < l_ - ts:
                v.append(f"hour {t} ({where}): tank {s_:.6g} kWh lacks FCR head/foot-room "
                         f"{k * B[t]:.6g} kWh")
    fixed = plan.fcr_fixed_kW
    shortfall = np.zeros(T)
    if fixed is not None:
        f = ~np.isnan(fixed)
        shortfall[f] = fixed[f] - B[f]
        for t in np.flatnonzero(f & (shortfall < -tq)):
            v.append(f"hour {t}: FCR band {B[t]:.6g} kW above the commitment {fixed[t]:g} kW")
    # costs
    P = m.P_el_kW(Q, on) + E / m.eboiler_eta
    energy = float(np.dot(price, P) / 1000.0)
    start_cost = starts * m.start_cost_DKK
    rev = float(np.dot(fcr_p, B) / 1000.0)
    pen = float(shortfall.sum() * m.fcr_shortfall_penalty_DKK_per_MW_h / 1000.0)
    return {
        "S_kWh": S,
        "P_el_kW": P,
        "starts": starts,
        "energy_cost_DKK": energy,
        "start_cost_DKK": start_cost,
        "fcr_revenue_DKK": rev,
        "fcr_penalty_DKK": pen,
        "objective_DKK": energy + start_cost + pen - rev,
        "heat_hp_MWh": float(Q.sum() / 1000.0),
        "electricity_MWh": float(P.sum() / 1000.0),
        "violations": v,
    }


# --------------------------------------------------------------------------------------------
# strategy 1: the plant's control loop
# --------------------------------------------------------------------------------------------


class ControlLoop:
    """The report's strategy 1: the heat pump at a fixed load between two tank limits.

    mode "level" (report model a): ON when level <= level_on_kWh (0.9 MWh), OFF when level >=
    level_off_kWh (4.05 MWh). mode "sensors" (the real plant): ON when the upper-limit sensor
    falls below ``T_upper_on_C`` (60 °C, report), OFF when the lower-limit sensor rises above
    ``T_lower_stop_C`` (the stop temperature; the report gives none: default 45 °C = return +
    10 K, as simulators/plant.py; the plant passes its own through
    ``Plant.control_loop_thresholds()``, whose sensor indices are accepted and kept for
    information — the caller reads those sensors). Hysteresis: the ON rule is tested only while
    off, the OFF rule only while on.
    """

    def __init__(
        self,
        load_frac: float = 0.88,
        mode: Literal["level", "sensors"] = "level",
        level_on_kWh: float = 900.0,
        level_off_kWh: float = 4050.0,
        T_upper_on_C: float = 60.0,
        T_lower_stop_C: float = 45.0,
        on0: bool = False,
        upper_limit_sensor: int | None = None,
        lower_limit_sensor: int | None = None,
    ) -> None:
        if not (0 < load_frac <= 1):
            raise ValueError(f"load_frac={load_frac!r}; must lie in (0, 1]")
        if mode not in ("level", "sensors"):
            raise ValueError(f"mode={mode!r}; allowed: 'level', 'sensors'")
        if not level_on_kWh < level_off_kWh:
            raise ValueError(f"level_on_kWh={level_on_kWh!r} must be below level_off_kWh="
                             f"{level_off_kWh!r}")
        self.load_frac = float(load_frac)
        self.mode = mode
        self.level_on_kWh = float(level_on_kWh)
        self.level_off_kWh = float(level_off_kWh)
        self.T_upper_on_C = float(T_upper_on_C)
        self.T_lower_stop_C = float(T_lower_stop_C)
        self.on = bool(on0)
        self.upper_limit_sensor = upper_limit_sensor
        self.lower_limit_sensor = lower_limit_sensor

    def step(self, level_kWh: float | None = None, T_upper_C: float | None = None,
             T_lower_C: float | None = None) -> float:
        """Update the on/off state from the measurement; return the load set point (0 = off)."""
        if self.mode == "level":
            if level_kWh is None or not math.isfinite(level_kWh):
                raise ValueError(f"level_kWh={level_kWh!r}; mode 'level' needs a finite level")
            turn_on, turn_off = level_kWh <= self.level_on_kWh, level_kWh >= self.level_off_kWh
        else:
            if T_upper_C is None or T_lower_C is None:
                raise ValueError(f"T_upper_C={T_upper_C!r}, T_lower_C={T_lower_C!r}; mode "
                                 "'sensors' needs both sensor temperatures")
            turn_on, turn_off = T_upper_C < self.T_upper_on_C, T_lower_C > self.T_lower_stop_C
        if self.on and turn_off:
            self.on = False
        elif not self.on and turn_on:
            self.on = True
        return self.load_frac if self.on else 0.0


# --------------------------------------------------------------------------------------------
# hourly input series
# --------------------------------------------------------------------------------------------


def _as_hourly_series(
    name: str, value: Any, start: datetime | str | pd.Timestamp | None
) -> tuple[float, np.ndarray]:
    """(epoch s of the first hour, finite float array) of an hourly series.

    A pandas Series must have a regular 1-h DatetimeIndex (naive = UTC); an array needs
    ``start`` (UTC instant of its first hour)."""
    if isinstance(value, pd.Series):
        idx = value.index
        if not isinstance(idx, pd.DatetimeIndex):
            raise ValueError(f"{name}: a Series needs a DatetimeIndex, got {type(idx).__name__}")
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        t = np.asarray((idx - pd.Timestamp(0, tz="UTC")).total_seconds(), dtype=float)
        if t.size > 1 and not np.all(np.diff(t) == 3600.0):
            raise ValueError(f"{name}: the index must be regular hourly (3600 s steps)")
        if t.size and t[0] % 3600.0:
            raise ValueError(f"{name}: the index must start on a whole UTC hour, got {idx[0]}")
        return (float(t[0]) if t.size else 0.0), _hourly(name, value.to_numpy(dtype=float))
    if start is None:
        raise ValueError(f"{name}: an array needs start= (UTC instant of its first hour)")
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    t0 = ts.timestamp()
    if t0 % 3600.0:
        raise ValueError(f"start={start!r} is not a whole UTC hour")
    return t0, _hourly(name, value)


def _aligned(name: str, value: Any, t0: float, n: int,
             start: datetime | str | pd.Timestamp | None) -> np.ndarray:
    """``value`` on the hourly grid t0 + 3600*k, k < n (ValueError if it does not cover it)."""
    if isinstance(value, pd.Series):
        t1, a = _as_hourly_series(name, value, None)
        off = int(round((t0 - t1) / 3600.0))
        if off < 0 or off + n > a.size:
            raise ValueError(f"{name} does not cover the {n} hours of the price series")
        return a[off: off + n].copy()
    a = _hourly(name, value)
    if a.size < n:
        raise ValueError(f"{name} has {a.size} hours; the price series has {n}")
    return a[:n].copy()


def _local_midnight_after(epoch_s: float, tz: ZoneInfo, days: int = 1) -> float:
    """Epoch s of local midnight ``days`` days after the local date of ``epoch_s``."""
    d = datetime.fromtimestamp(epoch_s, tz).date() + timedelta(days=days)
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


# --------------------------------------------------------------------------------------------
# strategies 2 and 3: rolling-horizon MPC
# --------------------------------------------------------------------------------------------


@dataclass
class _SolveRecord:
    t_utc_s: float
    reason: str
    hours: int
    solve_time_s: float
    status: str
    objective_DKK: float


class RollingHorizonMpc:
    """Rolling-horizon MILP controller (the report's strategies 2 and 3), executed hourly.

    Plans are made at the start of a UTC hour: at the day-ahead gate (``gate_local_hour`` =
    12:00 Europe/Copenhagen, when the next day's prices are known), at the first call, when the
    plan runs out, after a safety override and — with ``replan="hourly"`` — every hour, always
    from the MEASURED level and on-state. Horizon ``horizon_h`` (48 h), truncated at the end of
    the data.

    Information: electricity prices are known to the end of the local day, after the gate to the
    end of the next local day; beyond that the forecast is the price 24 h (k*24 h) earlier, i.e.
    the same UTC hour of the last known day (off by one local hour across a DST change). The
    heat-demand forecast is the demand series itself (``demand_forecast_kW`` to pass another).
    FCR-N capacity prices (if given) are treated the same way as the electricity prices.

    FCR-N: the plan made at the gate of day D-1 decides the band of every hour of local day D
    (23/24/25 hours) — the bid, returned once as ``fcr_bid`` — and the band is then FIXED for D
    in every later plan (:meth:`set_fcr_award` overrides it with the auction's award). Hours of a
    day whose gate passed before the first call are committed at 0.

    Event-triggered re-plans (``replan_deviation_kWh``): at an hour boundary a measured level
    further than this from the plan's level re-plans from the measurement (the plant's stratified
    tank drifts from the plan's energy balance); with ``replan="daily"`` this keeps the plan
    honest at a fraction of the solves of ``"hourly"``.

    Safety: if the measured level leaves [S_min, S_max] the executor overrides the plan for the
    rest of the hour (off above S_max, full load below S_min) and re-plans at the next hour.
    Terminal condition of each plan: S_end >= the measured start level (``terminal_kWh`` = a
    fixed level instead).
    """

    def __init__(
        self,
        model: PlanModel,
        price_el: pd.Series | np.ndarray,
        demand_kW: pd.Series | np.ndarray,
        fcr_price: pd.Series | np.ndarray | None = None,
        *,
        start: datetime | str | pd.Timestamp | None = None,
        horizon_h: int = 48,
        replan: Literal["daily", "hourly"] = "daily",
        gate_local_hour: int = 12,
        tz: str = LOCAL_TZ,
        terminal_kWh: float | None = None,
        demand_forecast_kW: pd.Series | np.ndarray | None = None,
        mip_rel_gap: float = 1e-3,
        time_limit_s: float = 20.0,
        replan_deviation_kWh: float | None = None,
    ) -> None:
        if replan not in ("daily", "hourly"):
            raise ValueError(f"replan={replan!r}; allowed: 'daily', 'hourly'")
        if not (isinstance(horizon_h, int | np.integer) and 24 <= horizon_h <= 24 * 14):
            raise ValueError(f"horizon_h={horizon_h!r}; must be a whole number of hours 24..336")
        if not (isinstance(gate_local_hour, int | np.integer) and 0 <= gate_local_hour <= 23):
            raise ValueError(f"gate_local_hour={gate_local_hour!r}; must be 0..23")
        self.model = model
        self.t0, self.price = _as_hourly_series("price_el", price_el, start)
        n = self.price.size
        self.demand = _aligned("demand_kW", demand_kW, self.t0, n, start)
        if np.any(self.demand < 0):
            raise ValueError("demand_kW must be >= 0")
        self.demand_fc = (self.demand if demand_forecast_kW is None
                          else _aligned("demand_forecast_kW", demand_forecast_kW, self.t0, n,
                                        start))
        self.fcr_price = (None if fcr_price is None
                          else _aligned("fcr_price", fcr_price, self.t0, n, start))
        self.horizon_h = int(horizon_h)
        self.replan = replan
        self.gate = int(gate_local_hour)
        self.tz = ZoneInfo(tz)
        self.terminal_kWh = terminal_kWh
        self.mip_rel_gap = float(mip_rel_gap)
        self.time_limit_s = float(time_limit_s)
        if replan_deviation_kWh is not None and not replan_deviation_kWh > 0:
            raise ValueError(f"replan_deviation_kWh={replan_deviation_kWh!r}; must be > 0 or None")
        self.replan_deviation_kWh = replan_deviation_kWh
        self._level = math.nan
        self.solve_log: list[_SolveRecord] = []
        self.plan: Plan | None = None
        self._plan_i0 = 0
        self._hour = -1.0
        self._on_state: bool | None = None
        self._on_hours = 10**6
        self._override: float | None = None
        self._force = False
        self._gate_days: set[str] = set()
        self._committed_until = -math.inf
        self._fcr_fixed: dict[int, float] = {}
        self._fallback: float | None = None
        self._sell_first_day = False

    # ---- public ----------------------------------------------------------------------------
    @property
    def solve_times_s(self) -> np.ndarray:
        """Wall-clock solve time of every plan so far, s."""
        return np.array([r.solve_time_s for r in self.solve_log], dtype=float)

    def set_fcr_award(self, hour_utc_s: float, award_kW: float) -> None:
        """The FCR-N band awarded for the UTC hour starting at ``hour_utc_s`` (kW); replaces the
        bid as the committed band of that hour (no-op without FCR-N prices)."""
        if self.fcr_price is None:
            return
        if not (math.isfinite(award_kW) and award_kW >= 0):
            raise ValueError(f"award_kW={award_kW!r}; must be finite and >= 0")
        self._fcr_fixed[int(hour_utc_s // 3600) * 3600] = float(award_kW)

    def step(self, t_utc_s: float, level_kWh: float, hp_on: bool) -> dict[str, Any]:
        """The set point for the instant ``t_utc_s`` (epoch s) from the measured state.

        Returns a fresh dict: ``load_set_frac`` (0 = off, else Q_plan/Q_nom), ``Q_hp_plan_kW``,
        ``Q_eb_plan_kW``, ``S_plan_kWh`` (planned level at the end of the hour),
        ``fcr_band_kW`` (committed FCR-N band of the hour), ``override`` (bool),
        ``replanned`` (bool), ``solve_time_s`` (NaN unless a plan was made in this call),
        ``plan_status`` and ``fcr_bid`` (``{"day": "YYYY-MM-DD", "band_kW": [...]}`` once per
        gate with FCR-N, else None)."""
        if not math.isfinite(level_kWh):
            raise ValueError(f"level_kWh={level_kWh!r}; must be finite")
        hour = math.floor(t_utc_s / 3600.0) * 3600.0
        i = int(round((hour - self.t0) / 3600.0))
        if not 0 <= i < self.price.size:
            raise ValueError(f"t_utc_s={t_utc_s!r} is outside the price series "
                             f"({self.price.size} h from epoch {self.t0:g} s)")
        m = self.model
        out: dict[str, Any] = {"solve_time_s": float("nan"), "replanned": False,
                               "fcr_bid": None}
        on = bool(hp_on)
        if hour != self._hour:
            if self._on_state is None or on != self._on_state:
                self._on_hours = 10**6 if self._on_state is None else 1
            else:
                self._on_hours += 1
            self._on_state = on
            first = self._hour < 0
            self._hour = hour
            self._override = None
            if first:
                self._init_commitments(hour)
            self._level = float(level_kWh)
            reason = self._replan_reason(hour, i)
            if reason:
                out.update(self._make_plan(hour, i, float(level_kWh), on, reason))
        # safety override (latched for the rest of the hour)
        if self._override is None:
            if level_kWh > m.S_max_kWh:
                self._override = 0.0
            elif level_kWh < m.S_min_kWh:
                self._override = 1.0
            if self._override is not None:
                self._force = True
        plan = self.plan
        k = i - self._plan_i0
        if plan is not None and 0 <= k < plan.hours:
            Q, E, S = float(plan.Q_hp_kW[k]), float(plan.Q_eb_kW[k]), float(plan.S_kWh[k])
            load = Q / m.Q_nom_kW if plan.u[k] > 0.5 else 0.0
            status = plan.status
        else:  # no usable plan (infeasible from this state): keep the tank in its middle
            mid = 0.5 * (m.S_min_kWh + m.S_max_kWh)
            load = 1.0 if level_kWh < mid else 0.0
            Q, E, S, status = load * m.Q_nom_kW, 0.0, float("nan"), "fallback"
        if self._override is not None:
            load = self._override
        band = self._fcr_fixed.get(int(hour), 0.0) if self.fcr_price is not None else 0.0
        out.update({"load_set_frac": float(load), "Q_hp_plan_kW": Q, "Q_eb_plan_kW": E,
                    "S_plan_kWh": S, "fcr_band_kW": float(band),
                    "override": self._override is not None, "plan_status": status})
        return out

    # ---- internals -------------------------------------------------------------------------
    def _local(self, epoch_s: float) -> datetime:
        return datetime.fromtimestamp(epoch_s, self.tz)

    def _init_commitments(self, hour: float) -> None:
        """Hours whose FCR-N gate passed before the first call are committed (at 0) — except
        when the run starts at a local midnight: then the first plan sells that day's band, as
        the plant would have at the previous day's gate with the same prices (a week run
        otherwise loses its first day of FCR-N)."""
        loc = self._local(hour)
        if loc.hour == 0 and loc.minute == 0:
            self._committed_until = hour
            self._sell_first_day = True
            return
        self._committed_until = _local_midnight_after(hour, self.tz, 2 if loc.hour > self.gate
                                                      else 1)

    def _replan_reason(self, hour: float, i: int) -> str:
        loc = self._local(hour)
        if loc.hour == self.gate and loc.date().isoformat() not in self._gate_days:
            return "gate"
        if self.plan is None or self._fallback is not None:
            return "initial" if not self.solve_log else "retry"
        if self._force:
            return "override"
        if i - self._plan_i0 >= self.plan.hours:
            return "extend"
        k = i - self._plan_i0 - 1  # the plan's level at the end of the previous hour
        if (self.replan_deviation_kWh is not None and 0 <= k < self.plan.hours
                and abs(self._level - float(self.plan.S_kWh[k])) > self.replan_deviation_kWh):
            return "deviation"
        return "hourly" if self.replan == "hourly" else ""

    def _known_until(self, hour: float) -> float:
        """Epoch s up to which the day-ahead prices are known at ``hour``."""
        days = 2 if self._local(hour).hour >= self.gate else 1
        return _local_midnight_after(hour, self.tz, days)

    def _forecast(self, series: np.ndarray, i: int, H: int, n_known: int) -> np.ndarray:
        """series[i:i+H] with hours at index >= n_known replaced by the value k*24 h earlier."""
        j = np.arange(i, i + H)
        src = j.copy()
        late = j >= n_known
        src[late] = j[late] - 24 * ((j[late] - n_known) // 24 + 1)
        src = np.clip(src, 0, series.size - 1)
        return series[src]

    def _make_plan(self, hour: float, i: int, level: float, on: bool,
                   reason: str) -> dict[str, Any]:
        m = self.model
        H = min(self.horizon_h, self.price.size - i)
        n_known = max(i + 1, int(math.ceil((self._known_until(hour) - self.t0) / 3600.0)))
        price = self._forecast(self.price, i, H, n_known)
        demand = self.demand_fc[i: i + H]
        gate_day: str | None = None
        fcr_p = fixed = None
        hours_h = hour + 3600.0 * np.arange(H)
        loc = self._local(hour)
        if reason == "gate":
            self._gate_days.add(loc.date().isoformat())
        sell_end = _local_midnight_after(hour, self.tz, 2)
        if self.fcr_price is not None:
            fcr_p = self._forecast(self.fcr_price, i, H, n_known)
            if reason == "gate" and sell_end > self._committed_until:
                gate_day = (loc.date() + timedelta(days=1)).isoformat()
            elif self._sell_first_day:  # a run starting at midnight: sell today first
                self._sell_first_day = False
                gate_day = loc.date().isoformat()
                sell_end = _local_midnight_after(hour, self.tz, 1)
            fixed = np.where(hours_h < self._committed_until,
                             [self._fcr_fixed.get(int(h), 0.0) for h in hours_h], np.nan)
        S_end = self.terminal_kWh
        if S_end is None:
            S_end = min(max(level, m.S_min_kWh), m.S_max_kWh)
        plan: Plan | None = None
        for attempt in range(2):
            try:
                plan = plan_milp(price, demand, level, on, self._on_hours if attempt == 0 else
                                 10**6, m, fcr_price_DKK_per_MW_h=fcr_p, fcr_fixed_kW=fixed,
                                 S_end_min_kWh=S_end if attempt == 0 else None,
                                 time_limit_s=self.time_limit_s, mip_rel_gap=self.mip_rel_gap)
                break
            except PlanInfeasibleError:
                S_end = min(level, m.S_min_kWh)
        self._force = False
        if plan is None:
            self._fallback = hour
            self.plan = None
            self.solve_log.append(_SolveRecord(hour, reason, H, float("nan"), "infeasible",
                                               float("nan")))
            return {"replanned": True, "solve_time_s": float("nan")}
        self._fallback = None
        self.plan = plan
        self._plan_i0 = i
        self.solve_log.append(_SolveRecord(hour, reason, H, plan.solve_time_s, plan.status,
                                           plan.objective_DKK))
        res: dict[str, Any] = {"replanned": True, "solve_time_s": plan.solve_time_s}
        if gate_day is not None:
            end = sell_end
            sel = (hours_h >= self._committed_until) & (hours_h < end)
            day_hours = np.arange(self._committed_until, end, 3600.0)
            band = {int(h): float(b) for h, b in zip(hours_h[sel], plan.fcr_band_kW[sel],
                                                     strict=True)}
            bid = [band.get(int(h), 0.0) for h in day_hours]
            for h, b in zip(day_hours, bid, strict=True):
                self._fcr_fixed[int(h)] = b
            self._committed_until = end
            res["fcr_bid"] = {"day": gate_day, "band_kW": bid}
        return res


# --------------------------------------------------------------------------------------------
# perfect foresight and the annual energy model (report model a)
# --------------------------------------------------------------------------------------------


def perfect_foresight(
    price: Sequence[float] | np.ndarray | pd.Series,
    demand: Sequence[float] | np.ndarray | pd.Series,
    model: PlanModel,
    fcr_price: Sequence[float] | np.ndarray | pd.Series | None = None,
    *,
    S0_kWh: float | None = None,
    on0: bool = False,
    S_end_min_kWh: float | None = None,
    time_limit_s: float = 600.0,
    mip_rel_gap: float = 5e-3,
) -> Plan:
    """The whole-period (e.g. 8760 h) MILP with perfect price and demand foresight: the lower
    bound of the operating cost. FCR-N (if priced) is free per hour (no D-1 commitment). With a
    time limit the schedule may be sub-optimal: ``plan.mip_dual_bound_DKK`` is the proven bound.
    S0 defaults to the middle of the tank; the terminal condition is S_end >= S0."""
    p = np.asarray(price, dtype=float)
    d = np.asarray(demand, dtype=float)
    f = None if fcr_price is None else np.asarray(fcr_price, dtype=float)
    S0 = 0.5 * (model.S_min_kWh + model.S_max_kWh) if S0_kWh is None else float(S0_kWh)
    return plan_milp(p, d, S0, on0, 10**6, model, fcr_price_DKK_per_MW_h=f,
                     S_end_min_kWh=S_end_min_kWh, time_limit_s=time_limit_s,
                     mip_rel_gap=mip_rel_gap)


def _execute_hour(
    m: PlanModel, S: float, D: float, Q_cmd: float, E_cmd: float
) -> tuple[float, float, float, float]:
    """One hour of the energy-balance tank under a command. Production that would overfill the
    tank is cut (e-boiler first, then the heat pump = it stops early in the hour); a deficit
    below S_min is covered by the e-boiler, the rest is unserved demand.

    Returns (S_end kWh, Q_hp kWh, Q_eb kWh, unserved kWh)."""
    s_free = m.eta_per_h * S - D
    Q, E = Q_cmd, E_cmd
    excess = s_free + Q + E - m.S_max_kWh
    if excess > 0:
        dE = min(E, excess)
        E -= dE
        Q = max(0.0, Q - (excess - dE))
    s = s_free + Q + E
    unserved = 0.0
    if s < m.S_min_kWh:
        extra = min(m.eboiler_kW - E, m.S_min_kWh - s)
        E += extra
        s += extra
        if s < m.S_min_kWh:
            unserved = m.S_min_kWh - s
            s = m.S_min_kWh
    return s, Q, E, unserved


def simulate_energy_model(
    strategy: Literal["control_loop", "optimised", "optimised_fcr_n", "perfect_foresight"],
    price_el: Sequence[float] | np.ndarray | pd.Series,
    demand: Sequence[float] | np.ndarray | pd.Series,
    model: PlanModel,
    fcr_price: Sequence[float] | np.ndarray | pd.Series | None = None,
    *,
    start: datetime | str | pd.Timestamp | None = None,
    S0_kWh: float | None = None,
    on0: bool = False,
    load_frac: float = 0.88,
    level_on_kWh: float = 900.0,
    level_off_kWh: float = 4050.0,
    replan: Literal["daily", "hourly"] = "daily",
    horizon_h: int = 48,
    mip_rel_gap: float = 1e-3,
    time_limit_s: float = 20.0,
    pf_mip_rel_gap: float = 5e-3,
    pf_time_limit_s: float = 600.0,
    cop_of_load: Callable[[float], float] | None = None,
) -> dict[str, Any]:
    """The report's annual model a: an hourly energy-balance tank run by one strategy.

    Args:
        strategy: "control_loop" (HP at ``load_frac`` between the two levels), "optimised"
            (rolling MPC), "optimised_fcr_n" (rolling MPC with FCR-N; needs ``fcr_price``),
            "perfect_foresight" (one MILP over the whole period; FCR-N if ``fcr_price``).
        price_el: hourly TOTAL electricity price (spot + taxes + tariffs), DKK/MWh; a Series
            with an hourly UTC/tz index, or an array with ``start`` (default 2018-01-01 00:00
            Europe/Copenhagen).
        demand: hourly heat demand, kW. fcr_price: hourly FCR-N capacity price, DKK/MW/h.
        S0_kWh: initial tank level (default the middle of [S_min, S_max]).
        cop_of_load: optional COP(load fraction) to price the EXECUTED heat-pump electricity
            with the plant's own curve instead of the plan's affine fit.

    Returns:
        dict: heat_MWh (delivered), heat_hp_MWh, heat_eboiler_MWh, electricity_MWh,
        energy_cost_DKK, start_cost_DKK, fcr_revenue_DKK, total_cost_DKK,
        heat_price_DKK_per_MWh, starts, unserved_MWh, level_kWh (T,), Q_hp_kW (T,),
        Q_eb_kW (T,), P_el_kW (T,), fcr_band_kW (T,), level_end_kWh, stored_heat_change_kWh,
        total_cost_level_adjusted_DKK (the end-level change valued at the mean price times the
        marginal electricity per heat p_per), solve_times_s, n_plans, mip_gap (perfect
        foresight).

    FCR-N activation energy is not simulated (FCR-N is zero-mean over time; its tank
    head-/foot-room is reserved by the plan); revenue = committed band × price in hours the HP
    runs the whole hour.
    """
    if strategy not in ("control_loop", "optimised", "optimised_fcr_n", "perfect_foresight"):
        raise ValueError(f"strategy={strategy!r}; allowed: 'control_loop', 'optimised', "
                         "'optimised_fcr_n', 'perfect_foresight'")
    if strategy == "optimised_fcr_n" and fcr_price is None:
        raise ValueError("strategy='optimised_fcr_n' needs fcr_price (DKK/MW/h)")
    m = model
    if start is None and not isinstance(price_el, pd.Series):
        start = pd.Timestamp("2018-01-01 00:00", tz=LOCAL_TZ)
    t0, price = _as_hourly_series("price_el", price_el, start)
    T = price.size
    D = _aligned("demand", demand, t0, T, start)
    if np.any(D < 0):
        raise ValueError("demand must be >= 0")
    use_fcr = fcr_price is not None and strategy in ("optimised_fcr_n", "perfect_foresight")
    fp = _aligned("fcr_price", fcr_price, t0, T, start) if use_fcr else np.zeros(T)
    S = 0.5 * (m.S_min_kWh + m.S_max_kWh) if S0_kWh is None else float(S0_kWh)
    S0 = S

    loop: ControlLoop | None = None
    mpc: RollingHorizonMpc | None = None
    pf: Plan | None = None
    if strategy == "control_loop":
        loop = ControlLoop(load_frac, "level", level_on_kWh, level_off_kWh, on0=on0)
    elif strategy == "perfect_foresight":
        pf = perfect_foresight(price, D, m, fp if use_fcr else None, S0_kWh=S0, on0=on0,
                               time_limit_s=pf_time_limit_s, mip_rel_gap=pf_mip_rel_gap)
    else:
        mpc = RollingHorizonMpc(m, price, D, fp if use_fcr else None, start=pd.Timestamp(
            t0, unit="s", tz="UTC"), horizon_h=horizon_h, replan=replan,
            mip_rel_gap=mip_rel_gap, time_limit_s=time_limit_s)

    lev = np.empty(T)
    Qh = np.empty(T)
    Qe = np.empty(T)
    P = np.empty(T)
    band = np.zeros(T)
    uns = np.zeros(T)
    starts = 0
    on_prev = bool(on0)
    for t in range(T):
        E_cmd = 0.0
        b = 0.0
        if loop is not None:
            load = loop.step(level_kWh=S)
        elif pf is not None:
            load = pf.Q_hp_kW[t] / m.Q_nom_kW if pf.u[t] > 0.5 else 0.0
            E_cmd = float(pf.Q_eb_kW[t])
            b = float(pf.fcr_band_kW[t])
        else:
            assert mpc is not None
            r = mpc.step(t0 + 3600.0 * t, S, on_prev)
            load = r["load_set_frac"]
            E_cmd = r["Q_eb_plan_kW"] if load > 0 or r["plan_status"] != "fallback" else 0.0
            b = r["fcr_band_kW"]
        Q_cmd = load * m.Q_nom_kW
        S, Q, E, un = _execute_hour(m, S, float(D[t]), Q_cmd, E_cmd)
        on = Q > 1e-9
        frac = Q / Q_cmd if Q_cmd > 0 else 0.0
        if on:
            P_hp = (Q_cmd / cop_of_load(load) if cop_of_load is not None
                    else float(m.P_el_kW(Q_cmd))) * frac
        else:
            P_hp = 0.0
        starts += int(on and not on_prev)
        on_prev = on
        band[t] = b if (on and frac > 1 - 1e-9) else 0.0
        lev[t], Qh[t], Qe[t], uns[t] = S, Q, E, un
        P[t] = P_hp + E / m.eboiler_eta
    energy = float(np.dot(price, P) / 1000.0)
    start_cost = starts * m.start_cost_DKK
    rev = float(np.dot(fp, band) / 1000.0)
    total = energy + start_cost - rev
    heat = float((D.sum() - uns.sum()) / 1000.0)
    dS = float(lev[-1] - S0)
    c_heat = float(np.mean(price)) / 1000.0 * m.p_per_kWth
    solve = (mpc.solve_times_s if mpc is not None
             else np.array([pf.solve_time_s]) if pf is not None else np.zeros(0))
    return {
        "strategy": strategy,
        "heat_MWh": heat,
        "heat_hp_MWh": float(Qh.sum() / 1000.0),
        "heat_eboiler_MWh": float(Qe.sum() / 1000.0),
        "electricity_MWh": float(P.sum() / 1000.0),
        "energy_cost_DKK": energy,
        "start_cost_DKK": float(start_cost),
        "fcr_revenue_DKK": rev,
        "total_cost_DKK": total,
        "heat_price_DKK_per_MWh": total / heat if heat > 0 else float("nan"),
        "starts": starts,
        "unserved_MWh": float(uns.sum() / 1000.0),
        "level_kWh": lev,
        "Q_hp_kW": Qh,
        "Q_eb_kW": Qe,
        "P_el_kW": P,
        "fcr_band_kW": band,
        "level_end_kWh": float(lev[-1]),
        "stored_heat_change_kWh": dS,
        "total_cost_level_adjusted_DKK": total - dS * c_heat,
        "solve_times_s": solve,
        "n_plans": int(solve.size),
        "mip_gap": float(pf.mip_gap) if pf is not None else float("nan"),
    }


__all__ = [
    "ControlLoop",
    "Plan",
    "PlanInfeasibleError",
    "PlanModel",
    "RollingHorizonMpc",
    "affine_fit",
    "evaluate_plan",
    "perfect_foresight",
    "plan_milp",
    "simulate_energy_model",
]

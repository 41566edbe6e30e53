"""RC building model core: the iPower single-family-house categories, vectorised over a fleet.

Pure numpy (+ ``scipy.linalg.expm``) core, no co-simulation imports. A fleet of N houses is one
:class:`Building`; every per-house input and output is an array of shape ``(N,)``.

Thermal network (all conductances in W/K, capacities in Wh/K, per house)::

    RAD (2 nodes):  Q_heat, gains -> air --H_as-- structure --H_trans--> outdoor
                                     air --H_vent--> outdoor
    FLO (3 nodes):  Q_heat -> floor --H_fa-- air --H_as-- walls/ceiling --H_trans--> outdoor
                               floor --H_fo--> outdoor;  gains -> air --H_vent--> outdoor

Every house is held as a 3-state system ``x = [T_air, T_structure, T_floor]``; for a RAD house the
floor state is a decoupled dummy (no inputs, no coupling), so a mixed fleet steps with one batched
matrix product. The linear ODE is discretised exactly for inputs held constant over the step
(zero-order hold, augmented-matrix exponential), including the exact mean heat loss over the step,
so the energy balance closes to round-off at any step length.

Facts: iPower WP5.5 (DEA 2014) §7.1.4 (capacities), Table 22 (heat-transfer coefficients),
Table 20 (house sizes), Table 3 (categories); see the project's reference note
ipower-residential-heat-pumps.md §2. Parameters the report does not give are chosen below with
their sources (docs/models/building.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import expm

__all__ = [
    "CATEGORIES",
    "BuildingParams",
    "building_params",
    "Building",
    "OVERRIDE_NAMES",
]

# --------------------------------------------------------------------------------------------
# Reference data (iPower WP5.5, DEA 2014)
# --------------------------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = (
    "RAD_1_C60",
    "RAD_1_C100",
    "RAD_1_C140",
    "RAD_2_C60",
    "RAD_2_C100",
    "RAD_2_C140",
    "RAD_3_C60",
    "RAD_3_C100",
    "RAD_3_C140",
    "FLO_3",
)
"""The 10 iPower categories (Table 3). Period 1 = 1850–1960, 2 = 1961–1978, 3 = 1979–2005."""

_CATEGORY_RE = re.compile(r"^(RAD)_([123])_C(60|100|140)$|^(FLO)_(3)$")

_TABLE22_YEARS = np.array([2020.0, 2025.0, 2030.0, 2035.0])
"""Years of Table 22; other years in 2020–2035 are interpolated linearly (report L2174)."""

_H_VENT_W_PER_M2K: dict[int, tuple[float, ...]] = {
    1: (0.34, 0.32, 0.31, 0.29),
    2: (0.32, 0.31, 0.30, 0.30),
    3: (0.29, 0.28, 0.28, 0.28),
}
"""Table 22: ventilation, indoor air -> outdoor, W per m² floor per K."""

_H_RAD_TRANS_W_PER_M2K: dict[int, tuple[float, ...]] = {
    1: (1.57, 1.49, 1.41, 1.33),
    2: (0.98, 0.97, 0.95, 0.93),
    3: (0.53, 0.52, 0.50, 0.48),
}
"""Table 22: RAD construction -> outdoor air, W per m² floor per K."""

_H_FLO_TRANS_W_PER_M2K: tuple[float, ...] = (0.47, 0.45, 0.44, 0.43)
"""Table 22: FLO walls/ceiling -> outdoor air (period 3 only), W per m² floor per K."""

HOUSE_AREA_M2: dict[int, float] = {1: 142.0, 2: 151.0, 3: 171.0}
"""Table 20: average heated floor area per house by construction period, m² (same every year)."""

C_AIR_WH_PER_M2K: float = 4.0
"""§7.1.4 L2151: indoor air plus furniture, Wh per m² floor per K."""

C_FLO_WALL_WH_PER_M2K: float = 100.0
C_FLO_FLOOR_WH_PER_M2K: float = 67.0
"""§7.1.4 L2155: floor-heated houses have C_wall = 100 plus a floor slab of 67 Wh/(m²·K)."""

# --------------------------------------------------------------------------------------------
# Parameters the report does not give ([MISSING] in the reference note): chosen defaults
# --------------------------------------------------------------------------------------------

H_AIR_STRUCTURE_W_PER_M2K: float = 7.7 * 2.5
"""Air <-> structure coupling, W per m² floor per K (= 19.25).

Interior surface film h_si = 7.7 W/(m²K) (EN ISO 6946, R_si = 0.13 m²K/W) times ~2.5 m² of interior
surface (walls, ceiling, floor) per m² of floor. iPower's loss tables add ventilation and
transmission as if air and structure were tightly coupled ("strong air–structure coupling" in the
reference's derived H per house); with this value the effective loss coefficient stays within
~7 % of the Table 22 total, and the annual heat demand of Table 20 is reproduced within 9 % for
all three construction periods (tests/test_building.py).  The weaker EN ISO 13790 5R1C series path
(air -> surface -> mass, 1/(1/(3.45·4.5) + 1/(9.1·2.5)) ≈ 9.2 W/(m²K)) is the alternative for a
structure node that sits deeper in the wall; it makes the room air swing ~2 K within half an
hour whenever the heat pump pauses for hot water, which measured radiator houses do not show.
Configurable (override ``H_air_structure_W_per_m2K``)."""

H_FLOOR_AIR_W_PER_M2K: float = 10.8
"""FLO floor surface -> room, W per m² floor per K: EN 1264 total (convective + radiative) heat
exchange coefficient of a heated floor, 10.8 W/(m²K). A floor covering would lower it."""

Q_GAINS_W_PER_M2: float = 5.0
"""Internal gains, W per m² floor: Danish dwelling values (SBi-anvisning 213 / DS 418): persons
1.5 W/m² + appliances 3.5 W/m². Solar gains are not in iPower (never mentioned) and are left out."""

_DUMMY_RATE_PER_S: float = 1.0 / 60.0
"""Self-decay of the unused floor state of RAD houses (keeps the system matrix regular; the state
has no input and no coupling, so it never affects any output)."""

OVERRIDE_NAMES: tuple[str, ...] = (
    "area_m2",
    "C_air_Wh_per_m2K",
    "C_wall_Wh_per_m2K",
    "C_floor_Wh_per_m2K",
    "H_vent_W_per_m2K",
    "H_trans_W_per_m2K",
    "H_air_structure_W_per_m2K",
    "H_floor_air_W_per_m2K",
    "H_floor_out_W_per_m2K",
    "q_gains_W_per_m2",
)
"""Keyword overrides of :func:`building_params` (scalar or per-house array; per m² of heated floor
except ``area_m2``). Floor parameters only apply to FLO houses."""


def _ro(a: np.ndarray) -> np.ndarray:
    """Return ``a`` marked read-only (parameters are immutable)."""
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class BuildingParams:
    """Per-house parameters of a fleet of N houses (every field an array of length N).

    Capacities in Wh/K, conductances in W/K, gains in W, areas in m². RAD houses have
    ``C_floor_Wh_per_K == H_floor_air_W_per_K == H_floor_out_W_per_K == 0``.
    """

    area_m2: np.ndarray
    C_air_Wh_per_K: np.ndarray
    C_structure_Wh_per_K: np.ndarray
    C_floor_Wh_per_K: np.ndarray
    H_vent_W_per_K: np.ndarray
    H_trans_W_per_K: np.ndarray
    H_air_structure_W_per_K: np.ndarray
    H_floor_air_W_per_K: np.ndarray
    H_floor_out_W_per_K: np.ndarray
    Q_gains_W: np.ndarray
    is_floor: np.ndarray
    categories: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = np.asarray(self.area_m2).reshape(-1).shape[0]
        if n == 0:
            raise ValueError("BuildingParams: a fleet needs at least one house (N = 0 given)")
        for name in _FLOAT_FIELDS:
            arr = np.array(getattr(self, name), dtype=float).reshape(-1)
            if arr.shape[0] == 1 and n > 1:
                arr = np.repeat(arr, n)
            if arr.shape[0] != n:
                raise ValueError(f"BuildingParams.{name}: length {arr.shape[0]}, expected {n}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"BuildingParams.{name}: non-finite value in {arr}")
            object.__setattr__(self, name, _ro(arr))
        is_floor = np.array(self.is_floor, dtype=bool).reshape(-1)
        if is_floor.shape[0] == 1 and n > 1:
            is_floor = np.repeat(is_floor, n)
        if is_floor.shape[0] != n:
            raise ValueError(f"BuildingParams.is_floor: length {is_floor.shape[0]}, expected {n}")
        object.__setattr__(self, "is_floor", _ro(is_floor))
        if self.categories and len(self.categories) != n:
            raise ValueError(f"BuildingParams.categories: {len(self.categories)} names for {n}")
        object.__setattr__(self, "categories", tuple(self.categories))
        self._check_signs()

    def _check_signs(self) -> None:
        """Capacities and couplings must be positive where used, losses non-negative."""
        positive = ["area_m2", "C_air_Wh_per_K", "C_structure_Wh_per_K", "H_air_structure_W_per_K"]
        for name in positive:
            _require(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ["H_vent_W_per_K", "H_trans_W_per_K", "H_floor_out_W_per_K"]:
            _require(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        fl = self.is_floor
        _require(self.C_floor_Wh_per_K[fl] > 0, "C_floor_Wh_per_K", self.C_floor_Wh_per_K,
                 "> 0 for floor-heated (FLO) houses")
        _require(self.H_floor_air_W_per_K[fl] > 0, "H_floor_air_W_per_K",
                 self.H_floor_air_W_per_K, "> 0 for floor-heated (FLO) houses")
        for name in ["C_floor_Wh_per_K", "H_floor_air_W_per_K", "H_floor_out_W_per_K"]:
            _require(getattr(self, name)[~fl] == 0, name, getattr(self, name),
                     "0 for radiator (RAD) houses")
        if not np.any(self.H_vent_W_per_K + self.H_trans_W_per_K + self.H_floor_out_W_per_K > 0):
            raise ValueError("BuildingParams: every house needs some heat loss to outdoors")

    @property
    def n(self) -> int:
        """Number of houses N."""
        return int(self.area_m2.shape[0])


_FLOAT_FIELDS: tuple[str, ...] = (
    "area_m2",
    "C_air_Wh_per_K",
    "C_structure_Wh_per_K",
    "C_floor_Wh_per_K",
    "H_vent_W_per_K",
    "H_trans_W_per_K",
    "H_air_structure_W_per_K",
    "H_floor_air_W_per_K",
    "H_floor_out_W_per_K",
    "Q_gains_W",
)


def _require(ok: np.ndarray | bool, name: str, value: object, allowed: str) -> None:
    """Raise ``ValueError`` naming the parameter, the bad value and what is allowed."""
    if not np.all(ok):
        raise ValueError(f"building parameter {name}: bad value {value}; allowed: {allowed}")


def _parse_category(category: str) -> tuple[bool, int, float]:
    """Return (is_floor, construction period 1..3, C_wall Wh/(m²K)) of an iPower category name."""
    m = _CATEGORY_RE.match(category) if isinstance(category, str) else None
    if m is None:
        raise ValueError(
            f"building category {category!r} is not known; allowed: {', '.join(CATEGORIES)}"
        )
    if m.group(1) == "RAD":
        return False, int(m.group(2)), float(m.group(3))
    return True, 3, C_FLO_WALL_WH_PER_M2K


def _interp_year(values: tuple[float, ...], year: float) -> float:
    """Linear interpolation of a Table 22 row at ``year``."""
    return float(np.interp(year, _TABLE22_YEARS, np.asarray(values)))


def building_params(
    category: str | Sequence[str], year: int = 2020, **overrides: float | Sequence[float]
) -> BuildingParams:
    """Parameters of iPower category house(s) for a coefficient year in 2020–2035.

    Args:
        category: one category name or a sequence of N names (a mixed fleet), see ``CATEGORIES``.
        year: year of the Table 22 heat-transfer coefficients, 2020..2035 (linear interpolation).
        **overrides: any of ``OVERRIDE_NAMES`` (scalar or length-N array), per m² heated floor
            except ``area_m2`` (m²). Floor parameters apply to FLO houses only.

    Returns:
        BuildingParams with absolute per-house values (Wh/K, W/K, W).
    """
    cats = [category] if isinstance(category, str) else list(category)
    if not cats:
        raise ValueError("building category: empty list; give at least one of " + ", ".join(
            CATEGORIES))
    if isinstance(year, bool) or not isinstance(year, (int, float, np.integer, np.floating)):
        raise ValueError(f"building year {year!r}: must be a number in 2020..2035")
    if not 2020 <= float(year) <= 2035:
        raise ValueError(
            f"building year {year}: outside the range of iPower Table 22; allowed: 2020..2035"
        )
    unknown = sorted(set(overrides) - set(OVERRIDE_NAMES))
    if unknown:
        raise ValueError(
            f"building override(s) {', '.join(unknown)} not known; allowed: "
            + ", ".join(OVERRIDE_NAMES)
        )
    n = len(cats)
    parsed = [_parse_category(c) for c in cats]
    is_floor = np.array([p[0] for p in parsed], dtype=bool)
    period = np.array([p[1] for p in parsed])
    y = float(year)
    per_m2 = {
        "area_m2": np.array([HOUSE_AREA_M2[int(p)] for p in period]),
        "C_air_Wh_per_m2K": np.full(n, C_AIR_WH_PER_M2K),
        "C_wall_Wh_per_m2K": np.array([p[2] for p in parsed]),
        "C_floor_Wh_per_m2K": np.full(n, C_FLO_FLOOR_WH_PER_M2K),
        "H_vent_W_per_m2K": np.array([_interp_year(_H_VENT_W_PER_M2K[int(p)], y) for p in period]),
        "H_trans_W_per_m2K": np.array(
            [
                _interp_year(_H_FLO_TRANS_W_PER_M2K if fl else _H_RAD_TRANS_W_PER_M2K[int(p)], y)
                for fl, p in zip(is_floor, period, strict=True)
            ]
        ),
        "H_air_structure_W_per_m2K": np.full(n, H_AIR_STRUCTURE_W_PER_M2K),
        "H_floor_air_W_per_m2K": np.full(n, H_FLOOR_AIR_W_PER_M2K),
        # Floor -> outdoor/ground: RAD_3 minus FLO_3 construction coefficient of the same year, so
        # a FLO house loses as much per K as the RAD house of its period (Table 22 gives no ground
        # loss; the FLO row only covers walls/ceiling).
        "H_floor_out_W_per_m2K": np.full(
            n, _interp_year(_H_RAD_TRANS_W_PER_M2K[3], y) - _interp_year(_H_FLO_TRANS_W_PER_M2K, y)
        ),
        "q_gains_W_per_m2": np.full(n, Q_GAINS_W_PER_M2),
    }
    for name, value in overrides.items():
        arr = np.array(value, dtype=float).reshape(-1)
        if arr.shape[0] not in (1, n):
            raise ValueError(
                f"building override {name}: {arr.shape[0]} values for {n} houses; "
                "allowed: a scalar or one value per house"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"building override {name}: bad value {value}; allowed: finite")
        per_m2[name] = np.broadcast_to(arr, (n,)).astype(float)
    a = per_m2["area_m2"]
    fl = is_floor.astype(float)
    return BuildingParams(
        area_m2=a,
        C_air_Wh_per_K=per_m2["C_air_Wh_per_m2K"] * a,
        C_structure_Wh_per_K=per_m2["C_wall_Wh_per_m2K"] * a,
        C_floor_Wh_per_K=per_m2["C_floor_Wh_per_m2K"] * a * fl,
        H_vent_W_per_K=per_m2["H_vent_W_per_m2K"] * a,
        H_trans_W_per_K=per_m2["H_trans_W_per_m2K"] * a,
        H_air_structure_W_per_K=per_m2["H_air_structure_W_per_m2K"] * a,
        H_floor_air_W_per_K=per_m2["H_floor_air_W_per_m2K"] * a * fl,
        H_floor_out_W_per_K=per_m2["H_floor_out_W_per_m2K"] * a * fl,
        Q_gains_W=per_m2["q_gains_W_per_m2"] * a,
        is_floor=is_floor,
        categories=tuple(cats),
    )


# --------------------------------------------------------------------------------------------
# Building core
# --------------------------------------------------------------------------------------------

_N_STATE = 3  # [T_air, T_structure, T_floor], °C
_N_INPUT = 3  # [T_out °C, Q_heat W, Q_gains W]
_MAX_CACHE = 16


def _continuous_system(p: BuildingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous-time ``dx/dt = A x + B u`` (A: (N,3,3) 1/s, B: (N,3,3)) and the row vectors
    ``L`` (N,3) W/K of the conductances from each node to outdoors."""
    n = p.n
    fl = p.is_floor
    c_j = np.stack(
        [p.C_air_Wh_per_K, p.C_structure_Wh_per_K, np.where(fl, p.C_floor_Wh_per_K, 1.0)], axis=1
    ) * 3600.0  # J/K
    h_as, h_fa = p.H_air_structure_W_per_K, p.H_floor_air_W_per_K
    out = np.stack([p.H_vent_W_per_K, p.H_trans_W_per_K, p.H_floor_out_W_per_K], axis=1)
    k = np.zeros((n, _N_STATE, _N_STATE))  # conductance matrix, W/K
    k[:, 0, 1] = k[:, 1, 0] = -h_as
    k[:, 0, 2] = k[:, 2, 0] = -h_fa
    k[:, 0, 0] = h_as + h_fa + out[:, 0]
    k[:, 1, 1] = h_as + out[:, 1]
    k[:, 2, 2] = h_fa + out[:, 2]
    a = -k / c_j[:, :, None]
    a[~fl, 2, 2] = -_DUMMY_RATE_PER_S
    b = np.zeros((n, _N_STATE, _N_INPUT))
    b[:, :, 0] = out / c_j
    heat_node = np.where(fl, 2, 0)
    b[np.arange(n), heat_node, 1] = 1.0 / c_j[np.arange(n), heat_node]
    b[:, 0, 2] = 1.0 / c_j[:, 0]
    return a, b, out


class Building:
    """A fleet of N RC houses (iPower categories), exact zero-order-hold stepping.

    State ``[T_air, T_structure, T_floor]`` in °C per house. Heat input goes to the indoor air of
    RAD houses and to the floor slab of FLO houses; internal gains go to the indoor air.
    """

    def __init__(
        self,
        params: BuildingParams,
        T_room0_C: float | np.ndarray = 21.5,
        T_structure0_C: float | np.ndarray | None = None,
        T_floor0_C: float | np.ndarray | None = None,
    ) -> None:
        """Create the fleet; structure and floor start at the room temperature unless given."""
        if not isinstance(params, BuildingParams):
            raise ValueError(f"Building params: expected BuildingParams, got {type(params)!r}")
        self._p = params
        self._a, self._b, self._out = _continuous_system(params)
        self._c_j = np.stack(
            [params.C_air_Wh_per_K, params.C_structure_Wh_per_K, params.C_floor_Wh_per_K], axis=1
        ) * 3600.0
        self._cache: dict[float, np.ndarray] = {}
        self._dc: np.ndarray | None = None
        t_room = self._vec("T_room0_C", T_room0_C)
        t_struct = t_room if T_structure0_C is None else self._vec("T_structure0_C", T_structure0_C)
        t_floor = t_room if T_floor0_C is None else self._vec("T_floor0_C", T_floor0_C)
        # state held transposed, (3, N), so each node is one contiguous row
        self._x = np.stack([t_room, t_struct, np.where(params.is_floor, t_floor, 0.0)], axis=0)

    # ---------------------------------------------------------------- helpers
    def _vec(self, name: str, value: float | np.ndarray) -> np.ndarray:
        """An input as a float array of shape (N,) (scalars broadcast), rejecting non-finite values.

        May return the caller's own array (never mutated here)."""
        if type(value) is float or type(value) is int:
            if not math.isfinite(value):
                raise ValueError(f"Building input {name}: bad value {value!r}; allowed: finite")
            return np.full(self.n, float(value))
        try:
            arr = np.asarray(value, dtype=float)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"Building input {name}: cannot use {value!r}; allowed: a number or {self.n} values"
            ) from exc
        if arr.shape != (self.n,):
            if arr.size != 1:
                raise ValueError(
                    f"Building input {name}: shape {arr.shape}; allowed: a number or ({self.n},)"
                )
            arr = np.full(self.n, float(arr.reshape(-1)[0]))
        if not np.isfinite(arr).all():
            raise ValueError(f"Building input {name}: bad value {value!r}; allowed: finite numbers")
        return arr

    def _step_matrix(self, dt_s: float) -> np.ndarray:
        """Exact discrete map ``[x1; Q_loss_mean] = S @ [x0; u]`` for a step ``dt_s``, stored
        transposed as (4, 6, N) so the batched product runs over contiguous rows.

        Blocks of ``expm([[A dt, I, 0], [0, 0, I], [0, 0, 0]])``: E11 = e^{A dt},
        E12 = Γ1/dt with Γ1 = ∫₀^dt e^{As} ds, E13 = Γ2/dt² with Γ2 = ∫₀^dt ∫₀^s e^{Ar} dr ds.
        Then Bd = Γ1 B and ∫₀^dt x dt = Γ1 x0 + Γ2 B u.
        """
        key = float(dt_s)
        s = self._cache.get(key)
        if s is not None:
            return s
        n, k = self.n, _N_STATE
        eye = np.broadcast_to(np.eye(k), (n, k, k))
        m = np.zeros((n, 3 * k, 3 * k))
        m[:, :k, :k] = self._a * dt_s
        m[:, :k, k : 2 * k] = eye
        m[:, k : 2 * k, 2 * k :] = eye
        e = expm(m)
        ad = e[:, :k, :k]
        g1 = e[:, :k, k : 2 * k] * dt_s
        g2 = e[:, :k, 2 * k :] * dt_s**2
        s = np.zeros((n, k + 1, k + _N_INPUT))
        s[:, :k, :k] = ad
        s[:, :k, k:] = g1 @ self._b
        lrow = self._out[:, None, :]  # (N,1,3)
        s[:, k, :k] = (lrow @ g1)[:, 0, :] / dt_s
        s[:, k, k:] = (lrow @ g2 @ self._b)[:, 0, :] / dt_s
        s[:, k, k] -= self._out.sum(axis=1)  # minus ΣH_out · T_out
        s = _ro(np.ascontiguousarray(s.transpose(1, 2, 0)))
        if len(self._cache) >= _MAX_CACHE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = s
        return s

    def _check_dt(self, dt_s: float) -> float:
        dt = float(dt_s)
        if not np.isfinite(dt) or dt <= 0:
            raise ValueError(f"Building dt_s: bad value {dt_s!r}; allowed: a finite number > 0")
        return dt

    def _gains_W(self, Q_gains_kW: float | np.ndarray | None) -> np.ndarray:
        if Q_gains_kW is None:
            return self._p.Q_gains_W
        return self._vec("Q_gains_kW", Q_gains_kW) * 1000.0

    # ---------------------------------------------------------------- public API
    @property
    def n(self) -> int:
        """Number of houses N."""
        return self._p.n

    @property
    def params(self) -> BuildingParams:
        """The (immutable) parameters of the fleet."""
        return self._p

    def step(
        self,
        dt_s: float,
        Q_heat_kW: float | np.ndarray,
        T_out_C: float | np.ndarray,
        Q_gains_kW: float | np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``dt_s`` seconds with inputs held constant; return fresh (N,) arrays.

        Args:
            dt_s: step length, s (> 0).
            Q_heat_kW: heat delivered by the heating system, kW (air for RAD, floor for FLO).
            T_out_C: outdoor temperature, °C.
            Q_gains_kW: internal gains into the air, kW (None: the parameters' default gains).

        Returns:
            ``T_room_C``, ``T_structure_C``, ``T_floor_C`` (NaN for RAD) at the end of the step,
            ``Q_loss_kW`` (mean heat loss to outdoors over the step), ``Q_heat_kW``, ``Q_gains_kW``.
        """
        s = self._step_matrix(self._check_dt(dt_s))
        q_heat = self._vec("Q_heat_kW", Q_heat_kW)
        t_out = self._vec("T_out_C", T_out_C)
        gains_w = self._gains_W(Q_gains_kW)
        z = np.empty((_N_STATE + _N_INPUT, self.n))
        z[:_N_STATE] = self._x
        z[3] = t_out
        np.multiply(q_heat, 1000.0, out=z[4])
        z[5] = gains_w
        res = np.einsum("ijn,jn->in", s, z)
        self._x = res[:_N_STATE]  # never handed out: outputs below are copies
        return {
            "T_room_C": res[0].copy(),
            "T_structure_C": res[1].copy(),
            "T_floor_C": np.where(self._p.is_floor, res[2], np.nan),
            "Q_loss_kW": res[3] / 1000.0,
            "Q_heat_kW": q_heat.copy(),
            "Q_gains_kW": gains_w / 1000.0,
        }

    def heat_to_reach_kW(
        self,
        dt_s: float,
        T_target_C: float | np.ndarray,
        T_out_C: float | np.ndarray,
        Q_gains_kW: float | np.ndarray | None = None,
    ) -> np.ndarray:
        """Constant heat input, kW, that brings T_room exactly to ``T_target_C`` after ``dt_s``.

        Deadbeat inverse of the exact discretisation; the result may be negative or very large
        (e.g. a FLO house over a short step) — the caller clips it to what the plant can do.
        """
        s = self._step_matrix(self._check_dt(dt_s))
        target = self._vec("T_target_C", T_target_C)
        t_out = self._vec("T_out_C", T_out_C)
        gains_w = self._gains_W(Q_gains_kW)
        free = np.einsum("jn,jn->n", s[0, :_N_STATE], self._x)
        free += s[0, 3] * t_out + s[0, 5] * gains_w
        return (target - free) / s[0, 4] / 1000.0

    def _dc_gain(self) -> np.ndarray:
        """Steady-state gain ``x_ss = G u``, (N,3,3): K per K of T_out, K per W of heat/gains."""
        if self._dc is None:
            self._dc = -np.linalg.solve(self._a, self._b)
        return self._dc

    def steady_state_heat_kW(
        self,
        T_room_C: float | np.ndarray,
        T_out_C: float | np.ndarray,
        Q_gains_kW: float | np.ndarray | None = None,
    ) -> np.ndarray:
        """Constant heat input, kW, that holds ``T_room_C`` in steady state at ``T_out_C``."""
        g = self._dc_gain()[:, 0, :]
        t_room = self._vec("T_room_C", T_room_C)
        t_out = self._vec("T_out_C", T_out_C)
        gains_w = self._gains_W(Q_gains_kW)
        return (t_room - g[:, 0] * t_out - g[:, 2] * gains_w) / g[:, 1] / 1000.0

    @property
    def H_W_per_K(self) -> np.ndarray:
        """Total steady-state loss coefficient per house, W/K: heat input (at the heating node)
        per K of room–outdoor difference. Lower than the Table 22 sum because the structure
        loses from its own (lower) temperature through the finite air–structure coupling."""
        return 1.0 / self._dc_gain()[:, 0, 1]

    @property
    def H_envelope_W_per_K(self) -> np.ndarray:
        """Sum of the conductances to outdoors (ventilation + transmission + floor), W/K: the
        iPower Table 22 total. ``C_Wh_per_K / H_envelope_W_per_K`` is the report's time constant
        and approximates the free cool-down (slowest) time constant ``tau_h``."""
        return self._out.sum(axis=1)

    @property
    def C_Wh_per_K(self) -> np.ndarray:
        """Total heat capacity per house (air + structure + floor), Wh/K."""
        p = self._p
        return p.C_air_Wh_per_K + p.C_structure_Wh_per_K + p.C_floor_Wh_per_K

    @property
    def tau_h(self) -> np.ndarray:
        """Slowest time constant per house, h (from the eigenvalues of A)."""
        lam = np.linalg.eigvals(self._a).real  # all negative
        return -1.0 / lam.max(axis=1) / 3600.0

    @property
    def state(self) -> np.ndarray:
        """Copy of the state, (N,3) °C: [T_air, T_structure, T_floor] (T_floor NaN for RAD)."""
        x = self._x.T.copy()
        x[~self._p.is_floor, 2] = np.nan
        return x

    @state.setter
    def state(self, value: np.ndarray) -> None:
        x = np.array(value, dtype=float)
        if x.shape != (self.n, _N_STATE):
            raise ValueError(f"Building state: shape {x.shape}, allowed: ({self.n}, {_N_STATE})")
        x[~self._p.is_floor, 2] = 0.0
        if not np.all(np.isfinite(x)):
            raise ValueError("Building state: non-finite temperature; allowed: finite °C values")
        self._x = np.ascontiguousarray(x.T)

"""A fleet of N heat-pump houses sampled from the iPower categories, and household base load.

Pure numpy core (no co-simulation imports). :func:`sample_fleet` draws N houses with seeded
diversity and returns a :class:`Fleet` of per-house parameter arrays that feed the existing
vectorised cores (``Building``, ``HeatPump``, ``Tank``, ``DhwDemand``); :class:`BaseLoad` is the
non-heat-pump household consumption the feeder also sees.

Facts (iPower WP5.5, DEA 2014, see ``shared/reference/ipower-residential-heat-pumps.md``):
construction-period shares = number of heat pumps per period (Table 20, by year); C classes and
floor heating per Table 3; house areas (Table 20, via ``building.py``); DHW = hot-water share x
heat demand per house (Table 20, §2.7); sizing = design load at −12 °C incl. mean DHW (§3);
comfort 21.5 °C with the flexible band 20–23 °C (§2.5). Values the report does not give are
marked ASSUMPTION below, with the reasoning; all are fields of :class:`FleetSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulators import building as building_mod
from simulators import heatpump as heatpump_mod
from simulators import tank as tank_mod
from simulators.constants import CP_WATER_J_PER_KGK, RHO_WATER_KG_PER_M3, WH_PER_J
from simulators.demand import DhwDemand

__all__ = [
    "HP_COUNT_BY_PERIOD",
    "FleetSpec",
    "Fleet",
    "category_shares",
    "sample_fleet",
    "BaseLoad",
    "BASE_PROFILE_WEEKDAY",
    "BASE_PROFILE_WEEKEND",
    "fleet_to_mapping",
]

# --------------------------------------------------------------------------------------------
# iPower facts (Table 20)
# --------------------------------------------------------------------------------------------

HP_COUNT_BY_PERIOD: dict[int, tuple[int, int, int]] = {
    2020: (26_018, 36_079, 19_777),
    2025: (33_412, 48_474, 26_781),
    2030: (47_329, 70_639, 39_663),
    2035: (92_257, 144_146, 81_994),
}
"""iPower Table 20: number of heat pumps in periods 1850–1960 / 1961–1978 / 1979–2005."""

_HEAT_KWH_PER_M2: dict[int, tuple[float, float, float]] = {
    2020: (174.0, 116.0, 72.0), 2025: (169.0, 115.0, 71.0),
    2030: (157.0, 111.0, 68.0), 2035: (149.0, 109.0, 65.0),
}
"""iPower Table 20: heat demand per m² (space heating + DHW), kWh/(m²·yr), per period."""

_DHW_SHARE: dict[int, tuple[float, float, float]] = {
    2020: (0.12, 0.15, 0.26), 2025: (0.13, 0.16, 0.27),
    2030: (0.13, 0.16, 0.28), 2035: (0.14, 0.16, 0.28),
}
"""iPower Table 20: hot-water share of the heat demand, per period."""

_C_CLASSES: tuple[int, int, int] = (60, 100, 140)

# --------------------------------------------------------------------------------------------
# Fleet specification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetSpec:
    """How a fleet is sampled (every field configurable).

    Attributes:
        year: iPower year 2020/2025/2030/2035 for period shares, heat demand and DHW shares;
            also the year of the building coefficients and the heat pumps' COP factor.
        c_class_shares: shares of C60/C100/C140 within each period. ASSUMPTION: equal thirds;
            iPower takes them from Hedegaard 2013 and does not print them [MISSING].
        floor_share_period3: share of floor-heated (FLO_3) houses in period 3 (1979–2005).
            ASSUMPTION 0.5: iPower models FLO only in period 3 and gives no share [MISSING].
        air_source_share: share of air/water units (rest ground source). ASSUMPTION 0.7: the
            iPower GS/AW split is an image [MISSING]; air/water dominates Danish sales.
        setpoint_mean_C, setpoint_sd_K, setpoint_min_C, setpoint_max_C: comfort set point per
            house ~ N(21.5, 0.5) clipped to the iPower flexible band 20–23 °C. The mean is
            iPower's non-flexible 21.5 °C; the spread is an ASSUMPTION (households differ).
        persons_probs: household size 1..5 probabilities. ASSUMPTION for Danish detached
            houses (more 2–4-person households than the national mean of ~2.1).
        dhw_sd: lognormal spread of the daily DHW energy between houses (ASSUMPTION 0.25).
        dhw_person_exponent: DHW ∝ (persons / mean persons)^exponent (ASSUMPTION 0.7: fixed
            losses and shared use make it less than proportional).
        tank_sizes_l: catalogue of DHW tank volumes, litres.
        tank_reserve_factor: choose the smallest tank whose 10→60 °C content covers this many
            days of the house's mean DHW (ASSUMPTION 1.25).
        hp_sizes_kW: catalogue of rated heat-pump heat capacities at −12 °C, kW.
        oversize_min, oversize_max: installers' sizing margin, uniform, applied to the iPower
            design load before rounding up to the catalogue (ASSUMPTION 1.0–1.2).
        base_kwh_per_year: mean household (non-heat-pump) electricity, kWh/yr. ASSUMPTION ~4000
            kWh/yr, the usual figure for a Danish house without electric heating.
        base_sd: lognormal spread of the annual base load between houses (ASSUMPTION 0.25).
        base_person_exponent: base load ∝ (persons / mean)^exponent (ASSUMPTION 0.5).
    """

    year: int = 2020
    c_class_shares: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    floor_share_period3: float = 0.5
    air_source_share: float = 0.7
    setpoint_mean_C: float = 21.5
    setpoint_sd_K: float = 0.5
    setpoint_min_C: float = 20.0
    setpoint_max_C: float = 23.0
    persons_probs: tuple[float, float, float, float, float] = (0.15, 0.40, 0.17, 0.19, 0.09)
    dhw_sd: float = 0.25
    dhw_person_exponent: float = 0.7
    tank_sizes_l: tuple[float, ...] = (150.0, 200.0, 300.0)
    tank_reserve_factor: float = 1.25
    hp_sizes_kW: tuple[float, ...] = (4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 16.0)
    oversize_min: float = 1.0
    oversize_max: float = 1.2
    base_kwh_per_year: float = 4000.0
    base_sd: float = 0.25
    base_person_exponent: float = 0.5

    def __post_init__(self) -> None:
        if self.year not in HP_COUNT_BY_PERIOD:
            raise ValueError(f"FleetSpec.year={self.year!r}; allowed: {sorted(HP_COUNT_BY_PERIOD)}")
        _shares("c_class_shares", self.c_class_shares, 3)
        _shares("persons_probs", self.persons_probs, 5)
        for name in ("floor_share_period3", "air_source_share"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"FleetSpec.{name}={v!r}; allowed: a share in [0, 1]")
        if not self.setpoint_min_C <= self.setpoint_mean_C <= self.setpoint_max_C:
            raise ValueError(
                f"FleetSpec.setpoint_mean_C={self.setpoint_mean_C!r}; allowed: within "
                f"[{self.setpoint_min_C}, {self.setpoint_max_C}] °C")
        for name in ("setpoint_sd_K", "dhw_sd", "base_sd", "dhw_person_exponent",
                     "base_person_exponent"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"FleetSpec.{name}={v!r}; allowed: a finite value >= 0")
        for name in ("tank_sizes_l", "hp_sizes_kW"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.ndim != 1 or v.size == 0 or not np.all(v > 0) or np.any(np.diff(v) <= 0):
                raise ValueError(f"FleetSpec.{name}={getattr(self, name)!r}; allowed: "
                                 "increasing positive sizes")
        if not 0.0 < self.oversize_min <= self.oversize_max:
            raise ValueError(f"FleetSpec.oversize_min/max=({self.oversize_min}, "
                             f"{self.oversize_max}); allowed: 0 < min <= max")
        if not (self.tank_reserve_factor > 0 and self.base_kwh_per_year > 0):
            raise ValueError("FleetSpec.tank_reserve_factor and base_kwh_per_year must be > 0")


def _shares(name: str, values: Sequence[float], n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.shape != (n,) or np.any(arr < 0) or not math.isclose(float(arr.sum()), 1.0,
                                                                  abs_tol=1e-9):
        raise ValueError(f"FleetSpec.{name}={values!r}; allowed: {n} shares >= 0 summing to 1")
    return arr


def category_shares(spec: FleetSpec | None = None) -> dict[str, float]:
    """Share of each iPower category (``building.CATEGORIES``) in the sampled fleet.

    Period p share = heat pumps in period p / all (Table 20, ``spec.year``); within a period the
    C classes split by ``c_class_shares``; in period 3 ``floor_share_period3`` goes to FLO_3 and
    the rest to the RAD_3 classes.
    """
    s = FleetSpec() if spec is None else spec
    counts = np.asarray(HP_COUNT_BY_PERIOD[s.year], dtype=float)
    period = counts / counts.sum()
    out: dict[str, float] = {}
    for p in (1, 2, 3):
        rad = period[p - 1] * (1.0 - (s.floor_share_period3 if p == 3 else 0.0))
        for c, share in zip(_C_CLASSES, s.c_class_shares, strict=True):
            out[f"RAD_{p}_C{c}"] = rad * share
    out["FLO_3"] = period[2] * s.floor_share_period3
    return {k: out[k] for k in building_mod.CATEGORIES}


def _stratified_counts(n: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of n·shares to integers summing to n."""
    raw = n * shares
    counts = np.floor(raw).astype(np.int64)
    rest = n - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


# --------------------------------------------------------------------------------------------
# Fleet
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Per-house parameters of a sampled fleet (every array has shape (N,)).

    Use :meth:`building_params`, :meth:`heatpump_params`, :meth:`tank_params`,
    :meth:`dhw_demand` and :meth:`base_load` to build the cores.
    """

    spec: FleetSpec
    seed: int
    category: np.ndarray
    """iPower category name per house."""
    persons: np.ndarray
    """Household size, persons."""
    T_set_C: np.ndarray
    """Comfort (room) set point, °C."""
    source: np.ndarray
    """Heat-pump source, "air" or "ground"."""
    emitter: np.ndarray
    """"floor" for FLO_3 houses, else "radiator"."""
    area_m2: np.ndarray
    """Heated floor area, m² (iPower Table 20 by period)."""
    dhw_kwh_per_day: np.ndarray
    """Mean DHW heat demand at the tap, kWh/day."""
    tank_volume_l: np.ndarray
    """DHW tank volume, litres."""
    design_load_kW: np.ndarray
    """iPower design load at −12 °C (space heating + mean DHW), kW."""
    Q_rated_kW: np.ndarray
    """Rated heat-pump heat capacity at −12 °C (compressor + backup), kW (catalogue size)."""
    base_kwh_per_year: np.ndarray
    """Household base load (non-heat-pump electricity), kWh/yr."""
    q_gains_W_per_m2: np.ndarray
    """Internal gains, W/m²: appliances 3.5 + persons 1.5·persons/mean persons."""
    H_W_per_K: np.ndarray = field(repr=False)
    """Steady-state loss coefficient of each house (from the Building core), W/K."""

    @property
    def n(self) -> int:
        """Number of houses N."""
        return int(self.category.shape[0])

    def building_params(self, **overrides: Any) -> building_mod.BuildingParams:
        """``BuildingParams`` of the fleet (iPower categories, ``spec.year``, fleet gains)."""
        kw: dict[str, Any] = {"q_gains_W_per_m2": self.q_gains_W_per_m2}
        kw.update(overrides)
        return building_mod.building_params(list(self.category), year=self.spec.year, **kw)

    def heatpump_params(self, **overrides: Any) -> heatpump_mod.HeatPumpParams:
        """``HeatPumpParams`` with the fleet's source, emitter, rated size and year."""
        kw: dict[str, Any] = {"source": self.source, "emitter": self.emitter,
                              "Q_rated_kW": self.Q_rated_kW, "year": self.spec.year}
        kw.update(overrides)
        return heatpump_mod.HeatPumpParams(**kw)

    def tank_params(self, **overrides: Any) -> tank_mod.TankParams:
        """``TankParams`` with the fleet's DHW tank volumes (other fields default)."""
        kw: dict[str, Any] = {"volume_l": self.tank_volume_l}
        kw.update(overrides)
        return tank_mod.TankParams(**kw)

    def dhw_demand(self, start: datetime, duration_s: float, **kwargs: Any) -> DhwDemand:
        """Seeded DHW tapping of the fleet (``DhwDemand``), house i's mean = dhw_kwh_per_day[i].

        Its seed derives from the fleet seed, so a paired counterfactual run draws identical
        taps."""
        return DhwDemand(self.n, start, duration_s, seed=_child_seed(self.seed, 101),
                         kwh_per_day=self.dhw_kwh_per_day, **kwargs)

    def base_load(self, start: datetime, **kwargs: Any) -> BaseLoad:
        """Household base load core for the fleet (seed derived from the fleet seed)."""
        return BaseLoad(self.base_kwh_per_year, start, seed=_child_seed(self.seed, 102),
                        **kwargs)

    def summary(self) -> dict[str, Any]:
        """Counts and means for a report: category counts, mean sizes, shares."""
        cats, counts = np.unique(self.category, return_counts=True)
        return {
            "n": self.n,
            "category_counts": dict(zip(cats.tolist(), counts.tolist(), strict=True)),
            "air_source_share": float(np.mean(self.source == "air")),
            "mean_Q_rated_kW": float(self.Q_rated_kW.mean()),
            "mean_T_set_C": float(self.T_set_C.mean()),
            "mean_dhw_kwh_per_day": float(self.dhw_kwh_per_day.mean()),
            "mean_base_kwh_per_year": float(self.base_kwh_per_year.mean()),
        }


def _child_seed(seed: int, k: int) -> int:
    """A reproducible sub-seed of ``seed`` for stream ``k``."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def sample_fleet(n: int, seed: int = 0, spec: FleetSpec | None = None) -> Fleet:
    """Sample N houses with seeded diversity (same ``n``, ``seed``, ``spec`` → same fleet).

    * category: stratified — exactly the largest-remainder rounding of N·``category_shares``,
      randomly permuted;
    * persons ~ ``persons_probs``; set point ~ N(mean, sd) clipped to [min, max];
    * DHW kWh/day = iPower category mean (hot-water share x heat demand per m² x area / 365)
      x (persons/mean)^exp x LogN(0, dhw_sd) (both factors normalised to expectation 1);
    * tank: smallest catalogue size whose 10→60 °C content ≥ reserve x daily DHW;
    * heat pump: iPower design load (space heating at −12 °C without gains + mean DHW, from the
      Building core's loss coefficient) x U(oversize_min, oversize_max), rounded UP to the
      catalogue (the largest size if none suffices);
    * source: air with probability ``air_source_share``;
    * base load kWh/yr = mean x (persons/mean)^exp x LogN(0, base_sd) (normalised).
    """
    s = FleetSpec() if spec is None else spec
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"sample_fleet n={n!r}; allowed: an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"sample_fleet seed={seed!r}; allowed: an integer >= 0")
    n = int(n)
    rng = [np.random.default_rng(_child_seed(int(seed), k)) for k in range(8)]
    shares = category_shares(s)
    names = np.array(list(shares), dtype=object)
    counts = _stratified_counts(n, np.array(list(shares.values())))
    category = rng[0].permutation(np.repeat(names, counts)).astype(str)

    persons = rng[1].choice(np.arange(1, 6), size=n, p=np.asarray(s.persons_probs))
    probs = np.asarray(s.persons_probs)
    mean_persons = float(np.dot(np.arange(1, 6), probs))
    rel_persons = persons / mean_persons

    def person_factor(exponent: float) -> np.ndarray:
        """(persons/mean)^exponent, normalised to expectation 1 over ``persons_probs``."""
        norm = float(np.dot(probs, (np.arange(1, 6) / mean_persons) ** exponent))
        return rel_persons ** exponent / norm

    t_set = np.clip(rng[2].normal(s.setpoint_mean_C, s.setpoint_sd_K, n),
                    s.setpoint_min_C, s.setpoint_max_C)
    source = np.where(rng[3].random(n) < s.air_source_share, "air", "ground")
    is_floor = np.char.startswith(category, "FLO")
    emitter = np.where(is_floor, "floor", "radiator")
    period_i = np.array([3 if c.startswith("FLO") else int(c[4]) for c in category])
    area = np.array([building_mod.HOUSE_AREA_M2[int(p)] for p in period_i])

    heat = np.asarray(_HEAT_KWH_PER_M2[s.year])[period_i - 1]
    dshare = np.asarray(_DHW_SHARE[s.year])[period_i - 1]
    dhw_mean = heat * dshare * area / 365.0
    dhw = dhw_mean * person_factor(s.dhw_person_exponent) * _lognormal(rng[4], s.dhw_sd, n)

    sizes_l = np.asarray(s.tank_sizes_l, dtype=float)
    content_kwh = (sizes_l / 1000.0 * RHO_WATER_KG_PER_M3 * CP_WATER_J_PER_KGK * 50.0
                   * WH_PER_J / 1000.0)
    need = s.tank_reserve_factor * dhw
    idx = np.minimum(np.searchsorted(content_kwh, need, side="left"), sizes_l.size - 1)
    tank_l = sizes_l[idx]

    gains = 3.5 + 1.5 * rel_persons
    bparams = building_mod.building_params(list(category), year=s.year, q_gains_W_per_m2=gains)
    H = np.asarray(building_mod.Building(bparams).H_W_per_K, dtype=float)
    design = np.asarray(heatpump_mod.design_heat_load_kW(H, Q_gains_W=0.0,
                                                         Q_dhw_mean_kW=dhw / 24.0), dtype=float)
    wanted = design * rng[5].uniform(s.oversize_min, s.oversize_max, n)
    sizes_kw = np.asarray(s.hp_sizes_kW, dtype=float)
    q_rated = sizes_kw[np.minimum(np.searchsorted(sizes_kw, wanted, side="left"),
                                  sizes_kw.size - 1)]
    base = (s.base_kwh_per_year * person_factor(s.base_person_exponent)
            * _lognormal(rng[6], s.base_sd, n))
    return Fleet(
        spec=s, seed=int(seed), category=category, persons=persons.astype(np.int64),
        T_set_C=t_set, source=source.astype(str), emitter=emitter.astype(str), area_m2=area,
        dhw_kwh_per_day=dhw, tank_volume_l=tank_l, design_load_kW=design, Q_rated_kW=q_rated,
        base_kwh_per_year=base, q_gains_W_per_m2=gains, H_W_per_K=H,
    )


def _lognormal(rng: np.random.Generator, sd: float, n: int) -> np.ndarray:
    """LogN factors with expectation 1: exp(sd·z − sd²/2)."""
    return np.exp(sd * rng.standard_normal(n) - 0.5 * sd * sd)


# --------------------------------------------------------------------------------------------
# Household base load
# --------------------------------------------------------------------------------------------

BASE_PROFILE_WEEKDAY: tuple[float, ...] = (
    0.55, 0.48, 0.45, 0.44, 0.45, 0.52, 0.80, 1.05, 0.95, 0.85, 0.82, 0.85,
    0.90, 0.85, 0.82, 0.88, 1.05, 1.45, 1.85, 1.80, 1.60, 1.40, 1.10, 0.78,
)  # fmt: skip
"""Relative household load per LOCAL hour 0..23 on weekdays (normalised to mean 1 at import).

ASSUMPTION, a synthetic shape with the features of Danish/north-European residential load
profiles (standard-load-profile shapes of the BDEW H0 kind, Danish smart-meter studies): night
minimum ~0.45 of the mean, a morning shoulder 07–09, a midday plateau and the dominant evening
peak 17–20 (~1.8x the mean, cooking, lighting, TV). Not fitted to data; replace via ``profile_*``.
"""

BASE_PROFILE_WEEKEND: tuple[float, ...] = (
    0.62, 0.52, 0.47, 0.45, 0.44, 0.46, 0.55, 0.72, 0.95, 1.15, 1.22, 1.25,
    1.25, 1.15, 1.05, 1.05, 1.15, 1.45, 1.70, 1.65, 1.50, 1.35, 1.10, 0.80,
)  # fmt: skip
"""As :data:`BASE_PROFILE_WEEKDAY` for Saturdays and Sundays: later morning, higher midday."""


def _normalised(profile: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(profile, dtype=float)
    if arr.shape != (24,) or not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(f"BaseLoad {name}: allowed: 24 non-negative hourly factors")
    return arr / arr.mean()


class BaseLoad:
    """Household base load of N houses (non-heat-pump electricity), kW.

    P_i(t) = (E_i / 8760 h) · s(t) · f_{daytype}(h_i(t)) · d_i(day) · e_i(bin), with
    s = 1 + a·cos(2π(doy − 15)/365.25) (winter high, ASSUMPTION a = 0.15: lighting), f the hourly
    weekday/weekend profile (mean 1) at the house's local hour shifted by a constant per-house
    offset (uniform ±``shift_max_s``, diversity of habits), d a per-house-day factor
    LogN(0, ``day_sd``) and e a per-house factor per ``bin_s`` bin LogN(0, ``noise_sd``) (both
    mean 1). The noise is counter-based (Philox keyed by the seed, counter = day or bin), so a
    value depends only on (seed, house, time), never on the calling sequence: paired runs see
    identical base loads. Values are constant within a bin; :meth:`step` returns the exact mean
    over the step.
    """

    def __init__(
        self,
        kwh_per_year: float | Sequence[float] | np.ndarray,
        start: datetime,
        seed: int = 0,
        *,
        tz: str = "Europe/Copenhagen",
        bin_s: float = 900.0,
        noise_sd: float = 0.35,
        day_sd: float = 0.15,
        shift_max_s: float = 1800.0,
        season_amplitude: float = 0.15,
        profile_weekday: Sequence[float] = BASE_PROFILE_WEEKDAY,
        profile_weekend: Sequence[float] = BASE_PROFILE_WEEKEND,
    ) -> None:
        """
        Args:
            kwh_per_year: annual energy per house, kWh (scalar or (N,)); N = its length.
            start: time of t = 0 (naive = UTC).
            seed: non-negative seed.
            tz: time zone of the daily profile.
            bin_s: noise resolution, s (> 0).
            noise_sd, day_sd: lognormal spreads (>= 0).
            shift_max_s: largest per-house time shift of the profile, s (>= 0).
            season_amplitude: relative winter/summer swing, in [0, 1).
            profile_weekday, profile_weekend: 24 hourly factors (normalised to mean 1).
        """
        e = np.atleast_1d(np.asarray(kwh_per_year, dtype=float))
        if e.ndim != 1 or e.size == 0 or not np.all(np.isfinite(e)) or np.any(e < 0):
            raise ValueError(f"BaseLoad kwh_per_year={kwh_per_year!r}; allowed: values >= 0")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"BaseLoad seed={seed!r}; allowed: an integer >= 0")
        for name, v, lo, hi in (("bin_s", bin_s, 0.0, math.inf), ("noise_sd", noise_sd, 0, 5),
                                ("day_sd", day_sd, 0, 5), ("shift_max_s", shift_max_s, 0, 43200),
                                ("season_amplitude", season_amplitude, 0, 0.999)):
            fv = float(v)
            if not (math.isfinite(fv) and lo <= fv <= hi) or (name == "bin_s" and fv <= 0):
                raise ValueError(f"BaseLoad {name}={v!r}; allowed: {lo}..{hi}")
        self.n = int(e.size)
        self.kwh_per_year = e.copy()
        self._p_mean_kW = e / 8760.0
        self._start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._tz = ZoneInfo(tz)
        self._bin_s = float(bin_s)
        self._noise_sd, self._day_sd = float(noise_sd), float(day_sd)
        self._season = float(season_amplitude)
        self._profiles = np.stack([_normalised(profile_weekday, "profile_weekday"),
                                   _normalised(profile_weekend, "profile_weekend")])
        ss = np.random.SeedSequence([int(seed), 7])
        k_shift, k_day, k_bin = (int(x) for x in ss.generate_state(3, dtype=np.uint64))
        self._key_day, self._key_bin = k_day, k_bin
        self._shift_s = np.random.default_rng(k_shift).uniform(-shift_max_s, shift_max_s,
                                                               self.n)
        self._day_cache: tuple[int, np.ndarray] | None = None

    def _noise(self, key: int, counter: int, sd: float) -> np.ndarray:
        if sd == 0.0:
            return np.ones(self.n)
        bitgen = np.random.Philox(key=key, counter=np.array([0, counter, 0, 0], dtype=np.uint64))
        z = np.random.Generator(bitgen).standard_normal(self.n)
        return np.exp(sd * z - 0.5 * sd * sd)

    def _bin_kW(self, b: int) -> np.ndarray:
        """Per-house power in bin ``b`` (bin b covers [b·bin_s, (b+1)·bin_s) from start), kW."""
        t_mid = self._start + timedelta(seconds=(b + 0.5) * self._bin_s)
        local = t_mid.astimezone(self._tz)
        sec_of_day = local.hour * 3600.0 + local.minute * 60.0 + local.second
        day_index = (local.date() - datetime(2000, 1, 1).date()).days
        h = ((sec_of_day + self._shift_s) % 86400.0 // 3600.0).astype(np.intp)
        shape = self._profiles[1 if local.weekday() >= 5 else 0][h]
        doy = local.timetuple().tm_yday
        season = 1.0 + self._season * math.cos(2.0 * math.pi * (doy - 15) / 365.25)
        if self._day_cache is None or self._day_cache[0] != day_index:
            self._day_cache = (day_index, self._noise(self._key_day, day_index, self._day_sd))
        return (self._p_mean_kW * season * shape * self._day_cache[1]
                * self._noise(self._key_bin, b, self._noise_sd))

    def step(self, dt_s: float, t_s: float) -> np.ndarray:
        """Mean base load per house over [t_s, t_s + dt_s), kW, shape (N,) (a fresh array)."""
        dt, t0 = float(dt_s), float(t_s)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"BaseLoad dt_s={dt_s!r}; allowed: a finite number > 0")
        if not (math.isfinite(t0) and t0 >= 0):
            raise ValueError(f"BaseLoad t_s={t_s!r}; allowed: a finite number >= 0")
        t1 = t0 + dt
        b0, b1 = int(t0 // self._bin_s), int(math.ceil(t1 / self._bin_s))
        acc = np.zeros(self.n)
        for b in range(b0, max(b1, b0 + 1)):
            lo, hi = max(t0, b * self._bin_s), min(t1, (b + 1) * self._bin_s)
            if hi > lo:
                acc += self._bin_kW(b) * (hi - lo)
        return acc / dt


def fleet_to_mapping(fleet: Fleet) -> Mapping[str, np.ndarray]:
    """The fleet's per-house arrays by name (for recording / reports)."""
    return {
        "category": fleet.category, "persons": fleet.persons, "T_set_C": fleet.T_set_C,
        "source": fleet.source, "emitter": fleet.emitter, "area_m2": fleet.area_m2,
        "dhw_kwh_per_day": fleet.dhw_kwh_per_day, "tank_volume_l": fleet.tank_volume_l,
        "design_load_kW": fleet.design_load_kW, "Q_rated_kW": fleet.Q_rated_kW,
        "base_kwh_per_year": fleet.base_kwh_per_year,
    }

"""Stratified hot-water tank: a pure numpy model core, vectorised over a fleet of N tanks.

Each tank is a vertical cylinder split into L layers of equal volume; layer index 0 is the TOP.
Per step the core applies, in this order (operator splitting, each part energy-exact):

1. plug-flow advection of two flow circuits (charging loop and draw/discharge loop) plus the
   electric heater, explicit upwind in CFL-limited sub-steps, followed by buoyancy mixing;
2. inter-layer conduction and wall losses, integrated EXACTLY over the step (matrix exponential
   of the linear conduction/loss system, via a per-tank eigen-decomposition done once);
3. buoyancy mixing of any inversion (e.g. the top layer cooled by the lid).

The same core models a 200 L domestic hot-water (DHW) cylinder (the defaults) and a 100 m³
district-heating storage tank (:func:`flexheat_params`). Equations, parameters and limits are
documented in ``docs/models/tank.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.constants import CP_WATER_J_PER_KGK, RHO_WATER_KG_PER_M3, WH_PER_J

ArrayLike = float | int | np.ndarray | list[float] | tuple[float, ...]

_J_PER_KWH: float = 1000.0 / WH_PER_J
"""Joules per kilowatt-hour."""

_DEFAULT_SENSORS: tuple[float, ...] = (0.9, 0.5, 0.1)
"""Default sensor heights as fractions of the tank height measured from the BOTTOM: near the top
(DHW comfort / thermostat), middle, near the bottom (charging stop)."""

_SMALL_FLEET: int = 8
"""Fleets of up to this many tanks validate inputs and pool inversions with plain-Python loops
over floats: for a handful of values that is several times cheaper than the fixed per-call
overhead (~1 µs) of the numpy calls it replaces, which dominates a step of a small fleet
(N = 1 is the hot case: one house stepped every minute of a co-simulated year)."""


@dataclass(frozen=True)
class TankParams:
    """Parameters of a fleet of stratified tanks.

    Float parameters are scalars (same for every tank) or arrays of length N. Layer indices are
    ints (or int arrays of length N) counted from the TOP (0 = top, n_layers-1 = bottom); ``None``
    selects the documented default. ``n_layers`` and ``sensor_heights_frac`` are fleet-wide.
    """

    volume_l: ArrayLike = 200.0
    """Water volume, litres. Default: a 200 L domestic DHW cylinder."""
    n_layers: int = 8
    """Number of layers of equal volume (fleet-wide)."""
    height_m: ArrayLike | None = None
    """Inner height, m. ``None``: derived from ``volume_l`` and ``aspect_ratio``."""
    aspect_ratio: ArrayLike = 2.5
    """Height/diameter H/D used when ``height_m`` is None. 2.5 is typical of domestic cylinders
    (e.g. 200 L: D ≈ 0.47 m, H ≈ 1.17 m)."""
    U_W_per_m2K: ArrayLike = 0.7
    """Wall heat-loss coefficient, W/(m²·K), applied to the mantle and both lids. Default: ~50 mm
    PU foam (λ ≈ 0.025 W/(m·K) → 0.5 W/(m²·K)) plus ~40 % for thermal bridges (pipe connections,
    flanges, lids) → 0.7; gives ≈ 65 W (1.6 kWh/day) for 200 L at 65 °C in 20 °C, typical of
    datasheet standing losses of 200 L cylinders."""
    kappa_W_per_mK: ArrayLike = 0.64
    """Effective vertical conductivity between layers, W/(m·K). Default: molecular conduction of
    water at ~50 °C (0.64); measured effective values including wall conduction and inlet-jet
    mixing are larger (FlexHeat 100 m³ tank: 93.5)."""
    T_ambient_C: ArrayLike = 20.0
    """Ambient temperature around the tank, °C (default: indoor utility room)."""
    heater_kW: ArrayLike = 0.0
    """Rated power of the electric immersion heater, kW (0 = none)."""
    heater_layer: int | np.ndarray | None = None
    """Layer holding the heater. ``None``: the middle layer n_layers // 2."""
    charge_in_layer: int | np.ndarray = 0
    """Layer where the charging loop (heat pump supply) enters. Default: top."""
    charge_out_layer: int | np.ndarray | None = None
    """Layer where the charging loop leaves back to the heat pump. ``None``: bottom."""
    draw_layer: int | np.ndarray = 0
    """Layer where hot water is drawn (DHW tap / DH supply). Default: top."""
    cold_in_layer: int | np.ndarray | None = None
    """Layer where cold make-up water (DH return) enters. ``None``: bottom."""
    max_charge_flow_kg_per_s: ArrayLike = 0.3
    """Maximum mass flow of the charging loop, kg/s. Default 0.3 kg/s ≈ 18 L/min, the circulation
    of a 5–8 kW domestic heat pump at ΔT ≈ 5 K."""
    T_ref_C: ArrayLike = 10.0
    """Reference temperature of ``E_stored_kWh`` and 0 of ``soc_frac``, °C (default: cold water)."""
    T_max_C: ArrayLike = 60.0
    """Temperature of a fully charged tank (``soc_frac`` = 1), °C."""
    T_tap_min_C: ArrayLike = 40.0
    """Thermostatic mixing target / minimum useful draw temperature, °C."""
    sensor_heights_frac: tuple[float, ...] = field(default=_DEFAULT_SENSORS)
    """Sensor heights as fractions of the height from the BOTTOM (0 = bottom, 1 = top)."""

    def __post_init__(self) -> None:
        """Validate fleet-independent constraints (shapes are checked by :class:`Tank`)."""
        if isinstance(self.n_layers, bool) or not isinstance(self.n_layers, (int, np.integer)):
            raise ValueError(f"n_layers must be an int >= 1, got {self.n_layers!r}")
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {self.n_layers!r}")
        _check_float("volume_l", self.volume_l, low=0.0, low_open=True)
        if self.height_m is not None:
            _check_float("height_m", self.height_m, low=0.0, low_open=True)
        _check_float("aspect_ratio", self.aspect_ratio, low=0.0, low_open=True)
        _check_float("U_W_per_m2K", self.U_W_per_m2K, low=0.0)
        _check_float("kappa_W_per_mK", self.kappa_W_per_mK, low=0.0)
        _check_float("T_ambient_C", self.T_ambient_C, low=-60.0, high=100.0)
        _check_float("heater_kW", self.heater_kW, low=0.0)
        _check_float("max_charge_flow_kg_per_s", self.max_charge_flow_kg_per_s, low=0.0,
                     low_open=True)
        _check_float("T_ref_C", self.T_ref_C, low=0.0, high=100.0)
        _check_float("T_max_C", self.T_max_C, low=0.0, high=100.0)
        _check_float("T_tap_min_C", self.T_tap_min_C, low=0.0, high=100.0)
        if np.any(np.asarray(self.T_max_C, float) <= np.asarray(self.T_ref_C, float)):
            raise ValueError(
                f"T_max_C must be > T_ref_C, got T_max_C={self.T_max_C!r}, T_ref_C={self.T_ref_C!r}"
            )
        for name in ("heater_layer", "charge_in_layer", "charge_out_layer", "draw_layer",
                     "cold_in_layer"):
            value = getattr(self, name)
            if value is not None:
                _check_layer(name, value, self.n_layers)
        sensors = np.asarray(self.sensor_heights_frac, dtype=float)
        if sensors.ndim != 1 or sensors.size < 1 or not np.all(np.isfinite(sensors)) or np.any(
            (sensors < 0.0) | (sensors > 1.0)
        ):
            raise ValueError(
                "sensor_heights_frac must be a non-empty sequence of fractions in [0, 1] "
                f"(0 = bottom, 1 = top), got {self.sensor_heights_frac!r}"
            )


def flexheat_params(**overrides: Any) -> TankParams:
    """Parameters of the FlexHeat Nordhavn 100 m³ district-heating storage tank.

    From the EnergyLab Nordhavn WP5.3 report: 100 m³ = 4.5 MWh between 75 and 35 °C,
    U = 1.50 W/(m²·K), κ = 93.5 W/(m·K), 16 temperature sensors, 800 kW heat pump. Not given
    (guesses, override as needed): geometry (H/D = 2.5), 16 layers (one per sensor), maximum
    charging flow 13 kg/s (800 kW at ΔT = 15 K), minimum useful supply temperature 60 °C (the
    report's stop limit for discharging), ambient 8 °C (Danish annual mean outdoor air).
    """
    n = int(overrides.pop("n_layers", 16))
    base: dict[str, Any] = {
        "volume_l": 100_000.0,
        "n_layers": n,
        "aspect_ratio": 2.5,
        "U_W_per_m2K": 1.50,
        "kappa_W_per_mK": 93.5,
        "T_ambient_C": 8.0,
        "max_charge_flow_kg_per_s": 13.0,
        "T_ref_C": 35.0,
        "T_max_C": 75.0,
        "T_tap_min_C": 60.0,
        "sensor_heights_frac": tuple(1.0 - (i + 0.5) / 16 for i in range(16)),
    }
    base.update(overrides)
    return TankParams(**base)


def _check_float(
    name: str, value: Any, low: float | None = None, high: float | None = None,
    low_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a finite scalar/1-D array within [low, high]."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or 1-D array of numbers, got {value!r}") from exc
    if arr.ndim > 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number or 1-D array, got {value!r}")
    if low is not None and np.any(arr <= low if low_open else arr < low):
        rel = ">" if low_open else ">="
        raise ValueError(f"{name} must be {rel} {low}, got {value!r}")
    if high is not None and np.any(arr > high):
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _check_layer(name: str, value: Any, n_layers: int) -> None:
    """Raise ValueError unless ``value`` is an int (array) in [0, n_layers-1]."""
    arr = np.asarray(value)
    if arr.ndim > 1 or arr.dtype.kind not in "iu" or np.any((arr < 0) | (arr >= n_layers)):
        raise ValueError(
            f"{name} must be an int (or int array) in [0, {n_layers - 1}] (0 = top), got {value!r}"
        )


def _flow_directions(n: int, n_layers: int, i_in: np.ndarray, i_out: np.ndarray) -> np.ndarray:
    """(N, L-1) sign of the flow through each layer interface for a loop entering at ``i_in``
    and leaving at ``i_out``: +1 downward, -1 upward, 0 untouched. Interface k lies between
    layer k and k+1."""
    k = np.arange(n_layers - 1)[None, :]
    lo = np.minimum(i_in, i_out)[:, None]
    hi = np.maximum(i_in, i_out)[:, None]
    inside = (k >= lo) & (k < hi)
    sign = np.where(i_in < i_out, 1.0, -1.0)[:, None]
    return np.where(inside, sign, 0.0) * np.ones((n, 1))


def _sensor_weights(n_layers: int, heights_frac: np.ndarray) -> np.ndarray:
    """(L, S) linear-interpolation weights from layer centres to sensor heights (clamped to the
    outermost layer centres). Layer l's centre lies at height (L - l - 0.5) / L."""
    centres = (n_layers - np.arange(n_layers) - 0.5) / n_layers  # decreasing with l
    w = np.zeros((n_layers, heights_frac.size))
    if n_layers == 1:
        w[0, :] = 1.0
        return w
    x = centres[::-1]  # increasing: layer L-1 ... 0
    for s, h in enumerate(heights_frac):
        h = min(max(h, x[0]), x[-1])
        j = min(int(np.searchsorted(x, h, side="right")) - 1, n_layers - 2)
        frac = (h - x[j]) / (x[j + 1] - x[j])
        w[n_layers - 1 - j, s] += 1.0 - frac
        w[n_layers - 2 - j, s] += frac
    return w


def _pool_sweep(x: np.ndarray) -> np.ndarray:
    """One top-down pooling sweep over x (L, n), index 0 = top: each layer at least as warm as
    the running block above it joins that block (an inversion, or an equal value, i.e. the rest
    of an already pooled block); every layer gets its block's mean. Returns a new array.
    Running sums and counts are updated in place (multiplying by the 0/1 join flag restarts a
    block) to avoid temporaries."""
    n_layers = x.shape[0]
    joins = np.empty((n_layers - 1, x.shape[1]), dtype=bool)  # layer k+1 joined k's block
    y = np.empty_like(x)
    s = x[0].copy()
    c = np.ones_like(s)
    y[0] = s
    for k in range(1, n_layers):
        join = np.greater_equal(x[k], y[k - 1], out=joins[k - 1])
        s *= join
        s += x[k]
        c *= join
        c += 1.0
        np.divide(s, c, out=y[k])
    for k in range(n_layers - 2, -1, -1):  # spread each block's final mean upward
        np.copyto(y[k], y[k + 1], where=joins[k])
    return y


def _pool_profile(profile: list[float]) -> list[float] | None:
    """Stable (pooled) version of one profile (top first) in plain Python, ``None`` if stable.

    Fast path for the usual case, one inversion block at the top (the lid cools the top layer
    below the layers under it): the top block absorbs layers while each is warmer than the
    block's mean, so every prefix of the block has a mean <= the block mean; if the remaining
    layers are then non-increasing and not warmer than that mean, this is the isotonic
    projection. Anything else goes to :func:`_pool_adjacent_violators`.
    """
    total, count, n_layers = profile[0], 1, len(profile)
    while count < n_layers and profile[count] * count > total:  # warmer than the block mean
        total += profile[count]
        count += 1
    rest = profile[count:]
    if rest == sorted(rest, reverse=True):  # C-level check that the rest is non-increasing
        if count == 1:
            return None  # already stable
        mean = total / count
        if not rest or rest[0] <= mean:  # guards the round-off of the product test above
            return [mean] * count + rest
    return _pool_adjacent_violators(profile)


def _pool_adjacent_violators(profile: list[float]) -> list[float]:
    """Pool-adjacent-violators on one profile (top first), in plain Python.

    Scans top-down keeping a stack of pooled blocks (mean, sum, count) with strictly decreasing
    means; a new layer warmer than the block above it merges with it (and, while still warmer,
    with the blocks above that). Returns the pooled profile (each layer its block's mean)."""
    blocks: list[tuple[float, float, int]] = []
    for value in profile:
        mean, total, count = value, value, 1
        while blocks and mean > blocks[-1][0]:
            _, block_total, block_count = blocks.pop()
            total += block_total
            count += block_count
            mean = total / count
        blocks.append((mean, total, count))
    out: list[float] = []
    for mean, _, count in blocks:
        out += [mean] * count
    return out


def mix_inversions(T: np.ndarray) -> np.ndarray:
    """Buoyancy mixing: return the energy-conserving stable profile of ``T`` (N, L), top first.

    Adjacent layers taking part in an inversion (warmer below colder) are pooled into one
    fully mixed block, repeatedly, until temperatures are non-increasing downward. With equal
    layer masses this is the isotonic (pool-adjacent-violators) projection, which is unique and
    conserves energy exactly. Small fleets (N <= ``_SMALL_FLEET``) run the classic stack
    algorithm per tank in plain Python (:func:`_pool_profile`). Larger fleets use sweeps that
    alternate top-down (cold water sinking, e.g. a lid-cooled top layer) and bottom-up (warm
    water rising, e.g. from a heater), vectorised over the tanks with an inversion. Both give
    the same result up to round-off. Returns ``T`` itself when already stable, otherwise a new
    array.
    """
    if T.shape[0] <= _SMALL_FLEET:
        profiles = T.tolist()
        pooled = [_pool_profile(p) for p in profiles]
        if not any(pooled):
            return T
        return np.array([p if q is None else q for p, q in zip(profiles, pooled, strict=True)])
    inv = T[:, 1:] > T[:, :-1]
    if not inv.any():
        return T
    rows = np.flatnonzero(inv.any(axis=1))
    x = np.ascontiguousarray(T[rows].T)  # (L, n): per-layer rows are contiguous
    downward = True
    for _ in range(2 * T.shape[1] + 2):  # each effective sweep pools >= 1 pair of blocks
        x = _pool_sweep(x) if downward else -_pool_sweep(-x[::-1])[::-1]
        if not (x[1:] > x[:-1]).any():
            break
        downward = not downward
    out = T.copy()
    out[rows] = x.T
    return out


class Tank:
    """A fleet of N stratified hot-water tanks (state: layer temperatures, °C, shape (N, L)).

    Args:
        params: :class:`TankParams`; per-unit arrays must have length ``n`` (or 1).
        n: number of tanks in the fleet.
        T0_C: initial temperatures, °C: scalar, (N,) (uniform per tank) or (N, L) (top first).
    """

    def __init__(self, params: TankParams, n: int = 1, T0_C: ArrayLike = 50.0) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if not isinstance(params, TankParams):
            raise ValueError(f"params must be a TankParams, got {type(params).__name__}")
        self.params = params
        self.n = int(n)
        L = params.n_layers
        self.n_layers = L
        self._ones_L = np.ones(L)
        self._shape_n = (self.n,)
        self._small = self.n <= _SMALL_FLEET

        def per_unit(name: str, value: Any) -> np.ndarray:
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0 or arr.shape == (1,):
                return np.full(self.n, float(arr.reshape(-1)[0]))
            if arr.shape != (self.n,):
                raise ValueError(f"{name} must be a scalar or have shape ({self.n},), "
                                 f"got shape {arr.shape}")
            return arr.astype(float).copy()

        def layer(name: str, value: Any, default: int) -> np.ndarray:
            value = default if value is None else value
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape == (1,):
                return np.full(self.n, int(arr.reshape(-1)[0]), dtype=np.intp)
            if arr.shape != (self.n,):
                raise ValueError(f"{name} must be an int or have shape ({self.n},), "
                                 f"got shape {arr.shape}")
            return arr.astype(np.intp)

        # --- geometry (vertical cylinder) ---
        volume_m3 = per_unit("volume_l", params.volume_l) / 1000.0
        if params.height_m is None:
            aspect = per_unit("aspect_ratio", params.aspect_ratio)
            diameter = np.cbrt(4.0 * volume_m3 / (math.pi * aspect))
            height = aspect * diameter
        else:
            height = per_unit("height_m", params.height_m)
            diameter = np.sqrt(4.0 * volume_m3 / (math.pi * height))
        self.volume_m3: np.ndarray = volume_m3
        self.height_m: np.ndarray = height
        self.diameter_m: np.ndarray = diameter
        area_cross = math.pi * diameter**2 / 4.0
        area_layer = np.repeat((math.pi * diameter * height / L)[:, None], L, axis=1)
        area_layer[:, 0] += area_cross
        area_layer[:, -1] += area_cross
        self.area_layers_m2: np.ndarray = area_layer
        """(N, L) loss area per layer (mantle share + lid on the end layers), m²."""
        self.area_loss_m2: np.ndarray = area_layer.sum(axis=1)
        """(N,) total loss area of each tank, m²."""

        # --- thermal parameters ---
        self.U_W_per_m2K = per_unit("U_W_per_m2K", params.U_W_per_m2K)
        self.kappa_W_per_mK = per_unit("kappa_W_per_mK", params.kappa_W_per_mK)
        self.UA_W_per_K: np.ndarray = self.U_W_per_m2K * self.area_loss_m2
        """(N,) total loss conductance U·A, W/K."""
        self.m_layer_kg: np.ndarray = RHO_WATER_KG_PER_M3 * volume_m3 / L
        self.C_layer_J_per_K: np.ndarray = self.m_layer_kg * CP_WATER_J_PER_KGK
        self.C_J_per_K: np.ndarray = self.C_layer_J_per_K * L
        """(N,) total heat capacity of the water, J/K."""
        self.T_ambient_C = per_unit("T_ambient_C", params.T_ambient_C)
        self.heater_kW = per_unit("heater_kW", params.heater_kW)
        self.max_charge_flow_kg_per_s = per_unit("max_charge_flow_kg_per_s",
                                                 params.max_charge_flow_kg_per_s)
        self._charge_courant_per_s = float(np.max(self.max_charge_flow_kg_per_s / self.m_layer_kg))
        """Largest Courant number per second of step of the charging loop at full flow."""
        self.T_ref_C = per_unit("T_ref_C", params.T_ref_C)
        self.T_max_C = per_unit("T_max_C", params.T_max_C)
        self.T_tap_min_C = per_unit("T_tap_min_C", params.T_tap_min_C)
        self._E_full_kWh = self.C_J_per_K * (self.T_max_C - self.T_ref_C) / _J_PER_KWH
        self._kWh_per_K_layer = self.C_layer_J_per_K / _J_PER_KWH
        self._E_offset_kWh = self._kWh_per_K_layer * L * self.T_ref_C

        # --- ports ---
        self.heater_layer = layer("heater_layer", params.heater_layer, L // 2)
        self.charge_in_layer = layer("charge_in_layer", params.charge_in_layer, 0)
        self.charge_out_layer = layer("charge_out_layer", params.charge_out_layer, L - 1)
        self.draw_layer = layer("draw_layer", params.draw_layer, 0)
        self.cold_in_layer = layer("cold_in_layer", params.cold_in_layer, L - 1)
        self._rows = np.arange(self.n)
        # flat indices into a C-contiguous (N, L) array, one per tank and port
        self._fi_heater = self._rows * L + self.heater_layer
        self._fi_charge_in = self._rows * L + self.charge_in_layer
        self._fi_charge_out = self._rows * L + self.charge_out_layer
        self._fi_draw = self._rows * L + self.draw_layer
        self._fi_cold_in = self._rows * L + self.cold_in_layer
        self._dir_charge = _flow_directions(self.n, L, self.charge_in_layer, self.charge_out_layer)
        self._dir_draw = _flow_directions(self.n, L, self.cold_in_layer, self.draw_layer)
        self._W_sensors = _sensor_weights(L, np.asarray(params.sensor_heights_frac, float))

        # --- conduction + loss system, C dT/dt = -(K + G) T + G T_amb; M = (K + G)/C is
        # symmetric (equal layer capacities) -> eigen-decomposition once, exp(-M dt) per dt ---
        k_cond = self.kappa_W_per_mK * area_cross / (height / L)  # W/K between adjacent layers
        M = np.zeros((self.n, L, L))
        ii = np.arange(L)
        M[:, ii, ii] = self.U_W_per_m2K[:, None] * area_layer
        if L > 1:
            j = np.arange(L - 1)
            M[:, j, j] += k_cond[:, None]
            M[:, j + 1, j + 1] += k_cond[:, None]
            M[:, j, j + 1] -= k_cond[:, None]
            M[:, j + 1, j] -= k_cond[:, None]
        M /= self.C_layer_J_per_K[:, None, None]
        # A fleet of identical tanks (always the case for N = 1) shares one propagator, applied
        # to the whole fleet as a single matrix product.
        self._shared_conduction = bool(
            np.all(M == M[:1]) and np.all(self.C_layer_J_per_K == self.C_layer_J_per_K[0])
        )
        if self._shared_conduction:
            M = M[:1]
        self._eig_val, self._eig_vec = np.linalg.eigh(M)  # (N or 1, L), (N or 1, L, L)
        self._prop_cache: dict[float, np.ndarray] = {}

        self._T = self._initial_temperatures(T0_C)

    # ------------------------------------------------------------------ helpers
    def _initial_temperatures(self, T0_C: ArrayLike) -> np.ndarray:
        arr = np.asarray(T0_C, dtype=float)
        L = self.n_layers
        if arr.ndim == 0 or arr.shape == (1,):
            T = np.full((self.n, L), float(arr.reshape(-1)[0]))
        elif arr.shape == (self.n,):
            T = np.repeat(arr[:, None], L, axis=1)
        elif arr.shape == (self.n, L):
            T = arr.copy()
        else:
            raise ValueError(f"T0_C must be a scalar, shape ({self.n},) or ({self.n}, {L}), "
                             f"got shape {arr.shape}")
        if not np.all(np.isfinite(T)) or np.any((T < 0.0) | (T > 100.0)):
            raise ValueError(f"T0_C must be finite liquid-water temperatures in [0, 100] °C, "
                             f"got {T0_C!r}")
        return mix_inversions(np.ascontiguousarray(T))

    def _input(self, name: str, value: Any, low: float | None = None) -> np.ndarray:
        """Broadcast a step input to shape (N,), rejecting NaN/inf and values below ``low``.

        A float64 array of shape (N,) (the usual case) is returned as it is, without a copy: the
        core only reads its inputs."""
        if type(value) is np.ndarray and value.shape == self._shape_n and value.dtype == np.float64:
            arr = value
        elif isinstance(value, (float, int)) and not isinstance(value, bool):  # scalar
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {value!r}")
            if low is not None and v < low:
                raise ValueError(f"{name} must be >= {low}, got {value!r}")
            arr = np.empty(self.n)
            arr.fill(v)
            return arr
        else:
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0:
                arr = np.full(self.n, float(arr))
            elif arr.shape != (self.n,):
                raise ValueError(f"{name} must be a scalar or have shape ({self.n},), "
                                 f"got shape {arr.shape}")
        if self._small:  # a few floats: plain Python beats numpy's per-call overhead
            values = arr.tolist()
            finite = all(map(math.isfinite, values))
            below = finite and low is not None and min(values) < low
        else:
            finite = bool(np.isfinite(arr).all())
            below = finite and low is not None and bool((arr < low).any())
        if not finite:
            raise ValueError(f"{name} must be finite, got {value!r}")
        if below:
            raise ValueError(f"{name} must be >= {low}, got {value!r}")
        return arr

    def _conduction_operator(self, dt_s: float) -> np.ndarray:
        """Exact conduction/loss operator over ``dt_s`` (cached for the last 8 step lengths).

        Maps the excess over ambient x = T - T_amb (N, L) to y (N, L+1): y[:, :L] = exp(-M dt) x
        is the excess after the step and y[:, L] = Q_loss_kW, the mean loss power over the step,
        C_l 1ᵀ(I - exp(-M dt)) x / dt. With M = V Λ Vᵀ, exp(-M dt) = V exp(-Λ dt) Vᵀ and
        1ᵀ(I - exp(-M dt)) = (1ᵀV)(1 - exp(-Λ dt))Vᵀ, evaluated with expm1 (no cancellation).

        Returns (L, L+1) for ``x @ op`` when the fleet shares one matrix, else (N, L+1, L).
        """
        op = self._prop_cache.get(dt_s)
        if op is None:
            lam, vec = self._eig_val, self._eig_vec
            vec_t = vec.transpose(0, 2, 1)
            prop = (vec * np.exp(-lam * dt_s)[:, None, :]) @ vec_t
            kW_per_K = self.C_layer_J_per_K[: lam.shape[0]] / (dt_s * 1000.0)
            loss = (vec.sum(axis=1) * -np.expm1(-lam * dt_s))[:, None, :] @ vec_t
            op = np.concatenate([prop, loss * kW_per_K[:, None, None]], axis=1)
            if self._shared_conduction:
                op = np.ascontiguousarray(op[0].T)
            if len(self._prop_cache) >= 8:
                self._prop_cache.pop(next(iter(self._prop_cache)))
            self._prop_cache[dt_s] = op
        return op

    # ------------------------------------------------------------------ public API
    @property
    def T_layers_C(self) -> np.ndarray:
        """Copy of the layer temperatures, °C, shape (N, L), top first."""
        return self._T.copy()

    def energy_kWh(self) -> np.ndarray:
        """Stored energy relative to ``T_ref_C``, kWh, shape (N,)."""
        layer_sum = self._T @ self._ones_L  # gemv: faster than .sum(axis=1) for short rows
        return layer_sum * self._kWh_per_K_layer - self._E_offset_kWh

    def step(
        self,
        dt_s: float,
        Q_charge_kW: ArrayLike = 0.0,
        T_charge_C: ArrayLike = 55.0,
        Q_draw_kW: ArrayLike = 0.0,
        T_cold_C: ArrayLike = 10.0,
        P_heater_kW: ArrayLike = 0.0,
        T_ambient_C: ArrayLike | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance all tanks by ``dt_s`` seconds and return fresh output arrays.

        Args:
            dt_s: step length, s (> 0).
            Q_charge_kW: heat offered by the charging loop (heat pump), kW (>= 0).
            T_charge_C: supply temperature of the charging loop, °C.
            Q_draw_kW: heat requested by the tap / DH load relative to cold water, kW (>= 0).
            T_cold_C: cold make-up (or DH return) temperature, °C (< T_tap_min_C).
            P_heater_kW: electric heater power, kW (>= 0; clipped to ``heater_kW``).
            T_ambient_C: ambient temperature, °C; ``None`` uses the parameter.

        Returns:
            dict of (N,) arrays (``T_layers_C`` (N, L), ``T_sensors_C`` (N, S)); powers are means
            over the step. See ``docs/models/tank.md``.
        """
        dt = float(dt_s)
        if not math.isfinite(dt) or dt <= 0.0:
            raise ValueError(f"dt_s must be a finite number > 0, got {dt_s!r}")
        q_charge_kw = self._input("Q_charge_kW", Q_charge_kW, low=0.0)
        t_charge = self._input("T_charge_C", T_charge_C)
        q_draw_kw = self._input("Q_draw_kW", Q_draw_kW, low=0.0)
        t_cold = self._input("T_cold_C", T_cold_C)
        p_heater_kw = np.minimum(self._input("P_heater_kW", P_heater_kW, low=0.0), self.heater_kW)
        t_amb = self.T_ambient_C if T_ambient_C is None else self._input("T_ambient_C",
                                                                         T_ambient_C)
        dt_mix = self.T_tap_min_C - t_cold  # K, tap-side temperature rise at the mixing target
        if np.count_nonzero(dt_mix <= 0.0):
            raise ValueError(f"T_cold_C must be < T_tap_min_C ({self.T_tap_min_C.min()} °C), "
                             f"got {T_cold_C!r}")

        # 1. flows and heater (skipped entirely when no loop flows and no heater runs)
        T = self._T
        flows = None
        charging = np.count_nonzero(q_charge_kw) > 0
        drawing = np.count_nonzero(q_draw_kw) > 0
        heating = np.count_nonzero(p_heater_kw) > 0
        if charging or drawing or heating:
            T, flows = self._advect(
                T, dt, q_charge_kw * 1000.0 if charging else None, t_charge,
                q_draw_kw * 1000.0 if drawing else None, t_cold, dt_mix,
                p_heater_kw * (1000.0 / CP_WATER_J_PER_KGK) if heating else None,
            )

        # 2. conduction + wall losses, exact over dt for constant ambient
        t_amb_col = t_amb[:, None]
        excess = T - t_amb_col
        op = self._conduction_operator(dt)
        y = excess @ op if self._shared_conduction else np.einsum("nij,nj->ni", op, excess)
        q_loss_kw = y[:, -1].copy()
        # 3. buoyancy mixing
        T = mix_inversions(y[:, :-1] + t_amb_col)
        self._T = T

        flat = T.reshape(-1)
        if flows is None:
            q_charge_out, q_draw_out, q_unmet = np.zeros(self.n), np.zeros(self.n), np.zeros(self.n)
            t_draw = flat.take(self._fi_draw)
        else:
            e_charge, e_draw, e_unmet, m_drawn, mT_drawn = flows
            q_charge_out = e_charge / dt / 1000.0
            q_draw_out = e_draw / dt / 1000.0
            q_unmet = e_unmet / dt / 1000.0
            drew = m_drawn > 0.0
            t_draw = np.where(drew, mT_drawn / np.where(drew, m_drawn, 1.0),
                              flat.take(self._fi_draw))
        e_stored = self.energy_kWh()
        return {
            "T_layers_C": T.copy(),
            "T_top_C": T[:, 0].copy(),
            "T_bottom_C": T[:, -1].copy(),
            "T_sensors_C": T @ self._W_sensors,
            "E_stored_kWh": e_stored,
            "soc_frac": e_stored / self._E_full_kWh,
            "Q_loss_kW": q_loss_kw,
            "Q_charge_kW": q_charge_out,
            "Q_draw_kW": q_draw_out,
            "Q_unmet_kW": q_unmet,
            "T_draw_C": t_draw,
            "T_return_C": flat.take(self._fi_charge_out),
            "P_heater_kW": p_heater_kw,
        }

    def _advect(
        self,
        T: np.ndarray,
        dt: float,
        q_charge_W: np.ndarray | None,
        t_charge: np.ndarray,
        q_draw_W: np.ndarray | None,
        t_cold: np.ndarray,
        dt_mix: np.ndarray,
        heater_flux: np.ndarray | None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Stage 1: plug-flow advection of the charging and draw loops plus the heater.

        Explicit upwind in per-tank CFL-limited sub-steps, with buoyancy mixing between them.
        Inputs are (N,) arrays: charging offer and draw request in W, ``None`` when zero for every
        tank (that loop is skipped); temperatures in °C; ``dt_mix`` = T_tap_min - T_cold in K;
        ``heater_flux`` = P_heater / c_p in kg·K/s, ``None`` when no heater runs.

        Returns the new profile (N, L) and the step integrals (N,): heat taken from the
        charging loop (J), heat delivered to the draw (J), requested draw energy while the draw
        layer is below ``T_tap_min_C`` (J), drawn mass (kg), drawn mass × temperature (kg·°C).
        """
        cp = CP_WATER_J_PER_KGK
        charging, drawing = q_charge_W is not None, q_draw_W is not None
        # Flow bounds: charge <= max loop flow; draw <= tap flow at the mixing target.
        # Per-tank sub-steps (CFL <= 1), so a tank's result does not depend on its fleet. A
        # fleet-wide scalar bound settles the usual case of a single sub-step cheaply.
        courant_max = self._charge_courant_per_s * dt if charging else 0.0
        if drawing:
            m_tap = q_draw_W / (cp * dt_mix)
            courant_max += float((m_tap / self.m_layer_kg).max()) * dt
        n_max = 1
        if courant_max > 1.0:
            m_bound = np.zeros(self.n)  # kg/s
            if charging:
                m_bound = np.where(q_charge_W > 0.0, self.max_charge_flow_kg_per_s, 0.0)
            if drawing:
                m_bound = m_bound + m_tap
            courant = m_bound * dt / self.m_layer_kg
            n_sub = np.maximum(1, np.ceil(courant - 1e-12)).astype(np.intp)
            n_max = int(n_sub.max())
            h_unit = dt / n_sub  # s

        acc: dict[str, np.ndarray] = {}  # step integrals, summed over the sub-steps

        def accumulate(key: str, term: np.ndarray) -> None:
            acc[key] = acc[key] + term if key in acc else term

        for k in range(n_max):
            if n_max == 1:
                h: float | np.ndarray = dt
            else:
                active = k < n_sub
                if k > 0:  # mix tanks still sub-stepping; finished ones wait for the end
                    T = np.where(active[:, None], mix_inversions(T), T)
                h = np.where(active, h_unit, 0.0)
            flat = T.reshape(-1)
            dT = np.zeros(T.shape)  # C-contiguous, so d_flat is a view
            d_flat = dT.reshape(-1)
            if charging:
                # m = Q/(cp (T_charge - T_out)), capped; no flow if T_charge <= T_out
                lift = t_charge - flat.take(self._fi_charge_out)
                m_c = np.where(
                    lift > 0.0,
                    np.minimum(q_charge_W / (cp * np.maximum(lift, 1e-9)),
                               self.max_charge_flow_kg_per_s),
                    0.0,
                )
                accumulate("e_charge", m_c * lift * (cp * h))
                flux = m_c[:, None] * self._dir_charge  # (N, L-1) kg/s through interfaces, + down
            if drawing:
                # draw through the thermostatic mixing valve (tap flow bounded by m_tap)
                t_hot = flat.take(self._fi_draw)
                rise = t_hot - t_cold
                m_d = np.where(rise > 0.0, q_draw_W / (cp * np.maximum(rise, dt_mix)), 0.0)
                m_d_h = m_d * h  # kg drawn in this sub-step
                accumulate("e_draw", m_d_h * rise * cp)
                accumulate("e_unmet", np.where(t_hot < self.T_tap_min_C, q_draw_W, 0.0) * h)
                accumulate("m_drawn", m_d_h)
                accumulate("mT_drawn", m_d_h * t_hot)
                flux_d = m_d[:, None] * self._dir_draw
                flux = flux + flux_d if charging else flux_d

            # upwind advection: m_l dT_l/dt = sum over incoming streams m_s (T_s - T_l)
            if charging or drawing:
                diff = T[:, :-1] - T[:, 1:]  # T above minus T below, per interface
                dT[:, 1:] += np.maximum(flux, 0.0) * diff
                dT[:, :-1] += np.minimum(flux, 0.0) * diff
            if charging:
                d_flat[self._fi_charge_in] += m_c * (t_charge - flat.take(self._fi_charge_in))
            if drawing:
                d_flat[self._fi_cold_in] += m_d * (t_cold - flat.take(self._fi_cold_in))
            if heater_flux is not None:
                d_flat[self._fi_heater] += heater_flux
            T = T + dT * (h / self.m_layer_kg)[:, None]
        zeros = np.zeros(self.n)
        return T, tuple(acc.get(key, zeros) for key in ("e_charge", "e_draw", "e_unmet",
                                                          "m_drawn", "mT_drawn"))

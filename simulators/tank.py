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
    of an already pooled block); every layer gets its block's mean. Returns a new array."""
    n_layers = x.shape[0]
    ends = np.empty(x.shape, dtype=bool)
    y = np.empty_like(x)
    s = x[0].copy()
    c = np.ones_like(s)
    y[0] = s
    for k in range(1, n_layers):
        join = x[k] >= y[k - 1]
        ends[k - 1] = ~join
        s = np.where(join, s + x[k], x[k])
        c = np.where(join, c + 1.0, 1.0)
        y[k] = s / c
    ends[-1] = True
    for k in range(n_layers - 2, -1, -1):  # spread each block's final mean upward
        y[k] = np.where(ends[k], y[k], y[k + 1])
    return y


def mix_inversions(T: np.ndarray) -> np.ndarray:
    """Buoyancy mixing: return the energy-conserving stable profile of ``T`` (N, L), top first.

    Adjacent layers taking part in an inversion (warmer below colder) are pooled into one
    fully mixed block, repeatedly, until temperatures are non-increasing downward. With equal
    layer masses this is the isotonic (pool-adjacent-violators) projection, which is unique and
    conserves energy exactly. Sweeps alternate top-down (cold water sinking, e.g. a lid-cooled
    top layer) and bottom-up (warm water rising, e.g. from a heater), vectorised over tanks;
    only tanks with an inversion are touched. Returns ``T`` itself when already stable,
    otherwise a new array.
    """
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
        self.T_ref_C = per_unit("T_ref_C", params.T_ref_C)
        self.T_max_C = per_unit("T_max_C", params.T_max_C)
        self.T_tap_min_C = per_unit("T_tap_min_C", params.T_tap_min_C)
        self._E_full_kWh = self.C_J_per_K * (self.T_max_C - self.T_ref_C) / _J_PER_KWH

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
        self._eig_val, self._eig_vec = np.linalg.eigh(M)
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
        """Broadcast a step input to shape (N,), rejecting NaN/inf and values below ``low``."""
        if isinstance(value, (float, int)) and not isinstance(value, bool):  # fast path
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {value!r}")
            if low is not None and v < low:
                raise ValueError(f"{name} must be >= {low}, got {value!r}")
            return np.full(self.n, v)
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 0:
            arr = np.full(self.n, float(arr))
        elif arr.shape != (self.n,):
            raise ValueError(f"{name} must be a scalar or have shape ({self.n},), "
                             f"got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got {value!r}")
        if low is not None and (arr < low).any():
            raise ValueError(f"{name} must be >= {low}, got {value!r}")
        return arr

    def _propagator(self, dt_s: float) -> np.ndarray:
        """(N, L, L) exact conduction/loss propagator exp(-M dt) (cached for a few dt)."""
        P = self._prop_cache.get(dt_s)
        if P is None:
            decay = np.exp(-self._eig_val * dt_s)
            P = np.einsum("nij,nj,nkj->nik", self._eig_vec, decay, self._eig_vec)
            if len(self._prop_cache) >= 8:
                self._prop_cache.pop(next(iter(self._prop_cache)))
            self._prop_cache[dt_s] = P
        return P

    # ------------------------------------------------------------------ public API
    @property
    def T_layers_C(self) -> np.ndarray:
        """Copy of the layer temperatures, °C, shape (N, L), top first."""
        return self._T.copy()

    def energy_kWh(self) -> np.ndarray:
        """Stored energy relative to ``T_ref_C``, kWh, shape (N,)."""
        layer_sum = self._T @ self._ones_L  # gemv: faster than .sum(axis=1) for short rows
        return self.C_layer_J_per_K * (layer_sum - self.n_layers * self.T_ref_C) / _J_PER_KWH

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
        q_charge = self._input("Q_charge_kW", Q_charge_kW, low=0.0) * 1000.0  # W
        t_charge = self._input("T_charge_C", T_charge_C)
        q_draw = self._input("Q_draw_kW", Q_draw_kW, low=0.0) * 1000.0  # W
        t_cold = self._input("T_cold_C", T_cold_C)
        p_heater_kw = np.minimum(self._input("P_heater_kW", P_heater_kW, low=0.0), self.heater_kW)
        t_amb = self.T_ambient_C if T_ambient_C is None else self._input("T_ambient_C",
                                                                         T_ambient_C)
        dt_mix = self.T_tap_min_C - t_cold  # K, tap-side temperature rise at the mixing target
        if np.any(dt_mix <= 0.0):
            raise ValueError(f"T_cold_C must be < T_tap_min_C ({self.T_tap_min_C.min()} °C), "
                             f"got {T_cold_C!r}")

        cp = CP_WATER_J_PER_KGK
        # Flow bounds: charge <= max loop flow; draw <= tap flow at the mixing target.
        m_charge_max = np.where(q_charge > 0.0, self.max_charge_flow_kg_per_s, 0.0)
        m_tap = q_draw / (cp * dt_mix)
        # Per-tank sub-steps (CFL <= 1), so a tank's result does not depend on its fleet.
        courant = (m_charge_max + m_tap) * dt / self.m_layer_kg
        n_sub = np.maximum(1, np.ceil(courant - 1e-12)).astype(np.intp)
        h_unit = dt / n_sub  # s
        heater_flux = p_heater_kw * (1000.0 / cp)  # kg·K/s

        T = self._T
        e_charge = np.zeros(self.n)  # J
        e_draw = np.zeros(self.n)  # J
        e_unmet = np.zeros(self.n)  # J
        m_drawn = np.zeros(self.n)  # kg
        mT_drawn = np.zeros(self.n)  # kg·°C
        n_max = int(n_sub.max())
        if courant.any() or heater_flux.any():
            for k in range(n_max):
                if k > 0:  # mix tanks still sub-stepping; finished ones wait for the end
                    T = np.where((k < n_sub)[:, None], mix_inversions(T), T)
                h = h_unit if n_max == 1 else np.where(k < n_sub, h_unit, 0.0)
                flat = T.reshape(-1)
                # charging loop: m = Q/(cp (T_charge - T_out)), capped; none if T_charge <= T_out
                lift = t_charge - flat.take(self._fi_charge_out)
                m_c = np.where(
                    lift > 0.0,
                    np.minimum(q_charge / (cp * np.maximum(lift, 1e-9)),
                               self.max_charge_flow_kg_per_s),
                    0.0,
                )
                # draw through the thermostatic mixing valve (tap flow bounded by m_tap)
                t_hot = flat.take(self._fi_draw)
                rise = t_hot - t_cold
                m_d = np.where(rise > 0.0, q_draw / (cp * np.maximum(rise, dt_mix)), 0.0)
                e_charge += m_c * lift * cp * h
                e_draw += m_d * rise * cp * h
                e_unmet += np.where(t_hot < self.T_tap_min_C, q_draw, 0.0) * h
                m_drawn += m_d * h
                mT_drawn += m_d * t_hot * h

                # upwind advection: m_l dT_l/dt = sum over incoming streams m_s (T_s - T_l)
                flux = m_c[:, None] * self._dir_charge + m_d[:, None] * self._dir_draw  # + down
                diff = T[:, :-1] - T[:, 1:]  # T above minus T below, per interface
                dT = np.zeros(T.shape)  # C-contiguous, so d_flat is a view
                dT[:, 1:] += np.maximum(flux, 0.0) * diff
                dT[:, :-1] += np.minimum(flux, 0.0) * diff
                d_flat = dT.reshape(-1)
                d_flat[self._fi_charge_in] += m_c * (t_charge - flat.take(self._fi_charge_in))
                d_flat[self._fi_cold_in] += m_d * (t_cold - flat.take(self._fi_cold_in))
                d_flat[self._fi_heater] += heater_flux
                T = T + dT * (h / self.m_layer_kg)[:, None]

        # conduction + wall losses, exact over dt for constant ambient
        e_before = T @ self._ones_L
        excess = T - t_amb[:, None]
        T = t_amb[:, None] + np.einsum("nij,nj->ni", self._propagator(dt), excess)
        q_loss_w = (e_before - T @ self._ones_L) * self.C_layer_J_per_K / dt
        T = mix_inversions(T)
        self._T = T

        e_stored = self.energy_kWh()
        t_draw = np.where(m_drawn > 0.0, mT_drawn / np.where(m_drawn > 0.0, m_drawn, 1.0),
                          T.reshape(-1).take(self._fi_draw))
        return {
            "T_layers_C": T.copy(),
            "T_top_C": T[:, 0].copy(),
            "T_bottom_C": T[:, -1].copy(),
            "T_sensors_C": T @ self._W_sensors,
            "E_stored_kWh": e_stored,
            "soc_frac": e_stored / self._E_full_kWh,
            "Q_loss_kW": q_loss_w / 1000.0,
            "Q_charge_kW": e_charge / dt / 1000.0,
            "Q_draw_kW": e_draw / dt / 1000.0,
            "Q_unmet_kW": e_unmet / dt / 1000.0,
            "T_draw_C": t_draw,
            "T_return_C": T.reshape(-1).take(self._fi_charge_out),
            "P_heater_kW": p_heater_kw,
        }

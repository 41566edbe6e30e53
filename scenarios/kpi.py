"""Key performance indicators (KPIs) from the recorded time series of a run.

Input contract (see ``docs/kpis.md``): ``frames`` maps a measurement name (``building``,
``heatpump``, ``tank``, ``market``, ...) to a DataFrame with a tz-aware UTC ``time`` column, the
tags ``entity``, ``run_id``, ``scenario``, ``source`` and one column per field. ``time`` is the
START of the interval a value holds for: values are piecewise constant until the next sample of
the same entity, and the last sample of an entity holds for ``step_s`` seconds. Sampling may be
irregular.

All integrals are therefore exact integrals of step functions, ``sum(v_i * dt_i)``. Prices are
joined "as of" the instant: the market sample that holds at a time is the latest one at or before
it (the last market sample holds until the end of the run; energy before the first market sample
has no price and is reported as ``electricity_unpriced_kWh``). Every computation is vectorised over
all rows of all entities; a year of 60 s samples takes about a second.

KPIs whose inputs are missing from a run are omitted from the result, never filled in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

SECONDS_PER_HOUR: float = 3600.0
KWH_PER_MWH: float = 1000.0
PEAK_WINDOW_S: float = 900.0
"""Averaging window of the peak-demand KPI: 15 min, clock aligned (BOPTEST ``pele_tot``; also the
Nordic imbalance settlement period and the day-ahead MTU since 2025)."""

_EPOCH = pd.Timestamp(0, tz="UTC")


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiDefinition:
    """Metadata of one KPI: unit, meaning, how it is computed and where the definition comes from.

    ``inputs`` lists the ``measurement.field`` series the KPI needs; if any is missing the KPI is
    omitted.
    """

    name: str
    unit: str
    description: str
    method: str
    source: str
    inputs: tuple[str, ...]


_DEFS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "thermal_discomfort_Kh", "K·h",
        "Thermal discomfort: time integral of the room temperature's distance outside the comfort "
        "band, summed over all zones (building entities).",
        "Σ_zones ∫ max(0, T_low − T_room) + max(0, T_room − T_high) dt / 3600",
        "BOPTEST core KPI tdis_tot (without the per-zone division); band 20–23 °C from iPower",
        ("building.T_room_C",),
    ),
    KpiDefinition(
        "thermal_discomfort_Kh_per_zone", "K·h/zone",
        "Thermal discomfort divided by the number of zones, as BOPTEST reports tdis_tot.",
        "thermal_discomfort_Kh / number of building entities with T_room data",
        "BOPTEST tdis_tot [K·h/zone]",
        ("building.T_room_C",),
    ),
    KpiDefinition(
        "discomfort_below_Kh", "K·h",
        "Part of the thermal discomfort below the lower comfort limit (too cold).",
        "Σ_zones ∫ max(0, T_low − T_room) dt / 3600",
        "BOPTEST tdis_tot, lower slack only",
        ("building.T_room_C",),
    ),
    KpiDefinition(
        "discomfort_above_Kh", "K·h",
        "Part of the thermal discomfort above the upper comfort limit (too warm).",
        "Σ_zones ∫ max(0, T_room − T_high) dt / 3600",
        "BOPTEST tdis_tot, upper slack only",
        ("building.T_room_C",),
    ),
    KpiDefinition(
        "mean_T_room_C", "°C",
        "Time-weighted mean room temperature over all zones (iPower requires a flexible heat pump "
        "to keep a weekly mean of at least 21.5 °C).",
        "Σ ∫ T_room dt / Σ ∫ dt over all zones",
        "iPower (weekly mean constraint)",
        ("building.T_room_C",),
    ),
    KpiDefinition(
        "T_room_min_C", "°C", "Lowest recorded room temperature of any zone.",
        "min T_room", "heatflex", ("building.T_room_C",),
    ),
    KpiDefinition(
        "T_room_max_C", "°C", "Highest recorded room temperature of any zone.",
        "max T_room", "heatflex", ("building.T_room_C",),
    ),
    KpiDefinition(
        "electricity_kWh", "kWh",
        "Electricity used by the heat pumps (compressor, auxiliaries and backup heater), all "
        "units.",
        "Σ_units ∫ P_el dt / 3600",
        "BOPTEST ener_tot (not divided by floor area)",
        ("heatpump.P_el_kW",),
    ),
    KpiDefinition(
        "heat_delivered_kWh", "kWh",
        "Heat delivered by the heat pumps (space heating + domestic hot water, backup included).",
        "Σ_units ∫ Q_th dt / 3600", "heatflex", ("heatpump.Q_th_kW",),
    ),
    KpiDefinition(
        "space_heating_kWh", "kWh", "Heat delivered to space heating.",
        "Σ_units ∫ Q_sh dt / 3600", "heatflex", ("heatpump.Q_sh_kW",),
    ),
    KpiDefinition(
        "dhw_heat_kWh", "kWh", "Heat delivered to domestic hot water (tank charging).",
        "Σ_units ∫ Q_dhw dt / 3600", "heatflex", ("heatpump.Q_dhw_kW",),
    ),
    KpiDefinition(
        "seasonal_cop", "-",
        "Seasonal coefficient of performance over the run: heat delivered per electricity used.",
        "heat_delivered_kWh / electricity_kWh",
        "EN 14825 SCOP_on = QH / (QHE + Q_sup), here over the simulated period",
        ("heatpump.Q_th_kW", "heatpump.P_el_kW"),
    ),
    KpiDefinition(
        "cost_DKK", "DKK",
        "Electricity cost at the total price (spot + tariff + tax) holding at each instant.",
        "Σ_units ∫ P_el(t)·price_total(t) dt / 3600 / 1000, price as-of joined",
        "BOPTEST cost_tot (not per m²); DKK price composition from iPower",
        ("heatpump.P_el_kW", "market.price_total_DKK_per_MWh"),
    ),
    KpiDefinition(
        "cost_spot_DKK", "DKK", "Spot (day-ahead) part of the electricity cost.",
        "Σ_units ∫ P_el·price_spot dt / 3600 / 1000", "iPower (day-ahead value pool)",
        ("heatpump.P_el_kW", "market.price_spot_DKK_per_MWh"),
    ),
    KpiDefinition(
        "cost_tariff_DKK", "DKK", "Grid-tariff part of the electricity cost.",
        "Σ_units ∫ P_el·tariff dt / 3600 / 1000", "iPower (distribution-tariff value pool)",
        ("heatpump.P_el_kW", "market.tariff_DKK_per_MWh"),
    ),
    KpiDefinition(
        "cost_tax_DKK", "DKK", "Electricity-tax part of the electricity cost.",
        "Σ_units ∫ P_el·tax dt / 3600 / 1000", "iPower (electricity tax on HP electricity)",
        ("heatpump.P_el_kW", "market.tax_DKK_per_MWh"),
    ),
    KpiDefinition(
        "mean_price_paid_DKK_per_MWh", "DKK/MWh",
        "Consumption-weighted mean total price paid; lower than the time-mean price when "
        "consumption moved to cheap hours.",
        "cost_DKK / (priced electricity in MWh)",
        "iPower (flex HP average price)",
        ("heatpump.P_el_kW", "market.price_total_DKK_per_MWh"),
    ),
    KpiDefinition(
        "electricity_unpriced_kWh", "kWh",
        "Electricity used before the first market sample, which has no price and is left out of "
        "the cost KPIs (should be 0).",
        "electricity_kWh − ∫ P_el·1[price_total known] dt / 3600",
        "heatflex", ("heatpump.P_el_kW", "market.price_total_DKK_per_MWh"),
    ),
    KpiDefinition(
        "peak_15min_kW", "kW",
        "Peak electric demand of the site: the largest 15-min clock-aligned mean of the heat "
        "pumps' electric power summed over all units.",
        "max_k Σ_units (1/|bin_k|) ∫_{bin_k} P_el dt, bins [k·900 s, (k+1)·900 s) UTC; partial "
        "bins at the edges of the run are averaged over the recorded part",
        "BOPTEST pele_tot (15-min, not per m²)",
        ("heatpump.P_el_kW",),
    ),
    KpiDefinition(
        "hp_starts", "-",
        "Number of compressor starts during the run, all units.",
        "Σ_units Σ max(0, Δ starts) (increase of the cumulative counter)",
        "heatflex (cycling; EN 14825 degradation Cd)", ("heatpump.starts",),
    ),
    KpiDefinition(
        "backup_electricity_kWh", "kWh", "Electricity used by the backup (immersion) heater.",
        "Σ_units ∫ P_backup dt / 3600", "heatflex", ("heatpump.P_backup_kW",),
    ),
    KpiDefinition(
        "backup_heat_share_frac", "-",
        "Share of the delivered heat that came from the backup heater.",
        "∫ Q_backup dt / ∫ Q_th dt", "iPower (electric heater share)",
        ("heatpump.Q_backup_kW", "heatpump.Q_th_kW"),
    ),
    KpiDefinition(
        "dhw_unmet_kWh", "kWh",
        "Domestic-hot-water demand the tank could not meet at the required draw temperature.",
        "Σ_tanks ∫ Q_unmet dt / 3600", "heatflex (DHW comfort)", ("tank.Q_unmet_kW",),
    ),
    KpiDefinition(
        "tank_loss_kWh", "kWh", "Standing heat loss of the hot-water tanks.",
        "Σ_tanks ∫ Q_loss dt / 3600", "heatflex", ("tank.Q_loss_kW",),
    ),
)

KPI_DEFINITIONS: dict[str, KpiDefinition] = {d.name: d for d in _DEFS}
"""All KPIs :func:`compute_kpis` can return, by name (names carry the unit)."""


# --------------------------------------------------------------------------------------------
# Prepared series: rows sorted by (entity, time) with hold durations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One measurement, sorted by (entity, time), with the hold duration of every sample."""

    name: str
    frame: pd.DataFrame
    order: np.ndarray  # positions into ``frame`` giving the sorted row order
    entities: np.ndarray  # entity names, index = code
    code: np.ndarray  # entity code of each sorted row
    t_s: np.ndarray  # seconds since the Unix epoch (UTC) of each sorted row
    dt_s: np.ndarray  # seconds each sorted row holds for

    def has(self, field: str) -> bool:
        return field in self.frame.columns

    def values(self, field: str) -> np.ndarray:
        """Field values (float, NaN for missing) in sorted row order."""
        col = self.frame[field]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            col = pd.to_numeric(col, errors="coerce")
        return col.to_numpy(dtype=float, na_value=np.nan)[self.order]


def _time_seconds(frame: pd.DataFrame, name: str) -> np.ndarray:
    """UTC seconds since the epoch of ``frame['time']`` (tz-naive times are taken as UTC)."""
    if "time" not in frame.columns:
        raise ValueError(
            f"frames[{name!r}] has no 'time' column; columns are {list(frame.columns)}"
        )
    col = frame["time"]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(col.dtype):
        col = col.dt.tz_localize("UTC")
    else:
        raise ValueError(
            f"frames[{name!r}]['time'] has dtype {col.dtype}; a datetime64 (UTC) column is required"
        )
    if col.isna().any():
        raise ValueError(f"frames[{name!r}]['time'] contains missing timestamps (NaT)")
    return ((col - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def _prepare(frame: pd.DataFrame, name: str, step_s: float) -> _Series:
    """Sort one measurement by (entity, time) and compute each sample's hold duration [s]."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frames[{name!r}] must be a pandas DataFrame, got {type(frame).__name__}")
    t = _time_seconds(frame, name)
    if "entity" in frame.columns:
        codes, entities = pd.factorize(frame["entity"].astype(str), sort=True)
        entities = np.asarray(entities, dtype=object)
    else:  # a single anonymous entity
        codes, entities = np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object)
    order = np.lexsort((t, codes))
    t_sorted, code_sorted = t[order], np.asarray(codes)[order]
    dt = np.empty_like(t_sorted)
    if len(t_sorted):
        dt[:-1] = t_sorted[1:] - t_sorted[:-1]
        last = np.ones(len(t_sorted), dtype=bool)
        last[:-1] = code_sorted[1:] != code_sorted[:-1]
        dt[last] = step_s
    return _Series(name, frame, order, entities, code_sorted, t_sorted, dt)


def _check_params(comfort_low_C: float, comfort_high_C: float, step_s: float) -> None:
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s={step_s!r} is invalid; a finite duration > 0 s is required")
    for pname, val in (("comfort_low_C", comfort_low_C), ("comfort_high_C", comfort_high_C)):
        if not math.isfinite(val):
            raise ValueError(f"{pname}={val!r} is invalid; a finite temperature in °C is required")
    if comfort_low_C >= comfort_high_C:
        raise ValueError(
            f"comfort_low_C={comfort_low_C} must be below comfort_high_C={comfort_high_C}"
        )


def _prepare_all(frames: Mapping[str, pd.DataFrame], step_s: float) -> dict[str, _Series]:
    if not isinstance(frames, Mapping):
        raise ValueError(
            f"frames must be a dict of measurement name -> DataFrame, got {type(frames).__name__}"
        )
    return {
        name: _prepare(df, name, step_s)
        for name, df in frames.items()
        if df is not None and len(df)
    }


# --------------------------------------------------------------------------------------------
# Integrals of step functions
# --------------------------------------------------------------------------------------------


def _integral(s: _Series, v: np.ndarray) -> tuple[float, float]:
    """(∫ v dt, ∫ 1[v finite] dt) in value·s and s over all rows; NaN samples count as absent."""
    finite = np.isfinite(v)
    return float(np.dot(np.where(finite, v, 0.0), s.dt_s)), float(s.dt_s[finite].sum())


def _energy_kWh(s: _Series | None, field: str) -> float | None:
    """∫ field dt in kWh (field in kW), or None if the field is absent or all-missing."""
    if s is None or not s.has(field):
        return None
    v = s.values(field)
    integral, covered = _integral(s, v)
    return integral / SECONDS_PER_HOUR if covered > 0 else None


def _bin_integrals(
    s: _Series, v: np.ndarray, edges_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-entity integrals of a step function over bins.

    ``edges_s`` (ascending, UTC epoch seconds, length B+1) bound the bins [e_k, e_k+1). Returns
    ``(integral, covered)`` of shape (n_entities, B): ∫ v dt and the time with finite v, both in s.
    Vectorised over entities by giving every entity its own disjoint stretch of a key axis.
    """
    n_ent, n_bins = len(s.entities), len(edges_s) - 1
    if len(s.t_s) == 0 or n_bins <= 0:
        return np.zeros((n_ent, max(n_bins, 0))), np.zeros((n_ent, max(n_bins, 0)))
    origin = min(float(edges_s[0]), float(s.t_s.min()))
    end = max(float(edges_s[-1]), float((s.t_s + s.dt_s).max()))
    stretch = (end - origin) + 1.0  # > any time difference inside one entity's stretch
    keys = s.code * stretch + (s.t_s - origin)

    finite = np.isfinite(v)
    w = np.where(finite, v, 0.0)
    out = []
    for weights in (w, finite.astype(float)):
        cum = np.concatenate(([0.0], np.cumsum(weights * s.dt_s)))
        q = (np.arange(n_ent)[:, None] * stretch + (edges_s - origin)[None, :]).ravel()
        j = np.searchsorted(keys, q, side="right") - 1
        jc = np.clip(j, 0, None)
        partial = weights[jc] * np.clip(q - keys[jc], 0.0, s.dt_s[jc])
        at_q = np.where(j >= 0, cum[jc] + partial, 0.0).reshape(n_ent, n_bins + 1)
        out.append(np.diff(at_q, axis=1))
    return out[0], out[1]


def _clock_edges(t_start_s: float, t_end_s: float, bin_s: float) -> np.ndarray:
    """Bin edges at multiples of ``bin_s`` since the epoch (UTC clock), covering the span."""
    first = math.floor(t_start_s / bin_s) * bin_s
    last = math.ceil(t_end_s / bin_s) * bin_s
    if last <= first:
        last = first + bin_s
    return np.arange(first, last + bin_s / 2, bin_s)


def resample_mean(
    frame: pd.DataFrame, fields: Iterable[str], bin_s: float, step_s: float = 60.0
) -> pd.DataFrame:
    """Time-weighted per-entity means of ``fields`` over clock-aligned bins of ``bin_s`` seconds.

    Exact for step-function data with irregular sampling (a 60 s sample that holds for 60 s counts
    60 s). Returns a long DataFrame with columns ``time`` (bin start, UTC), ``entity`` and the
    fields; a bin with no finite data of a field gives NaN.
    """
    if not (math.isfinite(bin_s) and bin_s > 0):
        raise ValueError(f"bin_s={bin_s!r} is invalid; a finite duration > 0 s is required")
    fields = list(fields)
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise ValueError(f"fields {missing} are not columns of the frame {list(frame.columns)}")
    s = _prepare(frame, "frame", step_s)
    if len(s.t_s) == 0:
        return pd.DataFrame(columns=["time", "entity", *fields])
    edges = _clock_edges(float(s.t_s.min()), float((s.t_s + s.dt_s).max()), bin_s)
    n_ent, n_bins = len(s.entities), len(edges) - 1
    data: dict[str, object] = {
        "time": np.tile(pd.to_datetime(edges[:-1], unit="s", utc=True), n_ent),
        "entity": np.repeat(s.entities, n_bins),
    }
    for f in fields:
        integral, covered = _bin_integrals(s, s.values(f), edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            data[f] = np.where(covered > 0, integral / np.where(covered > 0, covered, 1.0), np.nan)
        data[f] = np.asarray(data[f]).ravel()
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------
# KPI groups
# --------------------------------------------------------------------------------------------


def _comfort_kpis(b: _Series | None, low: float, high: float) -> dict[str, float]:
    if b is None or not b.has("T_room_C"):
        return {}
    T = b.values("T_room_C")
    finite = np.isfinite(T)
    if not finite.any():
        return {}
    Tf, dt = T[finite], b.dt_s[finite]
    below = float(np.dot(np.maximum(0.0, low - Tf), dt)) / SECONDS_PER_HOUR
    above = float(np.dot(np.maximum(0.0, Tf - high), dt)) / SECONDS_PER_HOUR
    n_zones = len(np.unique(b.code[finite]))
    total = below + above
    return {
        "thermal_discomfort_Kh": total,
        "thermal_discomfort_Kh_per_zone": total / n_zones,
        "discomfort_below_Kh": below,
        "discomfort_above_Kh": above,
        "mean_T_room_C": float(np.dot(Tf, dt) / dt.sum()),
        "T_room_min_C": float(Tf.min()),
        "T_room_max_C": float(Tf.max()),
    }


def _energy_kpis(hp: _Series | None, tank: _Series | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for kpi, series, field in (
        ("electricity_kWh", hp, "P_el_kW"),
        ("heat_delivered_kWh", hp, "Q_th_kW"),
        ("space_heating_kWh", hp, "Q_sh_kW"),
        ("dhw_heat_kWh", hp, "Q_dhw_kW"),
        ("backup_electricity_kWh", hp, "P_backup_kW"),
        ("dhw_unmet_kWh", tank, "Q_unmet_kW"),
        ("tank_loss_kWh", tank, "Q_loss_kW"),
    ):
        e = _energy_kWh(series, field)
        if e is not None:
            out[kpi] = e
    heat, el = out.get("heat_delivered_kWh"), out.get("electricity_kWh")
    if heat is not None and el is not None and el > 0:
        out["seasonal_cop"] = heat / el
    backup_heat = _energy_kWh(hp, "Q_backup_kW")
    if backup_heat is not None and heat is not None and heat > 0:
        out["backup_heat_share_frac"] = backup_heat / heat
    return out


def _starts_kpi(hp: _Series | None) -> dict[str, float]:
    if hp is None or not hp.has("starts"):
        return {}
    v = hp.values("starts")
    finite = np.isfinite(v)
    if not finite.any():
        return {}
    vf, cf = v[finite], hp.code[finite]
    inc = np.diff(vf)
    same = cf[1:] == cf[:-1]
    return {"hp_starts": float(np.clip(inc[same], 0.0, None).sum())}


def _peak_kpi(hp: _Series | None) -> dict[str, float]:
    if hp is None or not hp.has("P_el_kW"):
        return {}
    v = hp.values("P_el_kW")
    if not np.isfinite(v).any():
        return {}
    edges = _clock_edges(float(hp.t_s.min()), float((hp.t_s + hp.dt_s).max()), PEAK_WINDOW_S)
    integral, covered = _bin_integrals(hp, v, edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(covered > 0, integral / np.where(covered > 0, covered, 1.0), 0.0)
    site = mean.sum(axis=0)
    site = site[(covered > 0).any(axis=0)]
    return {"peak_15min_kW": float(site.max())} if site.size else {}


def _price_integral(
    tm: np.ndarray, price: np.ndarray, j: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(∫_{-inf}^t price dt, ∫_{-inf}^t 1[price known] dt) of the as-of price step function.

    ``tm`` are the sorted market sample times [s], ``j`` = index of the market sample holding at
    each ``t`` (-1 before the first sample). The last market sample holds indefinitely (as-of join);
    before the first sample, and where a sample is NaN, the price is unknown and contributes 0.
    """
    known = np.isfinite(price)
    pz = np.where(known, price, 0.0)
    seg = np.diff(tm)
    cum_p = np.concatenate(([0.0], np.cumsum(pz[:-1] * seg)))
    cum_k = np.concatenate(([0.0], np.cumsum(known[:-1] * seg)))
    jc = np.clip(j, 0, None)
    rest = np.clip(t - tm[jc], 0.0, None)
    fp = np.where(j >= 0, cum_p[jc] + pz[jc] * rest, 0.0)
    fk = np.where(j >= 0, cum_k[jc] + known[jc] * rest, 0.0)
    return fp, fk


_PRICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("cost_DKK", "price_total_DKK_per_MWh"),
    ("cost_spot_DKK", "price_spot_DKK_per_MWh"),
    ("cost_tariff_DKK", "tariff_DKK_per_MWh"),
    ("cost_tax_DKK", "tax_DKK_per_MWh"),
)


def _market_entity(m: _Series) -> _Series:
    """The single market entity whose prices apply to every heat pump (first one if several)."""
    if len(m.entities) == 1:
        return m
    warnings.warn(
        f"market has {len(m.entities)} entities {list(m.entities)}; the prices of "
        f"{m.entities[0]!r} are used for every heat pump",
        stacklevel=3,
    )
    keep = np.flatnonzero(m.code == 0)
    return _Series(m.name, m.frame, m.order[keep], m.entities[:1], m.code[keep], m.t_s[keep],
                   m.dt_s[keep])


def _cost_kpis(hp: _Series | None, market: _Series | None) -> dict[str, float]:
    if hp is None or market is None or not hp.has("P_el_kW"):
        return {}
    P = hp.values("P_el_kW")
    if not np.isfinite(P).any():
        return {}
    P0 = np.where(np.isfinite(P), P, 0.0)
    m = _market_entity(market)
    a, b = hp.t_s, hp.t_s + hp.dt_s
    ja = np.searchsorted(m.t_s, a, side="right") - 1
    jb = np.searchsorted(m.t_s, b, side="right") - 1
    out: dict[str, float] = {}
    for kpi, field in _PRICE_FIELDS:
        price = m.values(field) if m.has(field) else None
        if price is None or not np.isfinite(price).any():
            continue
        pa, ka = _price_integral(m.t_s, price, ja, a)
        pb, kb = _price_integral(m.t_s, price, jb, b)
        # kW · s · DKK/MWh -> DKK: / 3600 (s->h) / 1000 (kWh->MWh)
        out[kpi] = float(np.dot(P0, pb - pa)) / SECONDS_PER_HOUR / KWH_PER_MWH
        if kpi == "cost_DKK":
            priced_kWh = float(np.dot(P0, kb - ka)) / SECONDS_PER_HOUR
            total_kWh = float(np.dot(P0, hp.dt_s)) / SECONDS_PER_HOUR
            out["electricity_unpriced_kWh"] = max(0.0, total_kWh - priced_kWh)
            if priced_kWh > 0:
                out["mean_price_paid_DKK_per_MWh"] = out[kpi] / (priced_kWh / KWH_PER_MWH)
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


_KPI_MEASUREMENTS: frozenset[str] = frozenset({"building", "heatpump", "tank", "market"})


def compute_kpis(
    frames: Mapping[str, pd.DataFrame],
    comfort_low_C: float = 20.0,
    comfort_high_C: float = 23.0,
    step_s: float = 60.0,
) -> dict[str, float]:
    """Compute every KPI of :data:`KPI_DEFINITIONS` whose inputs are present in ``frames``.

    Parameters
    ----------
    frames: measurement name -> recorded DataFrame (see the module docstring).
    comfort_low_C, comfort_high_C: comfort band [°C]; default 20–23 °C (iPower flexible band,
        21.5 ± 1.5 °C).
    step_s: hold duration [s] of each entity's last sample (the recording step).

    Returns a dict KPI name -> float, in the units of the name; missing inputs omit the KPI.
    """
    _check_params(comfort_low_C, comfort_high_C, step_s)
    series = _prepare_all(
        {k: v for k, v in frames.items() if k in _KPI_MEASUREMENTS}
        if isinstance(frames, Mapping)
        else frames,
        step_s,
    )
    hp, building = series.get("heatpump"), series.get("building")
    tank, market = series.get("tank"), series.get("market")
    kpis: dict[str, float] = {}
    kpis.update(_comfort_kpis(building, comfort_low_C, comfort_high_C))
    kpis.update(_energy_kpis(hp, tank))
    kpis.update(_cost_kpis(hp, market))
    kpis.update(_peak_kpi(hp))
    kpis.update(_starts_kpi(hp))
    return {name: kpis[name] for name in KPI_DEFINITIONS if name in kpis}


def compare_kpis(
    a: Mapping[str, float],
    b: Mapping[str, float],
    label_a: str = "flexible",
    label_b: str = "reference",
) -> pd.DataFrame:
    """Side-by-side table of two KPI dicts (e.g. flexible vs reference run).

    Index = KPI name (registry order, then unknown names); columns ``unit``, ``label_a``,
    ``label_b``, ``diff`` (= a − b) and ``diff_frac`` (= (a − b)/|b|, NaN when b is 0 or missing).
    """
    names = [n for n in KPI_DEFINITIONS if n in a or n in b]
    names += sorted((set(a) | set(b)) - set(names))
    va = np.array([float(a.get(n, np.nan)) for n in names])
    vb = np.array([float(b.get(n, np.nan)) for n in names])
    diff = va - vb
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.abs(vb) > 0, diff / np.abs(vb), np.nan)
    units = [KPI_DEFINITIONS[n].unit if n in KPI_DEFINITIONS else "" for n in names]
    return pd.DataFrame(
        {"unit": units, label_a: va, label_b: vb, "diff": diff, "diff_frac": frac},
        index=pd.Index(names, name="kpi"),
    )


# --------------------------------------------------------------------------------------------
# FCR fleet runs
# --------------------------------------------------------------------------------------------

FCR_KPI_DEFINITIONS: dict[str, KpiDefinition] = {d.name: d for d in (
    KpiDefinition(
        "fcr_activation_theoretical_kWh", "kWh",
        "Activation energy the fleet should have delivered: its maintained FCR-N capacity times "
        "the static activation at the grid frequency, integrated in absolute value.",
        "∫ |Σ C_maint · a_N(f)| dt / 3600, a_N = clip((50 − f)/0.1, −1, 1)",
        "reference §1.1 (FCR-N droop); Energinet FCR Kontrolark (average activated energy)",
        ("fcr.P_theo_kW",)),
    KpiDefinition(
        "fcr_activation_delivered_kWh", "kWh",
        "Activation energy the fleet delivered in the required direction: the providing units' "
        "deviation from their baseline, signed by the required direction.",
        "∫ sign(P_theo) · Σ (P_base − P_compressor) dt / 3600", "heatflex",
        ("fcr.P_delivered_kW", "fcr.P_theo_kW")),
    KpiDefinition(
        "fcr_delivery_ratio", "-",
        "Delivered over theoretical activation energy (1 = ideal; < 1 = lag, ramp or lock-outs).",
        "fcr_activation_delivered_kWh / fcr_activation_theoretical_kWh", "heatflex",
        ("fcr.P_delivered_kW", "fcr.P_theo_kW")),
    KpiDefinition(
        "fcr_tracking_rmse_kW", "kW",
        "Root-mean-square difference between delivered and theoretical fleet activation.",
        "√mean((P_delivered − P_theo)²)", "heatflex", ("fcr.P_delivered_kW", "fcr.P_theo_kW")),
    KpiDefinition(
        "fcr_capacity_mean_kW", "kW",
        "Mean maintained FCR-N capacity of the fleet (units running with a heat request, limited "
        "by their power range, baseline and comfort).",
        "mean Σ C_maint", "reference §1.10 (maintained capacity)", ("fcr.capacity_fleet_kW",)),
    KpiDefinition(
        "fcr_capacity_min_kW", "kW", "Lowest maintained FCR-N capacity of the fleet.",
        "min Σ C_maint", "reference §1.10", ("fcr.capacity_fleet_kW",)),
    KpiDefinition(
        "grid_f_std_mHz", "mHz", "Standard deviation of the grid frequency.",
        "std f · 1000", "reference §2", ("grid.f_Hz",)),
    KpiDefinition(
        "grid_share_outside_normal_band", "-",
        "Share of time with f outside 49.9–50.1 Hz.", "mean 1[|f − 50| > 0.1]", "reference §2",
        ("grid.f_Hz",)),
    KpiDefinition(
        "fleet_frequency_effect_max_mHz", "mHz",
        "Largest effect of the fleet's response on the grid frequency: f with the fleet fed back "
        "minus f of the same grid (same seed) without it.",
        "max |f − f_without_fleet| · 1000", "heatflex", ("grid.f_Hz", "grid.f_without_fleet_Hz")),
    KpiDefinition(
        "fleet_response_max_MW", "MW", "Largest fleet response fed back into the grid model.",
        "max |P_hp_response|", "heatflex", ("grid.P_hp_response_MW",)),
)}
"""KPIs of FCR fleet runs (:func:`fcr_fleet_kpis`), by name."""

FLEET_COMPARISON: tuple[tuple[str, str], ...] = (
    ("comfort_impact_Kh", "thermal_discomfort_Kh"),
    ("mean_T_room_change_K", "mean_T_room_C"),
    ("extra_starts", "hp_starts"),
    ("extra_electricity_kWh", "electricity_kWh"),
)
"""(KPI, base KPI): fleet with FCR minus the same fleet without FCR (counterfactual)."""
for _name, _base in FLEET_COMPARISON:
    _d = KPI_DEFINITIONS[_base]
    FCR_KPI_DEFINITIONS[_name] = KpiDefinition(
        _name, _d.unit, f"Fleet with FCR minus the same fleet without FCR (same seed): "
        f"{_base}.", f"{_base}(FCR) − {_base}(counterfactual)", "heatflex", _d.inputs)


def _fleet_rows(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    ent = frame["entity"].astype(str)
    return frame[(ent == prefix) | ent.str.startswith(prefix + "-")]


def split_fleet_frames(frames: Mapping[str, pd.DataFrame]) -> tuple[
        dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(fleet with FCR, counterfactual) frames of an FCR fleet run: entities ``house[-i]`` and
    ``ref[-i]``; shared measurements (weather, market, grid, fcr) go to both."""
    fleet: dict[str, pd.DataFrame] = {}
    ref: dict[str, pd.DataFrame] = {}
    for name, df in frames.items():
        ent = df["entity"].astype(str) if "entity" in df.columns else None
        if ent is not None and ent.str.startswith(("house", "ref")).any():
            fleet[name] = _fleet_rows(df, "house")
            ref[name] = _fleet_rows(df, "ref")
        else:
            fleet[name] = ref[name] = df
    return fleet, {k: v for k, v in ref.items() if len(v)}


def fcr_fleet_kpis(frames: Mapping[str, pd.DataFrame], step_s: float = 1.0) -> dict[str, float]:
    """FCR and grid KPIs (:data:`FCR_KPI_DEFINITIONS`) from the ``fcr`` and ``grid``
    measurements recorded every ``step_s`` seconds (the frequency step)."""
    out: dict[str, float] = {}
    fcr = frames.get("fcr")
    if fcr is not None and len(fcr) and {"P_theo_kW", "P_delivered_kW"} <= set(fcr.columns):
        s = _prepare(fcr, "fcr", step_s)
        theo, deliv = s.values("P_theo_kW"), s.values("P_delivered_kW")
        e_theo = float(np.dot(np.abs(theo), s.dt_s)) / SECONDS_PER_HOUR
        e_del = float(np.dot(np.sign(theo) * deliv, s.dt_s)) / SECONDS_PER_HOUR
        out["fcr_activation_theoretical_kWh"] = e_theo
        out["fcr_activation_delivered_kWh"] = e_del
        if e_theo > 0:
            out["fcr_delivery_ratio"] = e_del / e_theo
        out["fcr_tracking_rmse_kW"] = float(np.sqrt(np.mean((deliv - theo) ** 2)))
        if "capacity_fleet_kW" in fcr.columns:
            cap = s.values("capacity_fleet_kW")
            out["fcr_capacity_mean_kW"] = float(np.dot(cap, s.dt_s) / s.dt_s.sum())
            out["fcr_capacity_min_kW"] = float(cap.min())
    grid = frames.get("grid")
    if grid is not None and len(grid) and "f_Hz" in grid.columns:
        f = grid["f_Hz"].to_numpy(dtype=float)
        out["grid_f_std_mHz"] = float(np.std(f) * 1000.0)
        out["grid_share_outside_normal_band"] = float(np.mean(np.abs(f - 50.0) > 0.1))
        if "f_without_fleet_Hz" in grid.columns:
            d = f - grid["f_without_fleet_Hz"].to_numpy(dtype=float)
            out["fleet_frequency_effect_max_mHz"] = float(np.max(np.abs(d)) * 1000.0)
        if "P_hp_response_MW" in grid.columns:
            out["fleet_response_max_MW"] = float(
                np.max(np.abs(grid["P_hp_response_MW"].to_numpy(dtype=float))))
    return {k: out[k] for k in FCR_KPI_DEFINITIONS if k in out}


def fleet_comparison(kpis: Mapping[str, float], reference: Mapping[str, float]) -> dict[
        str, float]:
    """Comfort impact, room-temperature change, extra starts and extra electricity of the FCR
    fleet against its counterfactual (see :data:`FLEET_COMPARISON`)."""
    return {name: float(kpis[base]) - float(reference[base]) for name, base in FLEET_COMPARISON
            if base in kpis and base in reference}

"""Retail price composition and the per-participant, per-MTU settlement ledger.

End-user price per MWh (ref. iPower §7.1–7.2; standards §6.4), each a recorded component:

    total = spot + DSO tariff (Tarifmodel 3.0 ToU, :class:`simulators.prices.Tariff`)
          + TSO tariff + electricity tax (full or reduced electric-heating rate) + VAT

The ledger books, per participant and MTU, the energy cost (day-ahead purchase at spot), the
grid-tariff cost, the electricity tax, VAT, the reserve (FCR capacity) revenue, the mFRR
activation revenue and the imbalance cost — all in DKK — so KPIs can split cost by component as
the iPower report does. Pure numpy/pandas core; see ``docs/markets.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulators.markets._common import MTU_15MIN_S, finite_array, positive
from simulators.prices import ELECTRICITY_TAX_DKK_PER_MWH, EUR_TO_DKK, Tariff

TSO_TARIFF_DKK_PER_MWH: float = 69.0
"""Energinet transmission (net + system) tariff, DKK/MWh: the 2013 transmission tariff of
6.9 øre/kWh (ref. iPower §7.1). [AMBIGUOUS in the reference whether the iPower 244 DKK/MWh grid
tariff already contains it.] Configurable; current values are in ``DatahubPricelist``."""

REDUCED_HEATING_TAX_DKK_PER_MWH: float = ELECTRICITY_TAX_DKK_PER_MWH
"""Electricity tax on heat-pump (electric-heating) electricity, 412 DKK/MWh (ref. iPower §7.1)."""

FULL_ELECTRICITY_TAX_DKK_PER_MWH: float = ELECTRICITY_TAX_DKK_PER_MWH + 421.0
"""Full electricity tax, DKK/MWh = 412 + the 42.1 øre/kWh electric-heating reduction = 833
(iPower §7.1; the reference flags it [AMBIGUOUS]: this is its 'reduction + remaining' reading)."""

REDUCED_TAX_THRESHOLD_KWH_PER_YEAR: float = 4000.0
"""Annual consumption per household above which the reduced electric-heating tax applies, kWh
(ref. standards §6.4, openHAB binding documentation; [R] check current law)."""

VAT_FRAC: float = 0.25
"""Danish VAT (moms) rate on the electricity bill (ref. iPower §7.2, derived 25 %)."""

COMPONENTS: tuple[str, ...] = (
    "spot_DKK_per_MWh",
    "dso_tariff_DKK_per_MWh",
    "tso_tariff_DKK_per_MWh",
    "electricity_tax_DKK_per_MWh",
    "vat_DKK_per_MWh",
)
"""Components of the retail price; their sum is ``total_DKK_per_MWh``."""

LEDGER_COLUMNS: tuple[str, ...] = (
    "energy_cost_DKK",
    "imbalance_cost_DKK",
    "dso_tariff_cost_DKK",
    "tso_tariff_cost_DKK",
    "tariff_cost_DKK",
    "tax_cost_DKK",
    "vat_cost_DKK",
    "reserve_revenue_DKK",
    "activation_revenue_DKK",
    "net_cost_DKK",
)
"""Columns of the settlement ledger (DKK per participant per MTU)."""


def _times_epoch(times: pd.DatetimeIndex | Sequence[float] | np.ndarray) -> pd.DatetimeIndex:
    if isinstance(times, pd.DatetimeIndex):
        return times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    arr = finite_array("times", times)
    return pd.DatetimeIndex(pd.to_datetime(arr, unit="s", utc=True))


class RetailPriceModel:
    """Retail electricity price of a Danish household, component by component (DKK/MWh).

    Args:
        dso_tariff: DSO grid tariff (default Tarifmodel 3.0 ToU with the illustrative levels of
            :data:`simulators.prices.DEFAULT_TOU_DKK_PER_MWH`).
        tso_tariff_DKK_per_MWh: TSO (Energinet net + system) tariff.
        electricity_tax_DKK_per_MWh: full electricity tax.
        reduced_heating_tax_DKK_per_MWh: reduced tax for registered electric heating.
        electric_heating: apply the reduced rate above the annual threshold.
        reduced_tax_threshold_kWh_per_year: consumption per household per year above which the
            reduced rate applies (0 = on all consumption, the iPower heat-pump case).
        vat_frac: VAT rate on spot + tariffs + tax.
        eur_to_dkk: DKK per EUR for the spot price.
    """

    def __init__(
        self,
        dso_tariff: Tariff | None = None,
        *,
        tso_tariff_DKK_per_MWh: float = TSO_TARIFF_DKK_PER_MWH,
        electricity_tax_DKK_per_MWh: float = FULL_ELECTRICITY_TAX_DKK_PER_MWH,
        reduced_heating_tax_DKK_per_MWh: float = REDUCED_HEATING_TAX_DKK_PER_MWH,
        electric_heating: bool = True,
        reduced_tax_threshold_kWh_per_year: float = REDUCED_TAX_THRESHOLD_KWH_PER_YEAR,
        vat_frac: float = VAT_FRAC,
        eur_to_dkk: float = EUR_TO_DKK,
    ) -> None:
        self.dso_tariff = Tariff("tou") if dso_tariff is None else dso_tariff
        self.tso = float(finite_array("tso_tariff_DKK_per_MWh", tso_tariff_DKK_per_MWh))
        self.tax_full = float(
            finite_array("electricity_tax_DKK_per_MWh", electricity_tax_DKK_per_MWh)
        )
        self.tax_reduced = float(
            finite_array("reduced_heating_tax_DKK_per_MWh", reduced_heating_tax_DKK_per_MWh)
        )
        self.electric_heating = bool(electric_heating)
        self.threshold_kWh = positive(
            "reduced_tax_threshold_kWh_per_year", reduced_tax_threshold_kWh_per_year, True
        )
        self.vat_frac = positive("vat_frac", vat_frac, allow_zero=True)
        if self.vat_frac >= 1:
            raise ValueError(f"vat_frac={vat_frac!r} must be in [0, 1)")
        self.eur_to_dkk = positive("eur_to_dkk", eur_to_dkk)

    def components(
        self,
        times: pd.DatetimeIndex | Sequence[float] | np.ndarray,
        spot_EUR_per_MWh: np.ndarray | Sequence[float],
        reduced_tax_frac: np.ndarray | float = 0.0,
    ) -> dict[str, np.ndarray]:
        """Retail price components at UTC MTU starts ``times`` (DatetimeIndex or epoch s).

        Args:
            spot_EUR_per_MWh: (T,) day-ahead price.
            reduced_tax_frac: share of the energy taxed at the reduced rate (broadcast with
                (T,), e.g. (N, T) per participant).

        Returns:
            the :data:`COMPONENTS` and ``total_DKK_per_MWh``, arrays shaped like the broadcast
            of (T,) and ``reduced_tax_frac``.
        """
        idx = _times_epoch(times)
        T = len(idx)
        spot = finite_array("spot_EUR_per_MWh", spot_EUR_per_MWh, (T,)) * self.eur_to_dkk
        frac = finite_array("reduced_tax_frac", reduced_tax_frac)
        if np.any(frac < 0) or np.any(frac > 1):
            raise ValueError("reduced_tax_frac must be within [0, 1]")
        shape = np.broadcast_shapes(frac.shape, (T,))
        dso = np.broadcast_to(self.dso_tariff.at(idx), shape).copy()
        tso = np.full(shape, self.tso)
        tax = self.tax_full + (self.tax_reduced - self.tax_full) * np.broadcast_to(frac, shape)
        spot_b = np.broadcast_to(spot, shape).copy()
        vat = self.vat_frac * (spot_b + dso + tso + tax)
        return {
            "spot_DKK_per_MWh": spot_b,
            "dso_tariff_DKK_per_MWh": dso,
            "tso_tariff_DKK_per_MWh": tso,
            "electricity_tax_DKK_per_MWh": np.array(tax, dtype=np.float64),
            "vat_DKK_per_MWh": vat,
            "total_DKK_per_MWh": spot_b + dso + tso + tax + vat,
        }


class SettlementLedger:
    """Per-participant, per-MTU settlement ledger (DKK), vectorised over N participants.

    Args:
        participants: names, the order of the N axis.
        retail: retail price model (default :class:`RetailPriceModel`).
        households: households behind each participant (scalar or (N,)), for the annual
            reduced-tax threshold.
        E_year_start_kWh: consumption already metered in the current tax year per participant
            (scalar or (N,)); the ledger does not reset at New Year (runs within one year).
        mtu_s: MTU / ISP length, s.
    """

    def __init__(
        self,
        participants: Sequence[str],
        retail: RetailPriceModel | None = None,
        *,
        households: float | Sequence[float] = 1.0,
        E_year_start_kWh: float | Sequence[float] = 0.0,
        mtu_s: int = MTU_15MIN_S,
    ) -> None:
        self.participants = [str(p) for p in participants]
        N = len(self.participants)
        if N == 0 or len(set(self.participants)) != N:
            raise ValueError(f"participants={participants!r} must be non-empty and unique")
        self.retail = RetailPriceModel() if retail is None else retail
        self.households = finite_array("households", households, (N,))
        if np.any(self.households <= 0):
            raise ValueError("households must be > 0")
        self._E_kWh = finite_array("E_year_start_kWh", E_year_start_kWh, (N,))
        self.mtu_s = int(positive("mtu_s", mtu_s))
        self._rows: list[tuple[pd.DatetimeIndex, dict[str, np.ndarray]]] = []

    def post(
        self,
        times: pd.DatetimeIndex | Sequence[float] | np.ndarray,
        spot_EUR_per_MWh: np.ndarray | Sequence[float],
        day_ahead_MW: np.ndarray | float,
        metered_MW: np.ndarray | float,
        *,
        reserve_revenue_EUR: np.ndarray | float = 0.0,
        activation_revenue_EUR: np.ndarray | float = 0.0,
        imbalance_cost_EUR: np.ndarray | float = 0.0,
    ) -> dict[str, np.ndarray]:
        """Book T consecutive MTUs (in time order, after any earlier post).

        Args:
            times: (T,) UTC MTU starts.
            spot_EUR_per_MWh: (T,) day-ahead price.
            day_ahead_MW: (N, T) accepted net day-ahead purchase (consumption positive).
            metered_MW: (N, T) metered mean consumption.
            reserve_revenue_EUR, activation_revenue_EUR, imbalance_cost_EUR: (N, T) from the
                FCR auction, the mFRR activation and the imbalance settlement.

        Returns:
            the :data:`LEDGER_COLUMNS` as fresh (N, T) arrays, DKK. Costs are positive, revenues
            positive; ``net_cost = energy + imbalance + tariff + tax + VAT − reserve −
            activation``. VAT is charged on energy + imbalance + tariffs + tax (the retail
            bill); balancing revenues carry no VAT here.
        """
        idx = _times_epoch(times)
        T = len(idx)
        N = len(self.participants)
        shape = (N, T)
        h = self.mtu_s / 3600.0
        k = self.retail.eur_to_dkk
        da = finite_array("day_ahead_MW", day_ahead_MW, shape)
        met = finite_array("metered_MW", metered_MW, shape)
        spot = finite_array("spot_EUR_per_MWh", spot_EUR_per_MWh, (T,))
        # reduced-tax share from the cumulative metered consumption per household
        E_mwh = np.maximum(met, 0.0) * h
        cum_end = self._E_kWh[:, None] + np.cumsum(E_mwh, axis=1) * 1000.0
        cum_start = cum_end - E_mwh * 1000.0
        if self.retail.electric_heating:
            thr = self.retail.threshold_kWh * self.households[:, None]
            above = np.clip(cum_end - np.maximum(cum_start, thr), 0.0, None)
            frac = np.divide(above, E_mwh * 1000.0, out=np.ones(shape), where=E_mwh > 0)
            frac = np.clip(frac, 0.0, 1.0)
        else:
            frac = np.zeros(shape)
        comp = self.retail.components(idx, spot, frac)
        met_mwh = met * h
        energy = da * h * spot[None, :] * k
        imb = finite_array("imbalance_cost_EUR", imbalance_cost_EUR, shape) * k
        dso = met_mwh * comp["dso_tariff_DKK_per_MWh"]
        tso = met_mwh * comp["tso_tariff_DKK_per_MWh"]
        tax = met_mwh * comp["electricity_tax_DKK_per_MWh"]
        vat = self.retail.vat_frac * (energy + imb + dso + tso + tax)
        res = finite_array("reserve_revenue_EUR", reserve_revenue_EUR, shape) * k
        act = finite_array("activation_revenue_EUR", activation_revenue_EUR, shape) * k
        out = {
            "energy_cost_DKK": energy,
            "imbalance_cost_DKK": imb,
            "dso_tariff_cost_DKK": dso,
            "tso_tariff_cost_DKK": tso,
            "tariff_cost_DKK": dso + tso,
            "tax_cost_DKK": tax,
            "vat_cost_DKK": vat,
            "reserve_revenue_DKK": res,
            "activation_revenue_DKK": act,
            "net_cost_DKK": energy + imb + dso + tso + tax + vat - res - act,
        }
        self._E_kWh = cum_end[:, -1].copy() if T else self._E_kWh
        self._rows.append((idx, {c: v.copy() for c, v in out.items()}))
        return out

    @property
    def E_year_kWh(self) -> np.ndarray:
        """(N,) consumption booked in the tax year so far, kWh (copy)."""
        return self._E_kWh.copy()

    def totals(self) -> dict[str, np.ndarray]:
        """Each ledger column summed over all booked MTUs, (N,) DKK."""
        N = len(self.participants)
        out = {c: np.zeros(N) for c in LEDGER_COLUMNS}
        for _, row in self._rows:
            for c in LEDGER_COLUMNS:
                out[c] += row[c].sum(axis=1)
        return out

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (time, participant), columns :data:`LEDGER_COLUMNS`."""
        frames: list[pd.DataFrame] = []
        for idx, row in self._rows:
            data: dict[str, Any] = {
                "time": np.repeat(idx.to_numpy(), len(self.participants)),
                "participant": np.tile(self.participants, len(idx)),
            }
            for c in LEDGER_COLUMNS:
                data[c] = row[c].T.ravel()
            frames.append(pd.DataFrame(data))
        if not frames:
            return pd.DataFrame(columns=["time", "participant", *LEDGER_COLUMNS])
        return pd.concat(frames, ignore_index=True)


__all__ = [
    "COMPONENTS",
    "FULL_ELECTRICITY_TAX_DKK_PER_MWH",
    "LEDGER_COLUMNS",
    "REDUCED_HEATING_TAX_DKK_PER_MWH",
    "REDUCED_TAX_THRESHOLD_KWH_PER_YEAR",
    "RetailPriceModel",
    "SettlementLedger",
    "TSO_TARIFF_DKK_PER_MWH",
    "VAT_FRAC",
]

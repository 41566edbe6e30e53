"""Market clearing cores for heatflex (pure numpy/scipy; no mosaik) — public API.

One concept per module in :mod:`simulators.markets`:

* :mod:`~simulators.markets.dayahead` — SDAC-like day-ahead uniform-price auction of stepwise bid
  curves with a parametric background merit order (or price-taker mode);
* :mod:`~simulators.markets.reserves` — FCR-N / FCR-D up / FCR-D down capacity auctions;
* :mod:`~simulators.markets.balancing` — mFRR energy activation and single-price imbalance
  settlement;
* :mod:`~simulators.markets.settlement` — retail price composition and settlement ledger.

Timing, bid formats and settlement: ``docs/markets.md``.
"""

from simulators.markets._common import (
    GATE_CLOSURE_LOCAL_H,
    LOT_MW,
    MTU_15MIN_S,
    MTU_60MIN_S,
    PRICE_CAP_EUR_PER_MWH,
    PRICE_FLOOR_EUR_PER_MWH,
    TICK_EUR_PER_MWH,
    delivery_day_of,
    delivery_mtus,
    gate_closure_utc,
)
from simulators.markets.balancing import (
    MIN_MFRR_BID_MW,
    MfrrResult,
    activate_mfrr,
    settle_imbalance,
)
from simulators.markets.dayahead import (
    DEFAULT_SLOPE_EUR_PER_MWH_PER_MW,
    DayAheadMarket,
    DayAheadResult,
    clear_uniform_price,
    make_bid,
)
from simulators.markets.reserves import (
    DEFAULT_FCR_DEMAND_MW,
    FCR_PRODUCTS,
    MIN_FCR_BID_MW,
    FcrResult,
    clear_capacity_auction,
    clear_fcr_auction,
)
from simulators.markets.settlement import (
    COMPONENTS,
    FULL_ELECTRICITY_TAX_DKK_PER_MWH,
    LEDGER_COLUMNS,
    REDUCED_HEATING_TAX_DKK_PER_MWH,
    REDUCED_TAX_THRESHOLD_KWH_PER_YEAR,
    TSO_TARIFF_DKK_PER_MWH,
    VAT_FRAC,
    RetailPriceModel,
    SettlementLedger,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_FCR_DEMAND_MW",
    "DEFAULT_SLOPE_EUR_PER_MWH_PER_MW",
    "FCR_PRODUCTS",
    "FULL_ELECTRICITY_TAX_DKK_PER_MWH",
    "GATE_CLOSURE_LOCAL_H",
    "LEDGER_COLUMNS",
    "LOT_MW",
    "MIN_FCR_BID_MW",
    "MIN_MFRR_BID_MW",
    "MTU_15MIN_S",
    "MTU_60MIN_S",
    "PRICE_CAP_EUR_PER_MWH",
    "PRICE_FLOOR_EUR_PER_MWH",
    "REDUCED_HEATING_TAX_DKK_PER_MWH",
    "REDUCED_TAX_THRESHOLD_KWH_PER_YEAR",
    "TICK_EUR_PER_MWH",
    "TSO_TARIFF_DKK_PER_MWH",
    "VAT_FRAC",
    "DayAheadMarket",
    "DayAheadResult",
    "FcrResult",
    "MfrrResult",
    "RetailPriceModel",
    "SettlementLedger",
    "activate_mfrr",
    "clear_capacity_auction",
    "clear_fcr_auction",
    "clear_uniform_price",
    "delivery_day_of",
    "delivery_mtus",
    "gate_closure_utc",
    "make_bid",
    "settle_imbalance",
]

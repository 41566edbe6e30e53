"""The D-1 FCR-N capacity auction of a FlexHeat run, as a steppable core for the world.

At each gate (12:00 local on D-1) the plant's controller submits one bid for the 23/24/25 hourly
FCR-N products of day D: ``{"day": "YYYY-MM-DD", "band_kW": [...], "price_DKK_per_MW_h": p}``
(symmetric capacity per delivery hour, kW; the price is the plant's ask). The auction clears it
with :func:`simulators.markets.reserves.clear_fcr_auction` (marginal pricing) against a
background stack built per hour from the scenario's FCR-N price series: the demand (258 MW, the
2021 DK2 + SE shares) is met by cheap background capacity (half of the demand at half the price)
and a marginal block at exactly the series price, so an empty auction clears at the series
price, a plant bid at or below it is accepted in full and a dearer bid is rejected. The award
and the clearing price then hold for each hour of D; revenue = award × price per hour.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from simulators.markets.reserves import DEFAULT_FCR_DEMAND_MW, clear_fcr_auction
from simulators.prices import EUR_TO_DKK, LOCAL_TZ

PROVIDER = "flexheat"


def local_day_hours(day: date, tz: str = LOCAL_TZ) -> pd.DatetimeIndex:
    """UTC start instants of the 23/24/25 delivery hours of local day ``day``."""
    z = ZoneInfo(tz)
    a = datetime(day.year, day.month, day.day, tzinfo=z)
    b = a + timedelta(days=1)
    b = datetime(b.year, b.month, b.day, tzinfo=z)
    return pd.date_range(pd.Timestamp(a).tz_convert("UTC"), pd.Timestamp(b).tz_convert("UTC"),
                         freq="1h", inclusive="left")


class FcrNAuction:
    """Clears the plant's daily FCR-N bids; reports the award and price of the current hour.

    Args:
        start: UTC instant of t_s = 0.
        price_DKK_per_MW_h: hourly FCR-N capacity price series (UTC index), DKK/MW/h — the
            price the background stack clears at.
        min_bid_kW: smallest band the plant may offer. The FlexHeat heat pump's largest
            symmetric band (≈ 81 kW) is below the 0.1 MW minimum quoted for the Nordic FCR
            markets (ref. standards §1.11, DK value unconfirmed), so by default (0) the plant is
            taken to bid through an aggregator's portfolio, as small providers do; 100 models a
            stand-alone bid (then every FlexHeat bid is rejected).
    """

    needs_time = True

    def __init__(self, start: datetime, price_DKK_per_MW_h: pd.Series,
                 min_bid_kW: float = 0.0) -> None:
        self.min_bid_kW = float(min_bid_kW)
        self.start = pd.Timestamp(start).tz_convert("UTC")
        idx = price_DKK_per_MW_h.index
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        self.price = pd.Series(price_DKK_per_MW_h.to_numpy(dtype=float), index=idx)
        self.awards: dict[int, tuple[float, float]] = {}  # hour epoch s -> (kW, DKK/MW/h)
        self.results: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._t0 = self.start.timestamp()
        self._hour = -1
        self._upcoming: dict[str, float] = {}
        self._series_price = float("nan")

    def clear(self, bid: dict[str, Any]) -> dict[str, Any]:
        """Clear one day's bid; store and return the result (JSON-safe)."""
        day = date.fromisoformat(str(bid["day"]))
        hours = local_day_hours(day)
        band = np.asarray(bid["band_kW"], dtype=float)
        if band.shape != (len(hours),):
            raise ValueError(f"FCR-N bid for {day}: band_kW has {band.size} values; the day has "
                             f"{len(hours)} hours")
        p_dkk = self.price.reindex(hours).ffill().bfill().to_numpy(dtype=float)
        p_eur = p_dkk / EUR_TO_DKK
        demand = DEFAULT_FCR_DEMAND_MW["FCR-N"]
        bids: list[dict[str, Any]] = []
        for h in range(len(hours)):
            bids.append({"provider": "background_cheap", "product": "FCR-N", "hour": h,
                         "capacity_MW": demand / 2, "price_EUR_per_MW_h": p_eur[h] / 2})
            bids.append({"provider": "background_marginal", "product": "FCR-N", "hour": h,
                         "capacity_MW": demand, "price_EUR_per_MW_h": p_eur[h]})
        ask = float(bid.get("price_DKK_per_MW_h", 0.0)) / EUR_TO_DKK
        for h in np.flatnonzero((band > 0.0) & (band >= self.min_bid_kW)):
            bids.append({"provider": PROVIDER, "product": "FCR-N", "hour": int(h),
                         "capacity_MW": band[h] / 1000.0, "price_EUR_per_MW_h": ask})
        res = clear_fcr_auction(bids, n_hours=len(hours), demand_MW={"FCR-N": demand},
                                min_bid_MW=0.0)
        got = (res.awarded_MW["FCR-N"][res.providers.index(PROVIDER)] * 1000.0
               if PROVIDER in res.providers else np.zeros(len(hours)))
        price = res.price_EUR_per_MW_h["FCR-N"] * EUR_TO_DKK
        for h, t in enumerate(hours):
            self.awards[int(t.timestamp())] = (float(got[h]), float(price[h]))
        out = {"day": day.isoformat(), "offered_kW": band.tolist(), "awarded_kW": got.tolist(),
               "price_DKK_per_MW_h": price.tolist()}
        self.results.append(out)
        return out

    def step(self, dt_s: float, t_s: float, fcr_bid: Any = None) -> dict[str, Any]:
        """Clear a newly submitted bid; report the current hour's award, price and revenue."""
        cleared = False
        if isinstance(fcr_bid, dict) and fcr_bid.get("day") not in self._seen:
            self._seen.add(str(fcr_bid["day"]))
            self.clear(fcr_bid)
            cleared = True
        t_abs = self._t0 + t_s
        hour = int(t_abs // 3600) * 3600
        if hour != self._hour:  # a new hour: drop past awards, look up the series price once
            self._hour = hour
            for k in [k for k in self.awards if k < hour]:
                del self.awards[k]
            self._upcoming = {str(k): v[0] for k, v in sorted(self.awards.items())}
            self._series_price = float(self.price.asof(pd.Timestamp(hour, unit="s", tz="UTC")))
        elif cleared:
            self._upcoming = {str(k): v[0] for k, v in sorted(self.awards.items())}
        kW, price = self.awards.get(hour, (0.0, self._series_price))
        return {
            "fcr_award_kW": kW,
            "fcr_price_DKK_per_MW_h": price,
            "fcr_revenue_DKK": kW / 1000.0 * price * dt_s / 3600.0,
            "fcr_awards": self._upcoming,
        }

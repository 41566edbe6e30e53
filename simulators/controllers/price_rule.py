"""A price-aware rule controller (the MPC comes later).

It reads the published day-ahead horizon (total price per hour: spot + tariff + tax) and ranks
the current hour within the next ``horizon``: in the cheapest hours it raises the room set point
towards the top of the comfort band and tops up the hot-water tank; in the dearest hours it lowers
the set point towards the bottom of the band and charges hot water only below a minimum.  The set
point moves symmetrically around the nominal value so that the mean room temperature — and so the
heat demand — stays close to the non-flexible case (iPower keeps the weekly mean ≥ 21.5 °C).
"""

from __future__ import annotations

import numpy as np

from simulators.controllers.thermostat import Thermostat


class PriceRule(Thermostat):
    """Thermostat whose set points follow the price rank of the current hour."""

    def __init__(
        self,
        *args,
        offset_K: float = 1.5,
        T_low_C: float = 20.0,
        T_high_C: float = 23.0,
        margin_K: float = 0.3,
        cheap_quantile: float = 0.33,
        expensive_quantile: float = 0.67,
        horizon_h: int = 24,
        dhw_T_boost_C: float = 50.0,
        **kwargs,
    ):
        super().__init__(*args, T_low_C=T_low_C, **kwargs)
        lo, hi = T_low_C + margin_K, T_high_C - margin_K
        self.T_cheap = min(self.T_set + offset_K, hi)
        self.T_dear = max(self.T_set - offset_K, lo)
        self.cheap_q, self.dear_q = float(cheap_quantile), float(expensive_quantile)
        self.horizon_h = int(horizon_h)
        self.dhw_T_boost = float(dhw_T_boost_C)
        self.rank = 0.5
        self._ranked: tuple[object, tuple[float, float]] | None = None

    def set_points(self, t_s: float, price_forecast: np.ndarray | None) -> tuple[float, float]:
        """Room set point and DHW start threshold from the current hour's price rank."""
        if price_forecast is None or len(price_forecast) < 2:
            self.rank = 0.5
            return self.T_set, self.dhw_T_on
        # the price simulator publishes a new forecast array each hour; between updates the same
        # object arrives every step, so its rank is computed once
        if self._ranked is not None and self._ranked[0] is price_forecast:
            return self._ranked[1]
        points = self._rank_points(price_forecast)
        self._ranked = (price_forecast, points)
        return points

    def _rank_points(self, price_forecast: np.ndarray) -> tuple[float, float]:
        window = np.asarray(price_forecast[: self.horizon_h], dtype=float)
        now = window[0]
        self.rank = float(np.mean(window < now) + 0.5 * np.mean(window == now))
        if self.rank <= self.cheap_q:
            return self.T_cheap, self.dhw_T_boost
        if self.rank >= self.dear_q:
            return self.T_dear, self.dhw_T_min
        return self.T_set, self.dhw_T_on

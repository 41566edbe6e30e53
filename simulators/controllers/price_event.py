"""Price-event response of a fleet's thermostats: set-back during a price spike or peak-tariff
window, optional pre-heating before it (pure numpy).

The houses of a kickback study that see a dynamic price or a time-of-use tariff (issue #9:
``price_spike``, ``peak_tariff`` events) do not get an SG-Ready command; their own controller
reacts to the price. The simplest response that the source documents describe for flexible
residential heat pumps (iPower's price-rule controller, ±1.5 K inside the 21.5 ± 1.5 °C comfort
band) is a room set-point offset plus hot-water deferral:

* inside a unit's (mitigated) price window: room set point − ``setback_K`` (never below the comfort
  band's lower edge + ``margin_K``) and hot water only below its minimum (``dhw_T_min_C``);
* in the ``preheat_s`` before the window starts: set point + ``preheat_K`` (never above the upper
  edge − ``margin_K``) and a hot-water boost (charge to ``dhw_T_off_C − 1``) — the price is
  known ahead (day-ahead prices are published the day before, tariffs are fixed);
* otherwise the thermostat's own set points.

When the window ends (per unit: the event's mitigated release time, so randomised restart,
staggering and ramp limits spread the return), the set point goes back up — the rebound a DSO
asks about. Per-unit windows come from :meth:`simulators.events.EventSchedule.windows`.
Temperatures in °C, durations in s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PriceResponse", "PriceEventResponse"]


@dataclass(frozen=True)
class PriceResponse:
    """How the responding houses react to one price event.

    Attributes:
        start_s: per-unit window start, s since the run start (NaN = unit not targeted), (N,).
        end_s: per-unit window end after release mitigation, s, (N,).
        setback_K: room set-point reduction inside the window, K (>= 0).
        preheat_s: pre-heating lead time before the window, s (>= 0; 0 = none).
        preheat_K: room set-point increase while pre-heating, K (>= 0).
    """

    start_s: np.ndarray
    end_s: np.ndarray
    setback_K: float = 1.5
    preheat_s: float = 0.0
    preheat_K: float = 1.0

    def __post_init__(self) -> None:
        for name in ("setback_K", "preheat_s", "preheat_K"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"PriceResponse.{name}={v!r}; allowed: a finite value >= 0")
        if np.shape(self.start_s) != np.shape(self.end_s):
            raise ValueError("PriceResponse start_s and end_s must have the same shape (N,)")


class PriceEventResponse:
    """Wraps a fleet's :class:`~simulators.controllers.thermostat.Thermostat` and moves its set
    points per unit for the price events (see the module docstring). Same inputs and outputs as
    the thermostat (its ``T_set_C`` output shows the moved set point)."""

    needs_time = True

    def __init__(self, thermostat: Any, responses: list[PriceResponse], *, T_low_C: float,
                 T_high_C: float, margin_K: float = 0.3) -> None:
        """Args:
            thermostat: the fleet's thermostat (its ``T_set``, ``dhw_T_on``, ``dhw_T_off``,
                ``dhw_T_min`` and ``n`` are used).
            responses: one :class:`PriceResponse` per price event.
            T_low_C, T_high_C: comfort band, °C; set points stay ``margin_K`` inside it.
        """
        self.thermo = thermostat
        n = int(thermostat.n)
        for r in responses:
            if np.shape(r.start_s) != (n,):
                raise ValueError(f"PriceEventResponse: a response has shape "
                                 f"{np.shape(r.start_s)}; allowed: ({n},), one per unit")
        if not T_low_C < T_high_C:
            raise ValueError(f"PriceEventResponse: T_low_C={T_low_C} must be below "
                             f"T_high_C={T_high_C}")
        self.n = n
        self.responses = list(responses)
        # the thermostat's set point: one for the fleet or one per house (°C)
        self.T_set0 = np.broadcast_to(np.asarray(thermostat.T_set, dtype=float), (n,)).copy()
        self.lo = np.minimum(float(T_low_C) + margin_K, self.T_set0)
        self.hi = np.maximum(float(T_high_C) - margin_K, self.T_set0)
        self.dhw_on0 = float(thermostat.dhw_T_on)
        self.dhw_boost = float(thermostat.dhw_T_off) - 1.0
        self.dhw_min = float(thermostat.dhw_T_min)

    def offsets(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(set-point offset K, in-window mask, pre-heat mask) per unit at ``t_s``."""
        t = float(t_s)
        setback = np.zeros(self.n)
        boost = np.zeros(self.n)
        inside = np.zeros(self.n, dtype=bool)
        pre = np.zeros(self.n, dtype=bool)
        with np.errstate(invalid="ignore"):
            for r in self.responses:
                act = (r.start_s <= t) & (t < r.end_s)
                setback = np.where(act, np.maximum(setback, r.setback_K), setback)
                inside |= act
                if r.preheat_s > 0:
                    p = (r.start_s - r.preheat_s <= t) & (t < r.start_s)
                    boost = np.where(p, np.maximum(boost, r.preheat_K), boost)
                    pre |= p
        pre &= ~inside
        return np.where(inside, -setback, boost), inside, pre

    def step(self, dt_s: float, T_room_C: Any, T_out_C: Any, T_layers_C: Any,
             price_forecast: Any = None, t_s: float = 0.0) -> dict[str, np.ndarray]:
        """Move the set points for ``t_s`` and run the thermostat (outputs as the thermostat)."""
        off, inside, pre = self.offsets(t_s)
        th = self.thermo
        th.T_set = np.clip(self.T_set0 + off, self.lo, self.hi)
        th.dhw_T_on = np.where(inside, self.dhw_min, np.where(pre, self.dhw_boost, self.dhw_on0))
        return th.step(dt_s, T_room_C, T_out_C, T_layers_C, None, t_s)

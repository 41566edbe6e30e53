"""Price-event response of a fleet's thermostats (simulators/controllers/price_event.py)."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.controllers.loops import RoomPI
from simulators.controllers.price_event import PriceEventResponse, PriceResponse
from simulators.controllers.thermostat import Thermostat


def _thermostat(n: int) -> Thermostat:
    room = RoomPI(n, np.full(n, 0.15), np.zeros(n), np.full(n, 6.0), 3.0, 1800.0)
    return Thermostat(n, room, T_set_C=21.5, dhw_T_on_C=45.0, dhw_T_off_C=50.0,
                      dhw_T_min_C=40.0, upper_layer=0, lower_layer=1)


def test_setback_preheat_and_release_per_unit() -> None:
    n = 3
    # unit 0: window 3600–7200 s; unit 1: released 600 s later (mitigation); unit 2: not targeted
    start = np.array([3600.0, 3600.0, np.nan])
    end = np.array([7200.0, 7800.0, np.nan])
    ctl = PriceEventResponse(_thermostat(n), [PriceResponse(start, end, 1.5, 1800.0, 1.0)],
                             T_low_C=20.0, T_high_C=23.0)
    layers = np.full((n, 2), 48.0)
    room = np.full(n, 21.5)

    def set_points(t: float) -> tuple[np.ndarray, np.ndarray]:
        out = ctl.step(60.0, room, 0.0, layers, t_s=t)
        return out["T_set_C"], np.asarray(ctl.thermo.dhw_T_on, dtype=float)

    T, dhw = set_points(0.0)           # before the pre-heat: unchanged
    np.testing.assert_allclose(T, 21.5)
    T, dhw = set_points(2000.0)        # pre-heat: +1 K (22.5 ≤ 23 − 0.3), hot-water boost
    np.testing.assert_allclose(T, [22.5, 22.5, 21.5])
    np.testing.assert_allclose(dhw, [49.0, 49.0, 45.0])
    T, dhw = set_points(4000.0)        # window: −1.5 K clipped at 20 + 0.3, DHW only below min
    np.testing.assert_allclose(T, [20.3, 20.3, 21.5])
    np.testing.assert_allclose(dhw, [40.0, 40.0, 45.0])
    T, _ = set_points(7500.0)          # unit 0 released, unit 1 still held by its offset
    np.testing.assert_allclose(T, [21.5, 20.3, 21.5])
    T, _ = set_points(7800.0)
    np.testing.assert_allclose(T, 21.5)


def test_bad_response_shapes_and_values() -> None:
    with pytest.raises(ValueError, match="setback_K"):
        PriceResponse(np.zeros(2), np.ones(2), setback_K=-1.0)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        PriceEventResponse(_thermostat(3), [PriceResponse(np.zeros(2), np.ones(2))],
                           T_low_C=20.0, T_high_C=23.0)

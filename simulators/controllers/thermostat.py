"""The non-flexible reference controller: holds a fixed room temperature (iPower: 21.5 °C) and
keeps the hot-water tank charged with priority, whatever the price."""

from __future__ import annotations

import numpy as np

from simulators.controllers.loops import DhwHysteresis, RoomPI


class Thermostat:
    """Fixed set point + DHW hysteresis.  Inputs (°C): ``T_room_C``, ``T_out_C``,
    ``T_layers_C`` (tank, (N, L), 0 = top).  Outputs: ``Q_req_kW``, ``dhw_mode`` (0/1),
    ``sg_ready_state`` (always 2, normal), ``T_set_C``.

    The room request is limited to the compressor's capacity ``Q_dhw_kW`` unless the room is
    more than ``backup_below_K`` under its set point or at the bottom of the comfort band: the
    electric backup heater is for real shortfalls (cold spells, recovery), not for catching up
    after a hot-water charge.  Room protection: hot-water charging pauses while the room is within
    ``guard_K`` of the comfort band's lower edge ``T_low_C``, unless the upper tank sensor is
    below ``dhw_T_min_C`` (then hot water wins again)."""

    def __init__(
        self,
        n: int,
        room: RoomPI,
        T_set_C: float | np.ndarray = 21.5,
        Q_dhw_kW: np.ndarray | float = 5.0,
        upper_layer: int = 2,
        lower_layer: int = 6,
        dhw_T_on_C: float = 45.0,
        dhw_T_off_C: float = 50.0,
        backup_below_K: float = 1.0,
        T_low_C: float = 20.0,
        guard_K: float = 0.2,
        dhw_T_min_C: float = 40.0,
    ):
        self.n = n
        self.room = room
        # one set point for the fleet (float) or one per house ((n,) array, e.g. a sampled fleet)
        self.T_set: float | np.ndarray = (float(T_set_C) if np.ndim(T_set_C) == 0 else
                                          np.broadcast_to(np.asarray(T_set_C, float),
                                                          (n,)).copy())
        self.Q_dhw = np.broadcast_to(np.asarray(Q_dhw_kW, dtype=float), (n,)).copy()
        self.upper, self.lower = int(upper_layer), int(lower_layer)
        self.dhw = DhwHysteresis(n)
        self.dhw_T_on, self.dhw_T_off = float(dhw_T_on_C), float(dhw_T_off_C)
        self.backup_below_K = float(backup_below_K)
        self.T_low, self.guard_K = float(T_low_C), float(guard_K)
        self.dhw_T_min = float(dhw_T_min_C)

    def set_points(self, t_s: float, price_forecast: np.ndarray | None) -> tuple[float, float]:
        """Room set point (°C) and DHW start threshold (°C) for this step."""
        return self.T_set, self.dhw_T_on

    def step(
        self,
        dt_s: float,
        T_room_C: np.ndarray,
        T_out_C: np.ndarray | float,
        T_layers_C: np.ndarray,
        price_forecast: np.ndarray | None = None,
        t_s: float = 0.0,
    ) -> dict[str, np.ndarray]:
        """Decide the heat pump's request for the next step."""
        T_set, dhw_on = self.set_points(t_s, price_forecast)
        layers = np.asarray(T_layers_C, dtype=float).reshape(self.n, -1)
        T_room = np.asarray(T_room_C, dtype=float)
        upper = layers[:, self.upper]
        dhw = self.dhw.update(upper, layers[:, self.lower], dhw_on, self.dhw_T_off)
        cold_room = T_room < self.T_low + self.guard_K
        dhw = dhw & ~(cold_room & (upper >= self.dhw_T_min))
        T_set_arr = np.full(self.n, T_set)
        short = (T_room < T_set_arr - self.backup_below_K) | (T_room < self.T_low)
        q_max = np.where(short, self.room.Q_max, self.Q_dhw)
        q_room = self.room.update(dt_s, T_set_arr, T_room, T_out_C, dhw, q_max)
        return {
            "Q_req_kW": np.where(dhw, self.Q_dhw, q_room),
            "dhw_mode": dhw.astype(float),
            "sg_ready_state": np.full(self.n, 2.0),
            "T_set_C": T_set_arr,
        }

    needs_time = True

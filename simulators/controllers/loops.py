"""Control loops the reference controllers share: a room PI loop with feed-forward and a
hot-water hysteresis with priority.  Pure numpy, vectorised over N houses."""

from __future__ import annotations

import numpy as np


class RoomPI:
    """PI control of room temperature with heat-loss feed-forward and anti-windup.

    ``Q_req = clip(Q_ff + Kp·(e + ∫e dt / Ti), 0, Q_max)`` with ``e = T_set − T_room`` (K) and
    ``Q_ff = H·(T_set − T_out) − gains`` (kW), i.e. the steady-state heat the house needs.  The
    integrator freezes while the output saturates or while the heat pump serves hot water.
    """

    def __init__(
        self,
        n: int,
        H_kW_per_K: np.ndarray | float,
        Q_gains_kW: np.ndarray | float,
        Q_max_kW: np.ndarray | float,
        Kp_kW_per_K: float = 3.0,
        Ti_s: float = 1800.0,
    ):
        self.n = n
        self.H = np.broadcast_to(np.asarray(H_kW_per_K, dtype=float), (n,)).copy()
        self.gains = np.broadcast_to(np.asarray(Q_gains_kW, dtype=float), (n,)).copy()
        self.Q_max = np.broadcast_to(np.asarray(Q_max_kW, dtype=float), (n,)).copy()
        self.Kp = float(Kp_kW_per_K)
        self.Ti = float(Ti_s)
        self.integral_Ks = np.zeros(n)

    def update(
        self,
        dt_s: float,
        T_set_C: np.ndarray,
        T_room_C: np.ndarray,
        T_out_C: np.ndarray | float,
        frozen: np.ndarray | None = None,
        Q_max_kW: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return the space-heating request in kW for the next step (``Q_max_kW`` overrides the
        upper limit for this step, e.g. to keep the backup heater out)."""
        q_max = self.Q_max if Q_max_kW is None else Q_max_kW
        e = T_set_C - T_room_C
        q_ff = self.H * (T_set_C - T_out_C) - self.gains
        trial = self.integral_Ks + e * dt_s
        q = q_ff + self.Kp * (e + trial / self.Ti)
        saturated = ((q > q_max) & (e > 0)) | ((q < 0) & (e < 0))
        keep = saturated if frozen is None else (saturated | frozen)
        self.integral_Ks = np.where(keep, self.integral_Ks, trial)
        q = q_ff + self.Kp * (e + self.integral_Ks / self.Ti)
        return np.clip(q, 0.0, q_max)


class DhwHysteresis:
    """Hot-water charging with priority: start when the upper tank sensor falls below ``T_on``,
    stop when the lower sensor rises above ``T_off`` (both °C, per house, may change per step)."""

    def __init__(self, n: int):
        self.active = np.zeros(n, dtype=bool)

    def update(
        self,
        T_upper_C: np.ndarray,
        T_lower_C: np.ndarray,
        T_on_C: np.ndarray | float,
        T_off_C: np.ndarray | float,
        T_stop_upper_C: np.ndarray | float | None = None,
    ) -> np.ndarray:
        """Return the new DHW mode (bool array).  ``T_stop_upper_C`` optionally ends charging
        early once the upper sensor reaches it (used to charge only a minimum)."""
        start = T_upper_C < T_on_C
        stop = T_lower_C >= T_off_C
        if T_stop_upper_C is not None:
            stop = stop | (T_upper_C >= T_stop_upper_C)
        self.active = np.where(self.active, ~stop, start & ~stop)
        return self.active.copy()

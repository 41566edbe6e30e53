"""A virtual SG-Ready heat pump: a simulated house + heat pump + DHW tank behind a Modbus server.

EMS vendors test against it without hardware, and our own tests use it as a realistic device under
test. It runs in real time (or ``speed`` times faster for tests), serves the
``sg_ready_heat_pump`` profile and behaves per SG-Ready state as the reference describes
(reference §3.1):

1. *Blocking* — compressor and backup off, within the utility-lock limits the device enforces
   itself: a block lasts at most ``max_block_s`` (2 h), at most ``max_blocks_per_day`` (3) blocks a
   day and ``max_block_s_per_day`` (6 h) in total, and a new block is accepted only after a release
   at least as long as the previous block. A block command outside these limits is ignored
   (normal operation) and counted in ``blocks_refused``.
2. *Normal* — the room thermostat and the DHW hysteresis of the reference controller.
3. *Increased operation* — room set point + ``boost_room_K``, DHW thresholds + ``boost_dhw_K``.
4. *Start command* — variant ``a``: compressor on at full capacity (min off time respected);
   variant ``b``: as ``a`` plus the electric backup heater, with the DHW thresholds raised.

§14a: a non-zero ``P_limit_kW`` caps the draw at max(limit, 4.2 kW guaranteed minimum).
The SG-Ready state comes from the two contacts or the enumerated register — whichever was
written last wins. When the controller's heartbeat stops for longer than the profile's timeout,
the device falls back to its fail-safe values (state 2, no limit) by itself.

``faults`` makes the device deliberately wrong, for checking that ``heatflex certify`` fails it:
``ignore_blocking`` (keeps heating in state 1), ``ignore_limit`` (ignores §14a),
``no_block_limits`` (blocks as long as told).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.modbus import ModbusServerEndpoint
from hil.pacer import Pacer
from hil.profile import Profile, sg_ready_state_from_contacts
from hil.watchdog import HeartbeatWatchdog

log = logging.getLogger("heatflex.virtual_hp")

DEVICE_FAULTS = ("ignore_blocking", "ignore_limit", "no_block_limits")
FORCED_B_Q_REQ_KW = 1e3
"""Heat requested in SG-Ready state 4 variant b: far above any residential unit, so the heat
pump runs its compressor at capacity and its backup heater at its maximum."""


@dataclass
class SgReadyOptions:
    """Behaviour parameters of the virtual device (times in device seconds).

    The utility-lock limits are reference §3.1 ("at most 2 h", "up to 3 blocks a day of ≤ 2 h,
    ≤ 6 h/day, each followed by a release at least as long"); the boosts are typical vendor
    defaults (+1 K room, +5 K DHW) — configurable, the label does not fix them.
    """

    variant: str = "a"
    boost_room_K: float = 1.0
    boost_dhw_K: float = 5.0
    max_block_s: float = 7200.0
    max_blocks_per_day: int = 3
    max_block_s_per_day: float = 6 * 3600.0
    P_guaranteed_kW: float = 4.2
    T_out_C: float = 0.0
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.variant not in ("a", "b"):
            raise ValueError(f"variant={self.variant!r} is not allowed; use 'a' or 'b'")
        unknown = set(self.faults) - set(DEVICE_FAULTS)
        if unknown:
            raise ValueError(f"faults {sorted(unknown)} not known; allowed: {list(DEVICE_FAULTS)}")


@dataclass
class BlockLimiter:
    """Utility-lock rules for SG-Ready state 1, evaluated on the device clock (s)."""

    opts: SgReadyOptions
    blocking: bool = False
    block_start_s: float = -math.inf
    last_block_len_s: float = 0.0
    release_start_s: float = -math.inf
    history: deque[tuple[float, float]] = field(default_factory=deque)  # (start, end) of blocks
    refused: int = 0
    _refusing: bool = False

    def allowed(self, t_s: float, want_block: bool) -> bool:
        """Whether the device is blocking at device time ``t_s`` given the command."""
        o = self.opts
        if "no_block_limits" in o.faults:
            return want_block
        while self.history and self.history[0][1] < t_s - 86400.0:
            self.history.popleft()
        if self.blocking:
            if not want_block or t_s - self.block_start_s >= o.max_block_s:
                self._end(t_s)
            return self.blocking
        if not want_block:
            self._refusing = False
            return False
        day_blocks = len(self.history)
        day_total = sum(e - s for s, e in self.history)
        ok = (day_blocks < o.max_blocks_per_day and day_total < o.max_block_s_per_day
              and t_s - self.release_start_s >= self.last_block_len_s)
        if ok and not self._refusing:
            self.blocking, self.block_start_s = True, t_s
        elif not self._refusing:
            self.refused += 1
            self._refusing = True  # one refusal per command, until it is withdrawn
        return self.blocking

    def _end(self, t_s: float) -> None:
        self.blocking = False
        self.last_block_len_s = t_s - self.block_start_s
        self.release_start_s = t_s
        self.history.append((self.block_start_s, t_s))
        self._refusing = True  # a block cut at the limit is not restarted by the same command


class VirtualSgReadyHeatPump:
    """House + heat pump + DHW tank served over Modbus with SG-Ready and §14a behaviour.

    Args:
        profile: the ``sg_ready_heat_pump`` register map.
        building, heatpump, tank, controller: model cores for ONE house (N = 1), as built by
            ``scenarios.world.build_site`` from a scenario (the CLI does this).
        endpoint: the Modbus server (not started; :meth:`run` starts it).
        dt_s: device step, s of device time.
        speed: device seconds per wall second (1 = real time).
        options: behaviour, limits and deliberate faults.
        heartbeat_timeout_s: wall seconds of controller silence before the device falls back to
            fail-safe (default: the profile's ``heartbeat.timeout_s``).
    """

    def __init__(self, profile: Profile, building: Any, heatpump: Any, tank: Any,
                 controller: Any, endpoint: ModbusServerEndpoint, dt_s: float = 1.0,
                 speed: float = 1.0, options: SgReadyOptions | None = None,
                 T_cold_C: float = 10.0, heartbeat_timeout_s: float | None = None) -> None:
        self.profile = profile
        self.building, self.heatpump, self.tank, self.controller = (building, heatpump, tank,
                                                                    controller)
        self.endpoint = endpoint
        self.dt_s = float(dt_s)
        self.speed = float(speed)
        self.opts = options or SgReadyOptions()
        self.T_cold_C = T_cold_C
        self.t_s = 0.0
        self.limiter = BlockLimiter(self.opts)
        self._T_set0 = float(controller.T_set)
        self._dhw_on0, self._dhw_off0 = float(controller.dhw_T_on), float(controller.dhw_T_off)
        self._T_dhw_max_C = float(np.asarray(heatpump.params.T_dhw_supply_C).ravel()[0]) - 2.0
        # commands (engineering values), initialised to the fail-safe values
        self.cmd: dict[str, float] = {}
        self._apply_fail_safe()
        self._sg_source_state = 2
        self._sg_time = {"register": -1.0, "contacts": -1.0}
        self.state_in_force = 2
        hb = profile.heartbeat
        self.watchdog = (HeartbeatWatchdog(lambda: endpoint.write_age_s(hb.point),
                                           heartbeat_timeout_s or hb.timeout_s,
                                           self._on_heartbeat_lost) if hb else None)
        self._beat = 0
        self._stop = threading.Event()
        self.T_room = float(building._x[0, 0])  # start state of the (N = 1) building
        self.T_layers = np.asarray(tank.T_layers_C, dtype=float).reshape(1, -1).copy()
        self.last: dict[str, float] = {}
        self.E_el_kWh = 0.0

    # -- commands -----------------------------------------------------------------------------
    def _attr_point(self, attr: str) -> str | None:
        for p in self.profile.points:
            if p.attr == attr:
                return p.name
        return None

    def _apply_fail_safe(self) -> None:
        for name, value in self.profile.fail_safe.items():
            self.cmd[name] = float(value)
        if hasattr(self, "endpoint") and self.endpoint._blocks:
            self.endpoint.publish(dict(self.profile.fail_safe), _force=True)
        self._sg_time = {"register": time.monotonic(), "contacts": -1.0}

    def _on_heartbeat_lost(self) -> None:
        log.warning("virtual heat pump: controller heartbeat lost → fail-safe")
        self._apply_fail_safe()

    def _read_commands(self) -> None:
        writes = self.endpoint.take_writes()
        now = time.monotonic()
        names = {p.name: p.attr for p in self.profile.points}
        for name, value in writes.items():
            self.cmd[name] = value
            attr = names.get(name)
            if attr == "sg_ready_state":
                self._sg_time["register"] = now
            elif attr in ("sg_contact_1", "sg_contact_2"):
                self._sg_time["contacts"] = now

    def _value(self, attr: str, default: float) -> float:
        name = self._attr_point(attr)
        return self.cmd.get(name, default) if name else default

    def commanded_state(self) -> int:
        """The SG-Ready state commanded (contacts or register, the later written)."""
        if self._sg_time["contacts"] > self._sg_time["register"]:
            return sg_ready_state_from_contacts(int(self._value("sg_contact_1", 0)),
                                                int(self._value("sg_contact_2", 0)))
        return int(self._value("sg_ready_state", 2))

    # -- one device step ----------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """Advance the house one step with the commands in force; publish the read-backs."""
        self._read_commands()
        if self.watchdog is not None:
            self.watchdog.check()
        o, dt = self.opts, self.dt_s
        want = self.commanded_state()
        blocked = self.limiter.allowed(self.t_s, want == 1)
        state = 1 if blocked else (2 if want == 1 else want)
        self.state_in_force = state
        ctl = self.controller
        room_set = self._value("T_set_C", self._T_set0)
        dhw_set = self._value("T_dhw_set_C", self._dhw_off0)
        boost = state == 3 or (state == 4 and o.variant == "b")
        ctl.T_set = room_set + (o.boost_room_K if state == 3 else 0.0)
        # the tank cannot be charged above the heat pump's DHW supply temperature: keep the stop
        # threshold 2 K below it, or a boosted charge never ends (and starves the room)
        t_off = min(dhw_set + (o.boost_dhw_K if boost else 0.0), self._T_dhw_max_C)
        ctl.dhw_T_off = t_off
        ctl.dhw_T_on = t_off - (self._dhw_off0 - self._dhw_on0)
        c = ctl.step(dt, np.array([self.T_room]), o.T_out_C, self.T_layers, t_s=self.t_s)
        hp_state = 2 if (state == 1 and "ignore_blocking" in o.faults) else state
        limit = self._value("P_limit_kW", 0.0)
        q_req = c["Q_req_kW"]
        if state == 4 and o.variant == "b":  # compressor at full capacity plus the backup heater
            q_req = np.full_like(q_req, FORCED_B_Q_REQ_KW)
        hp_in: dict[str, Any] = {"Q_req_kW": q_req, "T_out_C": o.T_out_C,
                                 "T_out_24h_C": o.T_out_C, "T_out_168h_C": o.T_out_C,
                                 "dhw_mode": bool(c["dhw_mode"][0]),
                                 "sg_ready_state": 3 if hp_state == 3 else hp_state}
        if limit > 0 and "ignore_limit" not in o.faults:
            hp_in["P_limit_kW"] = max(limit, o.P_guaranteed_kW)
        hp = self.heatpump.step(dt, **hp_in)
        heater = 0.0
        if state == 4 and o.variant == "b":
            heater = float(getattr(self.tank, "params", None).heater_kW) if hasattr(
                self.tank, "params") else 0.0
        b = self.building.step(dt, hp["Q_sh_kW"], o.T_out_C)
        t = self.tank.step(dt, Q_charge_kW=hp["Q_dhw_kW"], T_charge_C=hp["T_supply_C"],
                           Q_draw_kW=0.0, T_cold_C=self.T_cold_C, P_heater_kW=heater)
        self.T_room = float(b["T_room_C"][0])
        self.T_layers = np.asarray(t["T_layers_C"], dtype=float).reshape(1, -1)
        self.t_s += dt
        self._beat = (self._beat + 1) % 65536
        p_el = float(hp["P_el_kW"][0]) + heater
        self.E_el_kWh += p_el * dt / 3600.0
        mode = (5 if state == 1 else 0 if not hp["on"][0] and heater == 0.0
                else 3 if c["dhw_mode"][0] else 2)
        out = {
            "P_el_kW": p_el,
            "Q_th_kW": float(hp["Q_th_kW"][0]) + heater,
            "T_room_C": self.T_room,
            "T_supply_C": float(hp["T_supply_C"][0]),
            "T_dhw_C": float(self.T_layers[0, 0]),
            "on": float(hp["on"][0]),
            "dhw_mode": float(c["dhw_mode"][0]),
            "sg_ready_state_active": float(state),
            "backup_on": float(hp["P_backup_kW"][0] > 0.0 or heater > 0.0),
            "operating_mode": float(mode),
            "P_limit_active_kW": float(hp_in.get("P_limit_kW", 0.0)),
            "E_el_kWh": self.E_el_kWh,
            "starts": float(hp["starts"][0]),
            "T_out_C": o.T_out_C,
            "device_time_s": self.t_s,
        }
        self.endpoint.publish_attrs(out)
        self.endpoint.publish({"device_heartbeat": float(self._beat)})
        self.last = out
        return out

    # -- real-time loop -----------------------------------------------------------------------
    def run(self, until_s: float | None = None) -> None:
        """Serve and step in (scaled) real time until ``until_s`` device seconds or :meth:`stop`."""
        if not self.endpoint._blocks:
            self.endpoint.start()
        pacer = Pacer(speed=self.speed)
        k = 0
        try:
            while not self._stop.is_set() and (until_s is None or self.t_s < until_s):
                pacer.step(self.dt_s, k * self.dt_s)
                self.step()
                k += 1
        finally:
            self.endpoint.stop()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current step."""
        self._stop.set()

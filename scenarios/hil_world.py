"""The ``[hil]`` part of world assembly: pacer, Modbus server/devices, faults, fail-safe guard.

Topology added to a scenario's world (every entity is a core in the generic mosaik adapter):

- ``Pacer`` (:class:`hil.pacer.Pacer`) steps first and sleeps to each step's wall-clock
  deadline; every HIL entity takes its ``wall_time_s`` so mosaik steps them *after* it.
- ``Faults`` switches scheduled faults on and off (before the Modbus entities act).
- ``Serve`` (:class:`adapters.modbus.ServerCore`) serves the simulated heat pump by a profile: it
  publishes last step's building / heat-pump / tank values (time-shifted — a read-back is always
  one step old, as on real hardware) and hands the external controller's writes to the heat pump
  (``sg_ready_state``, ``P_limit_kW``, ...) in place of the scenario controller's.
- one ``Device`` (:class:`adapters.modbus.ClientCore`) per ``[[hil.devices]]``: the scenario
  controller's outputs are written to the device, its read-backs recorded (``source = hw``).

:class:`HilParts` owns the live resources: closing it drives every device to its fail-safe values
and stops the server, whatever ended the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.modbus import (
    ClientCore,
    ModbusDeviceClient,
    ModbusServerEndpoint,
    SerialLine,
    ServerCore,
)
from adapters.records import SourceInfo
from hil.pacer import Pacer
from hil.profile import Profile, load_profile
from hil.watchdog import FailSafeGuard
from scenarios.schema import HilConfig

PACER_OUT = ["wall_time_s", "lateness_ms"]
SERVE_SOURCES = {  # profile attribute -> (site entity, its output attribute)
    "T_room_C": ("building", "T_room_C"),
    "P_el_kW": ("heatpump", "P_el_kW"),
    "Q_th_kW": ("heatpump", "Q_th_kW"),
    "T_supply_C": ("heatpump", "T_supply_C"),
    "on": ("heatpump", "on"),
    "starts": ("heatpump", "starts"),
    "T_dhw_C": ("tank", "T_top_C"),
    "T_out_C": ("weather", "T_out_C"),
}


def _scalar(v: Any) -> float:
    return float(np.asarray(v, dtype=float).ravel()[0])


class _ScalarInputs:
    """Feeds a core that wants floats from (N = 1) array outputs."""

    def __init__(self, core: Any):
        self.core = core

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        return self.core.step(dt_s, **{k: _scalar(v) for k, v in inputs.items()})


class FaultScheduler:
    """Applies ``[[hil.faults]]`` to the served endpoint or a device client at their times."""

    needs_time = True

    def __init__(self, hil: HilConfig, targets: dict[str, Any]):
        self.faults = list(hil.faults)
        self.targets = targets
        self.active: set[int] = set()
        self.events: list[tuple[float, str]] = []

    def step(self, dt_s: float, t_s: float, **_: Any) -> dict[str, float]:
        """Switch faults on/off for simulated time ``t_s``; output how many are active."""
        for i, f in enumerate(self.faults):
            on = f.at <= t_s < f.at + f.duration
            if on == (i in self.active):
                continue
            spec = f.model_dump(exclude={"target", "at", "duration"})
            self.targets[f.target].apply(spec if on else {})
            (self.active.add if on else self.active.discard)(i)
            self.events.append((time.time(), f"fault on {f.target} {'on' if on else 'off'} "
                                              f"at t = {t_s:g} s: {spec}"))
        return {"faults_active": float(len(self.active))}


@dataclass
class HilParts:
    """Live HIL resources of one run."""

    pacer: Pacer
    guard: FailSafeGuard
    endpoint: ModbusServerEndpoint | None = None
    clients: dict[str, ClientCore] = field(default_factory=dict)
    scheduler: FaultScheduler | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    commanded: set[str] = field(default_factory=set)

    def close(self) -> None:
        """Fail-safe every device, stop the server (idempotent)."""
        self.guard.close()
        if self.endpoint is not None:
            self.endpoint.stop()

    def stats(self) -> dict[str, Any]:
        """Lateness, Modbus figures and events for ``run.json``."""
        out: dict[str, Any] = {"pacing": self.pacer.stats.summary(),
                               "speed": self.pacer.speed}
        if self.endpoint is not None:
            ep = self.endpoint
            out["serve"] = {"profile": ep.profile.name, "url": ep.url, "host": ep.host,
                            "port": ep.port,
                            "requests": ep.requests, "rejected": len(ep.rejected),
                            "refused_connections": ep.refused_connections,
                            "rejections": [r.__dict__ for r in ep.rejected[-50:]]}
        out["devices"] = {n: {"url": c.client.url, **c.client.stats.summary(),
                              "fail_safe_applied": c.fail_safe_applied}
                          for n, c in self.clients.items()}
        events = list(self.events)
        if self.scheduler is not None:
            events += self.scheduler.events
        for c in self.clients.values():
            events += c.events
        out["events"] = [{"wall_time_s": t, "event": e} for t, e in sorted(events)]
        return out


def commanded_attrs(hil: HilConfig | None, hp_inputs: list[str]) -> set[str]:
    """Heat-pump inputs the external controller commands through the served profile."""
    if hil is None or hil.serve is None:
        return set()
    prof = load_profile(hil.serve.profile)
    return {p.attr for p in prof.points if p.attr and p.writable and p.attr in hp_inputs}


def add_hil(
    world: Any,
    hil: HilConfig,
    step: int,
    start: Callable[..., Any],
    ents: dict[str, Any],
    hp_inputs: list[str],
    site_outputs: dict[str, list[str]],
    sources: dict[str, SourceInfo],
) -> tuple[HilParts, dict[str, Any]]:
    """Add pacer, server, devices and fault scheduler; return the parts and the entities.

    Args:
        world: the mosaik World being assembled.
        hil: the scenario's ``[hil]`` section.
        step: the scenario step in mosaik time units.
        start: ``start(model, name, core, inputs, outputs, step_size, initial)`` of assemble.
        ents: site entities by name (weather, building, heatpump, tank, controller).
        hp_inputs: the heat pump's input attributes.
        site_outputs: output attributes by site entity name.
        sources: the recorder's entity map, extended here.
    """
    guard = FailSafeGuard(stall_timeout_s=hil.stall_timeout)
    pacer = Pacer(allowed_lateness_ms=hil.allowed_lateness_ms, abort=hil.abort_on_lateness,
                  speed=hil.speed, on_step=guard.feed)
    parts = HilParts(pacer, guard)
    made: dict[str, Any] = {}
    made["pacer"] = start("Pacer", "Pacer", pacer, [], PACER_OUT, step)
    sources[made["pacer"].full_id] = SourceInfo("hil", "pacer")
    targets: dict[str, Any] = {}

    if hil.serve is not None:
        s = hil.serve
        prof = load_profile(s.profile)
        line = SerialLine(s.rtu, baudrate=s.baud, parity=s.parity) if s.rtu else None
        ep = ModbusServerEndpoint(prof, host=s.host, port=s.port, allow=s.allow or None,
                                  serial=line)
        ep.start()
        parts.endpoint = ep
        targets["serve"] = ep.faults
        core = _ScalarInputs(ServerCore(ep))
        ins = [a for a in SERVE_SOURCES if _readonly_attr(prof, a)
               and SERVE_SOURCES[a][1] in site_outputs.get(SERVE_SOURCES[a][0], [])]
        outs = [p.attr for p in prof.points if p.attr and p.writable]
        outs += ["n_rejected"] + (["heartbeat_age_s"] if prof.heartbeat else [])
        served = start("Serve", "Serve", core, [*ins, "wall_time_s", "faults_active"], outs, step)
        made["serve"] = served
        world.connect(made["pacer"], served, "wall_time_s")
        for attr in ins:
            ent_name, src_attr = SERVE_SOURCES[attr]
            world.connect(ents[ent_name], served, (src_attr, attr), time_shifted=True,
                          initial_data={src_attr: np.nan})
        parts.commanded = {a for a in outs if a in hp_inputs}
        if parts.commanded:
            world.connect(served, ents["heatpump"], *sorted(parts.commanded))
        sources[served.full_id] = SourceInfo("hil", "serve", "hw")

    # every device entity lives in ONE simulator stepped with one thread per device, so each
    # device's Modbus exchange starts at the step's deadline instead of after the previous one's
    dev_parts = []
    for dev in hil.devices:
        prof = load_profile(dev.profile)
        bad = [a for a in dev.commands if not _writable_attr(prof, a)]
        if bad:
            raise ValueError(f"hil.devices {dev.name!r}: profile {prof.name!r} has no writable "
                             f"point for {bad}")
        client = ModbusDeviceClient(prof, dev.url, timeout_s=dev.timeout, retries=dev.retries)
        core = ClientCore(client, policy=dev.on_not_answering, events=parts.events)
        parts.clients[dev.name] = core
        guard.add(core)
        targets[dev.name] = client.faults
        rb = [p.attr for p in prof.points if p.attr and p.readable]
        dev_parts.append((dev, core, rb))
    if dev_parts:
        ins = sorted({a for dev, _, _ in dev_parts for a in dev.commands}
                     | {"wall_time_s", "faults_active"})
        outs = sorted({a for _, _, rb in dev_parts for a in rb} | {"device_ok", "latency_ms"})
        dsim = world.start("Core", sim_id="Devices", model="Device", inputs=ins, outputs=outs,
                           step_size=step, parallel=True)
    for dev, core, _rb in dev_parts:
        ent = dsim.Device.create(1, core=_ScalarInputs(core), eid=f"device_{dev.name}")[0]
        made[f"device:{dev.name}"] = ent
        world.connect(made["pacer"], ent, "wall_time_s")
        ctl_out = [a for a in dev.commands if a in site_outputs.get("controller", [])]
        if ctl_out:
            world.connect(ents["controller"], ent, *ctl_out)
        sources[ent.full_id] = SourceInfo("heatpump", dev.name, "hw")

    if hil.faults:
        sched = FaultScheduler(hil, targets)
        parts.scheduler = sched
        ent = start("Faults", "Faults", sched, ["wall_time_s"], ["faults_active"], step)
        made["faults"] = ent
        world.connect(made["pacer"], ent, "wall_time_s")
        for key, other in made.items():
            if key == "serve" or key.startswith("device:"):
                world.connect(ent, other, "faults_active")
        sources[ent.full_id] = SourceInfo("hil", "faults")
    return parts, made


def recorder_attrs(parts: HilParts, made: dict[str, Any], world: Any) -> dict[str, list[str]]:
    """Attributes to record per HIL entity (by entity full id)."""
    out: dict[str, list[str]] = {made["pacer"].full_id: PACER_OUT}
    if "serve" in made:
        prof: Profile = parts.endpoint.profile  # type: ignore[union-attr]
        out[made["serve"].full_id] = ([p.attr for p in prof.points if p.attr and p.writable]
                                      + ["n_rejected"]
                                      + (["heartbeat_age_s"] if prof.heartbeat else []))
    for name, core in parts.clients.items():
        prof = core.client.profile
        out[made[f"device:{name}"].full_id] = ([p.attr for p in prof.points
                                                if p.attr and p.readable]
                                               + ["device_ok", "latency_ms"])
    if "faults" in made:
        out[made["faults"].full_id] = ["faults_active"]
    return out


def _readonly_attr(prof: Profile, attr: str) -> bool:
    return any(p.attr == attr and not p.writable for p in prof.points)


def _writable_attr(prof: Profile, attr: str) -> bool:
    return any(p.attr == attr and p.writable for p in prof.points)

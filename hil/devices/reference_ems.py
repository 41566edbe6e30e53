"""A reference energy-management system (EMS) that controls an SG-Ready heat pump over Modbus.

It is the software stand-in for the controller a lab engineer brings: it runs in its own process
as Modbus master of a device laid out by the ``sg_ready_heat_pump`` profile — the testbed's served
heat pump (``[hil.serve]``) or the virtual device (``heatflex serve``) — and closes the loop over
real sockets. Its rule is a comfort band on the room temperature read back from the device:

- room above ``T_high_C`` → SG-Ready 1 (block: the house is warm, shift consumption away),
- room below ``T_low_C`` → SG-Ready 3 (increased operation),
- otherwise → SG-Ready 2 (normal),

writing the state and the heartbeat every ``period_s`` wall seconds. Each decision is printed as
one JSON line (wall time, room temperature read back, state written), so a run shows what the EMS
saw — including injected faults such as a frozen read-back. On SIGTERM / Ctrl-C it writes the
profile's fail-safe values before exiting.
"""

from __future__ import annotations

import json
import sys
import time

from adapters.modbus import ModbusDeviceClient, ModbusDeviceError
from hil.profile import Profile


def decide(T_room_C: float, T_low_C: float, T_high_C: float) -> int:
    """SG-Ready state for a room temperature (°C) and a comfort band (°C)."""
    if T_room_C > T_high_C:
        return 1
    if T_room_C < T_low_C:
        return 3
    return 2


def run_ems(profile: Profile, url: str, T_low_C: float = 21.0, T_high_C: float = 22.0,
            period_s: float = 1.0, steps: int | None = None, out=sys.stdout) -> int:
    """Control the device until ``steps`` decisions were made (None = forever); return errors."""
    client = ModbusDeviceClient(profile, url, timeout_s=min(1.0, period_s))
    errors = 0
    k = 0
    t_next = time.monotonic()
    try:
        while steps is None or k < steps:
            try:
                values = client.read_all()
                t_room = values[profile.by_attr("T_room_C").name]
                state = decide(t_room, T_low_C, T_high_C)
                client.write_changed({profile.by_attr("sg_ready_state").name: state})
                client.heartbeat()
                rec = {"wall_time_s": time.time(), "T_room_C": t_room, "sg_ready_state": state}
            except ModbusDeviceError as exc:
                errors += 1
                rec = {"wall_time_s": time.time(), "error": str(exc)}
            print(json.dumps(rec), file=out, flush=True)
            k += 1
            t_next += period_s
            time.sleep(max(0.0, t_next - time.monotonic()))
    finally:
        client.fail_safe()
        client.close()
    return errors

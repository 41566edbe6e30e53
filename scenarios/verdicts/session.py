"""Drive a device through a sequence of command holds over Modbus and record what it does.

The certify programmes (SG-Ready, §14a) are lists of :class:`Hold` — "command these values for
this long" — played against a :class:`adapters.modbus.ModbusDeviceClient`. Time is the device's
own clock when its profile maps ``device_time_s`` (a virtual device may run faster than real
time), else the wall clock. Every poll writes the commands (on change), the heartbeat, and reads
every read-back; the result is one row per poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from adapters.modbus import ModbusDeviceClient


@dataclass
class Hold:
    """Command ``commands`` (testbed attribute → engineering value) for ``duration_s``."""

    name: str
    duration_s: float
    commands: dict[str, float] = field(default_factory=dict)


def _by_attr(client: ModbusDeviceClient) -> dict[str, str]:
    return {p.attr: p.name for p in client.profile.points if p.attr}


def play(
    client: ModbusDeviceClient,
    holds: Sequence[Hold],
    poll_s: float = 10.0,
    speed: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Play ``holds`` against the device; return one row per poll.

    Args:
        client: connected (or connectable) device client.
        holds: the sequence.
        poll_s: poll period in device seconds.
        speed: device seconds per wall second (1 for real hardware; a virtual device may run
            faster). Paces the polls; durations are measured on the device clock when the
            profile maps ``device_time_s``, else on the wall clock times ``speed``.
        progress: called with the hold name when a hold starts.

    Returns:
        DataFrame with ``t_s`` (device time since start), ``hold``, ``cmd_<attr>`` for every
        commanded attribute, and every read-back attribute.
    """
    attrs = _by_attr(client)
    has_clock = "device_time_s" in attrs
    speed = float(speed)
    rows: list[dict[str, float | str]] = []
    first = client.read_all()
    names_to_attr = {v: k for k, v in attrs.items()}

    def now_dev(values: dict[str, float]) -> float:
        if has_clock:
            return values[attrs["device_time_s"]]
        return time.monotonic() * speed

    t0 = now_dev(first)
    for hold in holds:
        if progress is not None:
            progress(hold.name)
        unknown = [a for a in hold.commands if a not in attrs]
        if unknown:
            raise ValueError(f"hold {hold.name!r}: profile {client.profile.name!r} maps no point "
                             f"to {unknown}")
        cmds = {attrs[a]: v for a, v in hold.commands.items()}
        start = None
        while True:
            client.write_changed(cmds)
            client.heartbeat()
            values = client.read_all()
            t = now_dev(values) - t0
            if start is None:
                start = t
            row: dict[str, float | str] = {"t_s": t, "hold": hold.name}
            row.update({f"cmd_{a}": v for a, v in hold.commands.items()})
            row.update({names_to_attr.get(n, n): v for n, v in values.items()})
            rows.append(row)
            if t - start >= hold.duration_s:
                break
            time.sleep(poll_s / speed)
    df = pd.DataFrame(rows)
    cmd_cols = [c for c in df.columns if c.startswith("cmd_")]
    df[cmd_cols] = df[cmd_cols].ffill()
    return df

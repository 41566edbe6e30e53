"""Heartbeats, stall detection and fail-safe states: hardware is never left in an unsafe state.

Three guards, one per way a run can leave a device behind:

- :class:`FailSafeGuard` (testbed side) holds every device the run commands. When the run ends,
  crashes, or is interrupted (Ctrl-C = SIGINT, SIGTERM) it drives each one to its profile's
  fail-safe values before the process exits, and records the event. A stall watchdog thread
  does the same when the co-simulation stops stepping for longer than ``stall_timeout_s``
  (a paused debugger, a hung simulator); when steps resume the commands are written again.
- :class:`HeartbeatWatchdog` (device side) watches the heartbeat register a controller must keep
  writing; when it is older than the profile's ``timeout_s`` — the controller was SIGKILLed, the
  cable pulled — the device falls back to its fail-safe values by itself. This is the only guard
  that survives SIGKILL of the testbed, so the virtual device uses it and real devices should too.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

log = logging.getLogger("heatflex.watchdog")


class FailSafeDevice(Protocol):
    """Anything that can drive a device to its fail-safe values (e.g. ``ClientCore``)."""

    def close(self) -> None: ...


class FailSafeGuard:
    """Drives registered devices to fail-safe on exit, interrupt, or a stalled co-simulation.

    Args:
        stall_timeout_s: apply fail-safe when no step was fed for this long (None = no thread).
        events: list receiving ``(wall_time_s, text)`` events.
    """

    def __init__(self, stall_timeout_s: float | None = None,
                 events: list[tuple[float, str]] | None = None) -> None:
        self.devices: list[Any] = []
        self.events = events if events is not None else []
        self.stall_timeout_s = stall_timeout_s
        self._last_feed = time.monotonic()
        self._stalled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, device: Any) -> None:
        """Register a device: ``close()`` on exit; ``device.client.fail_safe()`` on a stall."""
        self.devices.append(device)

    def feed(self, _wall_time_s: float | None = None) -> None:
        """Called every step (by the pacer): the co-simulation is alive."""
        self._last_feed = time.monotonic()
        if self._stalled:
            self._stalled = False
            self._event("co-simulation stepping again; commands resume")

    def _event(self, text: str) -> None:
        self.events.append((time.time(), text))
        log.warning("%s", text)

    def _watch(self) -> None:
        assert self.stall_timeout_s is not None
        period = min(0.1, self.stall_timeout_s / 4)
        while not self._stop.wait(period):
            idle = time.monotonic() - self._last_feed
            if idle > self.stall_timeout_s and not self._stalled:
                self._stalled = True
                self._event(f"co-simulation stalled for {idle:.2f} s "
                            f"(> {self.stall_timeout_s} s): devices to fail-safe")
                for dev in self.devices:
                    client = getattr(dev, "client", None)
                    if client is not None:
                        client.fail_safe()

    def start(self) -> None:
        """Start the stall watchdog thread (if a timeout was given)."""
        if self.stall_timeout_s is not None and self._thread is None:
            self._last_feed = time.monotonic()
            self._thread = threading.Thread(target=self._watch, name="stall-watchdog",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Fail-safe every device once (idempotent) and stop the watchdog thread."""
        self._stop.set()
        if self._closed:
            return
        self._closed = True
        for dev in self.devices:
            try:
                dev.close()
            except Exception as exc:  # keep going: every device must get its chance
                self._event(f"fail-safe of {dev!r} failed: {exc}")


class Interrupted(BaseException):
    """SIGTERM received; raised in the main thread so that ``finally`` blocks run."""


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` (SIGINT already raises
    KeyboardInterrupt), so cleanup — the fail-safe writes — runs before the process exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class HeartbeatWatchdog:
    """Device-side: falls back to fail-safe when the controller's heartbeat stops changing.

    Args:
        age_s: returns seconds since the heartbeat point was last written (inf = never).
        timeout_s: fallback threshold, s (the profile's ``heartbeat.timeout_s``).
        on_timeout: applies the fail-safe values.
        on_recover: optional, called when heartbeats return.
        armed_only_after_first: do not trip before the first heartbeat ever arrived (a device
            nobody controls yet runs in its normal state anyway).
    """

    def __init__(self, age_s: Callable[[], float], timeout_s: float,
                 on_timeout: Callable[[], None], on_recover: Callable[[], None] | None = None,
                 armed_only_after_first: bool = True) -> None:
        self.age_s = age_s
        self.timeout_s = float(timeout_s)
        self.on_timeout = on_timeout
        self.on_recover = on_recover
        self.armed_only_after_first = armed_only_after_first
        self.tripped = False
        self.trips = 0

    def check(self) -> bool:
        """Evaluate once (call every device step); True while in fail-safe."""
        age = self.age_s()
        if math.isinf(age) and self.armed_only_after_first:
            return False
        if age > self.timeout_s and not self.tripped:
            self.tripped = True
            self.trips += 1
            log.warning("controller heartbeat %.2f s old (> %.2f s): fail-safe", age,
                        self.timeout_s)
            self.on_timeout()
        elif age <= self.timeout_s and self.tripped:
            self.tripped = False
            if self.on_recover is not None:
                self.on_recover()
        return self.tripped

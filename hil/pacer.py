"""Real-time pacing for hardware-in-the-loop runs: absolute deadlines, lateness per step.

mosaik's own ``rt_factor`` lets a step fire up to one step early and jitters by tens of ms at
100 ms steps; the pacer owns real time instead. It is a core for the generic mosaik adapter
(``needs_time``): at simulated time ``t_s`` it sleeps until the absolute deadline
``t0 + t_s / speed`` on the monotonic clock (coarse sleep, then a short spin for the last
``spin_s``), records how late it woke, and outputs ``wall_time_s`` (Unix time) and
``lateness_ms``. Every HIL adapter takes ``wall_time_s`` as input, so mosaik steps it *after*
the pacer, at the deadline. Deadlines are absolute: a late step does not shift later ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class LatenessExceeded(RuntimeError):
    """A paced step woke later than the scenario allows and the scenario asked to abort."""


@dataclass
class PacerStats:
    """Lateness of every paced step, ms (≥ 0; early wake-ups count as 0)."""

    lateness_ms: list[float] = field(default_factory=list)
    allowed_ms: float = math.inf

    def summary(self) -> dict[str, float | int | bool]:
        """p50/p99/max lateness (ms), steps, deadline misses (> allowed) and validity."""
        lat = np.asarray(self.lateness_ms, dtype=float)
        if lat.size == 0:
            return {"steps": 0, "lateness_p50_ms": math.nan, "lateness_p99_ms": math.nan,
                    "lateness_max_ms": math.nan, "deadline_misses": 0, "valid": True}
        misses = int(np.count_nonzero(lat > self.allowed_ms))
        return {
            "steps": int(lat.size),
            "lateness_p50_ms": float(np.percentile(lat, 50)),
            "lateness_p99_ms": float(np.percentile(lat, 99)),
            "lateness_max_ms": float(lat.max()),
            "allowed_lateness_ms": self.allowed_ms if math.isfinite(self.allowed_ms) else None,
            "deadline_misses": misses,
            "valid": misses == 0,
        }  # type: ignore[dict-item]


class Pacer:
    """Sleeps each step to its absolute wall-clock deadline and records the lateness.

    Args:
        allowed_lateness_ms: a step later than this is a deadline miss (run marked invalid).
        abort: raise :class:`LatenessExceeded` on the first miss instead of only counting it.
        speed: simulated seconds per wall second (1 = real time).
        spin_s: the last part of each wait is spent spinning on the clock, s (sleep overshoots
            by ≈ 50–100 µs on Linux; spinning trades a little CPU for sub-0.1 ms precision).
        on_step: called with the wall time after each wake-up (e.g. the stall watchdog's feed).
        clock, sleep: the monotonic clock (s) and the sleep function (tests pass a simulated
            clock to check the deadlines without depending on the machine's timing).
    """

    needs_time = True

    def __init__(
        self,
        allowed_lateness_ms: float = math.inf,
        abort: bool = False,
        speed: float = 1.0,
        spin_s: float = 0.0005,
        on_step: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed={speed!r} must be > 0 (simulated seconds per wall second)")
        if not allowed_lateness_ms > 0:
            raise ValueError(f"allowed_lateness_ms={allowed_lateness_ms!r} must be > 0")
        self.speed = float(speed)
        self.abort = bool(abort)
        self.spin_s = float(spin_s)
        self.on_step = on_step
        self.clock = clock
        self.sleep = sleep
        self.stats = PacerStats(allowed_ms=float(allowed_lateness_ms))
        self._t0: float | None = None
        self._sim0: float = 0.0

    def wait_until(self, deadline: float) -> float:
        """Sleep (then spin) until ``deadline`` on the pacer's clock; return the lateness, s."""
        clock = self.clock
        remaining = deadline - clock()
        if remaining > self.spin_s:
            self.sleep(remaining - self.spin_s)
        while clock() < deadline:
            pass
        return clock() - deadline

    def step(self, dt_s: float, t_s: float) -> dict[str, float]:
        """Wait for the deadline of simulated time ``t_s``; return wall time and lateness."""
        if self._t0 is None:
            self._t0 = self.clock()
            self._sim0 = float(t_s)
        deadline = self._t0 + (float(t_s) - self._sim0) / self.speed
        late_s = max(0.0, self.wait_until(deadline))
        late_ms = late_s * 1e3
        self.stats.lateness_ms.append(late_ms)
        now = time.time()
        if self.on_step is not None:
            self.on_step(now)
        if late_ms > self.stats.allowed_ms and self.abort:
            raise LatenessExceeded(
                f"step at t = {t_s} s woke {late_ms:.1f} ms late; allowed "
                f"{self.stats.allowed_ms:.1f} ms (hil.abort_on_lateness = true)")
        return {"wall_time_s": now, "lateness_ms": late_ms}

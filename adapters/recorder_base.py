"""What every recording sink shares as a mosaik simulator: one entity with any inputs, a
RecordBuffer filled each step, a flush every ``flush_interval`` of simulated time, and crash
reporting to the runner.  Sinks implement ``create``, ``flush`` and ``close``.

Wall clock (HIL): started with ``wall_clock=True`` (a simulator parameter, so it reaches every
sink the same way: ``world.start("Recorder", step_size=..., wall_clock=True)``), the recorder
stamps each step with ``time.time()`` (Unix seconds, float) taken when it steps — after every
simulator it records has produced that step — and adds it as field ``wall_time_s`` to every
measurement it records at that step (each unit of a fleet gets the same value)."""

from __future__ import annotations

import time as _time
import traceback
from collections.abc import Callable
from typing import Any

import mosaik_api_v3

from adapters.records import RecordBuffer
from simulators.cosim.base import CRASHES, Crash

WALL_TIME_FIELD = "wall_time_s"
"""Field added to every measurement of a wall-clock (HIL) recording."""


class BufferedRecorder(mosaik_api_v3.Simulator):
    """Base mosaik recorder; ``params`` are the sink's ``create`` parameters."""

    def __init__(self, params: list[str]) -> None:
        super().__init__({"type": "time-based", "models": {"Recorder": {
            "public": True, "any_inputs": True, "params": params, "attrs": []}}})
        self.sid = ""
        self.step_size = 1
        self.time_resolution = 1.0
        self.buffer: RecordBuffer | None = None
        self.flush_every = 86400.0
        self._last_flush = 0.0
        self.wall_clock: Callable[[], float] | None = None

    def init(self, sid: str, time_resolution: float = 1.0, *, step_size: int,
             wall_clock: bool = False) -> dict[str, Any]:
        """Record every ``step_size`` time units; ``wall_clock=True`` adds the field
        ``wall_time_s`` (Unix seconds when the step was recorded) to every measurement."""
        self.sid = sid
        self.time_resolution = float(time_resolution)
        self.step_size = int(step_size)
        self.wall_clock = _time.time if wall_clock else None
        return self.meta

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        """Buffer this step's inputs; flush every flush interval."""
        assert self.buffer is not None, "create the recorder entity first"
        t_s = time * self.time_resolution
        try:
            wall = self.wall_clock() if self.wall_clock is not None else None
            for _eid, data in inputs.items():
                if wall is not None:  # an entity's own wall_time_s input (a pacer's) wins
                    stamp = dict.fromkeys((s for per in data.values() for s in per), wall)
                    data = {**data, WALL_TIME_FIELD: {**stamp, **data.get(WALL_TIME_FIELD, {})}}
                self.buffer.add(t_s, data)
            if t_s - self._last_flush >= self.flush_every:
                self.flush()
                self._last_flush = t_s
        except Exception:
            CRASHES.append(Crash(self.sid, time, traceback.format_exc()))
            raise
        return time + self.step_size

    def flush(self) -> None:
        """Hand what is buffered to the sink."""
        raise NotImplementedError

    def close(self) -> Any:
        """Flush and release the sink; safe to call more than once."""
        raise NotImplementedError

    def finalize(self) -> None:
        """mosaik calls this at the end of the run."""
        self.close()

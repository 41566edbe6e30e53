"""What every recording sink shares as a mosaik simulator: one entity with any inputs, a
RecordBuffer filled each step, a flush every ``flush_interval`` of simulated time, and crash
reporting to the runner.  Sinks implement ``create``, ``flush`` and ``close``."""

from __future__ import annotations

import traceback
from typing import Any

import mosaik_api_v3

from adapters.records import RecordBuffer
from simulators.cosim.base import CRASHES, Crash


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

    def init(self, sid: str, time_resolution: float = 1.0, *, step_size: int) -> dict[str, Any]:
        """Record every ``step_size`` time units."""
        self.sid = sid
        self.time_resolution = float(time_resolution)
        self.step_size = int(step_size)
        return self.meta

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        """Buffer this step's inputs; flush every flush interval."""
        assert self.buffer is not None, "create the recorder entity first"
        t_s = time * self.time_resolution
        try:
            for _eid, data in inputs.items():
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

"""A generic in-process mosaik adapter for any model core with ``step(dt_s, **inputs) -> dict``.

World assembly builds the core from the validated scenario and hands it to ``create(core=...)``;
the adapter only moves data: each step it collects the connected inputs, calls ``core.step`` once
per entity and keeps the returned dict for ``get_data``.  Cores that need the simulated time
declare ``needs_time = True`` and receive ``t_s`` (seconds since the scenario start).

Exceptions raised inside a core are recorded in :data:`CRASHES` (mosaik itself only logs them and
returns normally) so that the runner can fail the run with the simulator's traceback.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

import mosaik_api_v3


@dataclass
class Crash:
    """A simulator that raised during the run."""

    sid: str
    time: int
    traceback: str


CRASHES: list[Crash] = []
"""Crashes of in-process simulators in this process (cleared by the runner before each run)."""


def _merge(attr: str, values: dict[str, Any]) -> Any:
    """One value per input attribute: a single source passes through, several power flows add."""
    if len(values) == 1:
        return next(iter(values.values()))
    if attr.endswith(("_kW", "_W", "_MW")):
        return sum(values.values())
    raise ValueError(f"input {attr!r} has several sources {sorted(values)}; only powers may add")


class CoreSim(mosaik_api_v3.Simulator):
    """mosaik adapter for one kind of model core; every entity owns one (vectorised) core."""

    def __init__(self) -> None:
        super().__init__({"type": "time-based", "models": {}})
        self.sid = ""
        self.step_size = 1
        self.time_resolution = 1.0
        self.model = ""
        self.cores: dict[str, Any] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self._entities: list[tuple[str, Any, bool]] = []  # (eid, core, needs_time), hot loop
        self._pool: Any = None  # ThreadPoolExecutor when the entities step concurrently
        self._parallel = False

    def init(
        self,
        sid: str,
        time_resolution: float = 1.0,
        *,
        model: str,
        inputs: list[str],
        outputs: list[str],
        step_size: int,
        parallel: bool = False,
    ) -> dict[str, Any]:
        """Declare one model with the given input and output attributes; step every step_size.

        ``parallel``: step the entities concurrently, one thread each (for cores that wait on
        I/O, e.g. several Modbus devices: each starts its exchange at the step's start instead
        of after the previous device's)."""
        self.sid = sid
        self._parallel = bool(parallel)
        self.time_resolution = float(time_resolution)
        self.step_size = int(step_size)
        self.model = model
        self.meta["models"][model] = {
            "public": True,
            "params": ["core", "eid", "initial"],
            "attrs": sorted(set(inputs) | set(outputs)),
        }
        return self.meta

    def create(self, num: int, model: str, core: Any, eid: str, initial: dict | None = None):
        """Create one entity named ``eid`` wrapping ``core``; ``initial`` seeds get_data."""
        if num != 1:
            raise ValueError("create one entity per call (a fleet is one vectorised entity)")
        self.cores[eid] = core
        self.outputs[eid] = dict(initial or {})
        self._entities.append((eid, core, bool(getattr(core, "needs_time", False))))
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        """Advance every core by one step of ``step_size`` time units."""
        dt_s = self.step_size * self.time_resolution
        outputs = self.outputs
        if self._parallel and len(self._entities) > 1:
            return self._step_parallel(time, inputs, dt_s)
        try:
            for eid, core, needs_time in self._entities:
                ins = inputs.get(eid)
                # one source per attribute is the rule: pass it through without a call
                kwargs = {a: (next(iter(v.values())) if len(v) == 1 else _merge(a, v))
                          for a, v in ins.items()} if ins else {}
                if needs_time:
                    kwargs["t_s"] = time * self.time_resolution
                outputs[eid] = core.step(dt_s, **kwargs)
        except Exception:
            CRASHES.append(Crash(self.sid, time, traceback.format_exc()))
            raise
        return time + self.step_size

    def _step_parallel(self, time: int, inputs: dict[str, Any], dt_s: float) -> int:
        """Step every entity in its own worker thread; wait for all; record any crash."""
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self._entities),
                                            thread_name_prefix=f"{self.sid}-step")

        def one(eid: str, core: Any, needs_time: bool) -> Any:
            ins = inputs.get(eid)
            kwargs = {a: (next(iter(v.values())) if len(v) == 1 else _merge(a, v))
                      for a, v in ins.items()} if ins else {}
            if needs_time:
                kwargs["t_s"] = time * self.time_resolution
            return core.step(dt_s, **kwargs)

        futures = [(eid, self._pool.submit(one, eid, core, nt))
                   for eid, core, nt in self._entities]
        try:
            for eid, fut in futures:
                self.outputs[eid] = fut.result()
        except Exception:
            CRASHES.append(Crash(self.sid, time, traceback.format_exc()))
            raise
        return time + self.step_size

    def finalize(self) -> None:
        """Stop the worker threads of a parallel simulator."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        """Return the requested attributes of the last step."""
        res = {}
        for eid, attrs in outputs.items():
            out = self.outputs[eid]
            res[eid] = {a: out[a] for a in attrs}
        return res


class StartOfStep:
    """Wrap a core whose ``step`` returns END-of-step states so that the listed state attributes
    are reported at the START of the step (the time the sample is labelled with), while flows
    (means over the step) pass through unchanged.  The next step reports this step's end state."""

    def __init__(self, core: Any, state_attrs: tuple[str, ...], initial: dict[str, Any]):
        self.core = core
        self.state_attrs = state_attrs
        self._state = dict(initial)
        self.needs_time = getattr(core, "needs_time", False)

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        """Step the core; swap in the start-of-step states."""
        out = self.core.step(dt_s, **inputs)
        start = self._state
        self._state = {a: out[a] for a in self.state_attrs}
        return {**out, **start}

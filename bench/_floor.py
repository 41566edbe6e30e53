"""No-op stand-ins for the benchmark floor: the same mosaik topology, no model work."""

from __future__ import annotations

from typing import Any

import mosaik_api_v3


class Frozen:
    """A core that returns the same (precomputed) outputs every step."""

    def __init__(self, outputs: dict[str, Any], needs_time: bool = False):
        self.outputs = outputs
        self.needs_time = needs_time

    def step(self, dt_s: float, **inputs: Any) -> dict[str, Any]:
        return self.outputs

    # boundary-core interfaces used by world.assemble
    def at(self, t_s: float) -> dict[str, Any]:
        return self.outputs

    def forecast(self, t_s: float) -> Any:
        return self.outputs["price_forecast"]

    def mean_kW(self, t0: float, t1: float) -> Any:
        return self.outputs["Q_dhw_demand_kW"]

    def energy_kWh(self) -> Any:
        return self.outputs["E_stored_kWh"]


class NoOpRecorder(mosaik_api_v3.Simulator):
    """Accepts the recorder's inputs and drops them."""

    def __init__(self) -> None:
        super().__init__({"type": "time-based", "models": {"Recorder": {
            "public": True, "any_inputs": True,
            "params": ["out_dir", "run_id", "scenario", "start", "sources", "flush_interval_s"],
            "attrs": []}}})
        self.step_size = 1

    def init(self, sid: str, time_resolution: float = 1.0, *, step_size: int):
        self.step_size = step_size
        return self.meta

    def create(self, num: int, model: str, **kwargs: Any):
        return [{"eid": "recorder", "type": model}]

    def step(self, time: int, inputs: dict, max_advance: int) -> int:
        return time + self.step_size

    def get_data(self, outputs: dict) -> dict:
        return {}

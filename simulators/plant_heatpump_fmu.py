"""The plant heat-pump FMU: where its sources live, building it, and its parameters.

``simulators/fmus/plant_heatpump/`` holds ``modelDescription.xml`` and
``sources/plant_heatpump.c`` — an FMI 2.0 co-simulation FMU that is the numeric twin of
:class:`simulators.plant_heatpump.PlantHeatPump` for one unit (one ``fmi2DoStep(t, h)`` = one
``PlantHeatPump.step(h, ...)``; docs/models/plant-heatpump.md).

Unlike the residential FMU, its variables carry the native names and units (kW, degC, K, s, 1/s,
DKK — declared with their SI base units), so the generic FMU simulator
(:class:`simulators.fmu.FmuUnits`) maps them 1:1 without numeric conversion. Two parameters are
renamed because the native names are also an input / an output: ``T_source_C`` →
``T_source_nom_C`` and ``start_cost_DKK`` → ``start_cost_per_start_DKK``
(:data:`PARAM_TO_FMU`). This module does not import fmpy (building needs fmpy's FMI headers only).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from simulators.fmu_build import FMU_COMMON, build_fmu
from simulators.plant_heatpump import OUTPUTS, PlantHeatPumpParams

PLANT_HEATPUMP_FMU_SOURCE: Path = (
    Path(__file__).resolve().parent / "fmus" / "plant_heatpump"
)
"""Source FMU folder (modelDescription.xml + sources/)."""

PARAM_TO_FMU: dict[str, str] = {
    f.name: f.name for f in fields(PlantHeatPumpParams)
} | {"T_source_C": "T_source_nom_C", "start_cost_DKK": "start_cost_per_start_DKK"}
"""Native parameter field → FMU parameter name."""

INPUTS: tuple[str, ...] = ("load_set_frac", "T_supply_C", "T_return_C", "T_source_C",
                           "dP_el_set_kW")
"""Native step inputs = FMU input names (``T_source_C`` must be given to the FMU)."""

NATIVE_TO_FMU: dict[str, str] = {name: name for name in (*INPUTS, *OUTPUTS)}
"""Native attribute → FMU variable (identical names and units)."""


def plant_heatpump_fmu_path(force_build: bool = False, out_dir: str | Path | None = None) -> Path:
    """Path of the built plant heat-pump FMU; builds it into the cache on first use.

    The cache is ``$HEATFLEX_CACHE/fmus`` (default ``~/.cache/heatflex/fmus``) unless ``out_dir``
    is given; the file name carries a hash of the sources, FMI headers and compiler flags, so an
    edited source is rebuilt. ``force_build`` rebuilds even if the file exists. Raises
    ``simulators.fmu_build.FmuBuildError`` (with the compiler output) if the build fails.
    """
    return build_fmu(PLANT_HEATPUMP_FMU_SOURCE, out_dir=out_dir, force=force_build,
                     shared=FMU_COMMON)


def _scalar(params: PlantHeatPumpParams, name: str) -> float:
    """A parameter's single value; ValueError if it varies per unit (an FMU is one unit)."""
    arr = np.asarray(getattr(params, name), dtype=float)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} has shape {arr.shape}; the FMU models one unit, give a scalar")
    flat = arr.ravel()
    if not bool(np.all(flat == flat[0])):
        raise ValueError(
            f"{name}={getattr(params, name)!r} varies per unit; the FMU models one unit, give a "
            "scalar (one FMU instance per unit)"
        )
    return float(flat[0])


def plant_heatpump_fmu_parameters(params: PlantHeatPumpParams) -> dict[str, float]:
    """FMU parameter start values (FMU names, native units) for native ``params``.
    Array-valued ``params`` must be uniform (ValueError)."""
    return {fmu: _scalar(params, native) for native, fmu in PARAM_TO_FMU.items()}


def plant_heatpump_fmu_mapping(params: PlantHeatPumpParams) -> dict[str, Any]:
    """A mapping dict for :class:`simulators.fmu.FmuMapping` / ``FmuUnits``: every native input
    and output under its own name plus the parameter start values of ``params``."""
    return {
        "inputs": {a: NATIVE_TO_FMU[a] for a in INPUTS},
        "outputs": {a: NATIVE_TO_FMU[a] for a in OUTPUTS},
        "parameters": plant_heatpump_fmu_parameters(params),
    }


class FmuPlantHeatPump:
    """The plant heat pump run as its FMU (fmpy), a drop-in for
    :class:`simulators.plant_heatpump.PlantHeatPump` inside :class:`simulators.plant.Plant`:
    same ``step`` signature and outputs, ``state()`` from the FMU's outputs.

    Args:
        params: the parameters (set as the FMU's parameter start values).
        n: number of FMU instances.
        step_s: the communication step the FMU is stepped with, s.
    """

    def __init__(self, params: PlantHeatPumpParams, n: int = 1, step_s: float = 60.0) -> None:
        from simulators.fmu import FmuUnits

        self.params = params
        self.n = int(n)
        self.units = FmuUnits(plant_heatpump_fmu_path(), self.n,
                              plant_heatpump_fmu_mapping(params), step_s=step_s)
        z = np.zeros(self.n)
        self._state = {"on": z.astype(bool), "t_state_s": z.copy(), "load_base_frac": z.copy(),
                       "starts": z.copy(), "start_cost_DKK": z.copy()}

    def step(self, dt_s: float, load_set_frac: Any, T_supply_C: Any, T_return_C: Any,
             T_source_C: Any = None, dP_el_set_kW: Any = 0.0) -> dict[str, np.ndarray]:
        """One communication step of every instance (see ``PlantHeatPump.step``)."""
        src = self.params.T_source_C if T_source_C is None else T_source_C
        out = self.units.step(dt_s, load_set_frac=load_set_frac, T_supply_C=T_supply_C,
                              T_return_C=T_return_C, T_source_C=src, dP_el_set_kW=dP_el_set_kW)
        res = {k: np.asarray(v, dtype=float).copy() for k, v in out.items()}
        self._state.update(on=res["on"] > 0.5, starts=res["starts"],
                           start_cost_DKK=res["start_cost_DKK"])
        return res

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the state known from the FMU's outputs (time in state and base load are
        internal to the FMU and reported as 0 before the first step)."""
        return {k: v.copy() for k, v in self._state.items()}

    def terminate(self) -> None:
        """Free the FMU instances."""
        self.units.terminate()

"""The bundled heat-pump FMU: where its sources live, building it, and its parameters.

``simulators/fmus/heatpump/`` holds ``modelDescription.xml`` and ``sources/heatpump.c`` — an FMI
2.0 co-simulation FMU that is the numeric twin of :mod:`simulators.heatpump` (one unit) plus
three dynamics the native core omits: a first-order condenser lag, a compressor start-up ramp and
air-source defrost losses (``docs/models/heatpump-fmu.md``). With those switched off
(``heatpump_fmu_parameters(params, dynamics=False)``) one ``fmi2DoStep`` reproduces one
``HeatPump.step`` of the same length.

The FMU speaks SI units (W, K, s); :data:`NATIVE_TO_FMU` maps the native attribute names to the
FMU variable names, whose declared units (``kW``/``degC`` display units) let the generic FMU
simulator convert. This module does not import fmpy (building needs fmpy's FMI headers only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulators.fmu_build import FMU_COMMON, build_fmu
from simulators.heatpump import HeatPumpParams, cop_lines, cop_year_factor

HEATPUMP_FMU_SOURCE: Path = Path(__file__).resolve().parent / "fmus" / "heatpump"
"""Source FMU folder (modelDescription.xml + sources/)."""

KELVIN_OFFSET: float = 273.15
"""0 °C in K (the FMU's temperatures are in K)."""

NATIVE_TO_FMU: dict[str, tuple[str, str]] = {
    # inputs: native attribute -> (FMU variable, FMU unit)
    "Q_req_kW": ("Q_req", "W"),
    "T_out_C": ("T_out", "K"),
    "T_out_24h_C": ("T_out_24h", "K"),
    "T_out_168h_C": ("T_out_168h", "K"),
    "dhw_mode": ("dhw_mode", ""),
    "sg_ready_state": ("sg_ready_state", ""),
    # outputs
    "P_el_kW": ("P_el", "W"),
    "P_el_compressor_kW": ("P_el_compressor", "W"),
    "P_backup_kW": ("P_backup", "W"),
    "Q_th_kW": ("Q_th", "W"),
    "Q_sh_kW": ("Q_sh", "W"),
    "Q_dhw_kW": ("Q_dhw", "W"),
    "Q_backup_kW": ("Q_backup", "W"),
    "COP": ("COP", "1"),
    "T_supply_C": ("T_supply", "K"),
    "on": ("on", ""),
    "starts": ("starts", ""),
    "modulation_frac": ("modulation_frac", "1"),
}
"""Native HeatPump attribute → (FMU variable, its unit). The FMU also outputs ``Q_compressor``
(W, before the condenser lag) and ``defrost_loss_frac`` (1)."""


@dataclass(frozen=True)
class HeatPumpFmuDynamics:
    """The FMU's added dynamics (each 0 = off). Defaults: see docs/models/heatpump-fmu.md.

    Attributes:
        tau_condenser_s: time constant of the lag between heat produced and heat delivered, s.
            60 s: ≈ 15 L of water (condenser, internal piping, flow pipe) plus ≈ 1–2 L water
            equivalent of heat-exchanger metal, flushed at the rated flow of a 7 kW unit at a
            5 K spread (0.33 kg/s) → 45–55 s, rounded up. [ASSUMPTION, configurable]
        startup_ramp_time_s: compressor output ramps from 0 to capacity over this run time, s.
            180 s: inverter soft start plus a low-speed hold of 1–3 min for oil return, as
            common in residential inverter units. [ASSUMPTION, configurable]
        defrost_loss_max_frac: peak time-averaged defrost loss of capacity and COP (air source).
            0.10 = the US DOE/AHRI 210/240 default frost/defrost degradation of heating capacity
            at 35 °F (1.7 °C): 0.90 × the steady-state interpolation (power ×0.985 ≈ unchanged).
        T_defrost_lo_C, T_defrost_peak_lo_C, T_defrost_peak_hi_C, T_defrost_hi_C: trapezoid of
            the loss over outdoor temperature, °C: 0 at ≤ −15 °C (air too dry to frost much), peak
            between 0 and +3 °C (humid air near freezing, where frosting is worst), 0 at ≥ +5 °C
            (coil above 0 °C; EN 14511 rates A7 steady-state and A2 with integrated defrost).
    """

    tau_condenser_s: float = 60.0
    startup_ramp_time_s: float = 180.0
    defrost_loss_max_frac: float = 0.10
    T_defrost_lo_C: float = -15.0
    T_defrost_peak_lo_C: float = 0.0
    T_defrost_peak_hi_C: float = 3.0
    T_defrost_hi_C: float = 5.0


DYNAMICS_OFF = HeatPumpFmuDynamics(
    tau_condenser_s=0.0, startup_ramp_time_s=0.0, defrost_loss_max_frac=0.0
)
"""The added dynamics switched off: the FMU is then the numeric twin of the native model."""


def heatpump_fmu_path(force_build: bool = False, out_dir: str | Path | None = None) -> Path:
    """Path of the built heat-pump FMU; builds it into the cache on first use.

    The cache is ``$HEATFLEX_CACHE/fmus`` (default ``~/.cache/heatflex/fmus``) unless ``out_dir``
    is given; the file name carries a hash of the sources, FMI headers and compiler flags, so an
    edited source is rebuilt. ``force_build`` rebuilds even if the file exists. Raises
    ``simulators.fmu_build.FmuBuildError`` (with the compiler output) if the build fails.
    """
    return build_fmu(HEATPUMP_FMU_SOURCE, out_dir=out_dir, force=force_build,
                     shared=FMU_COMMON)


def _scalar(params: HeatPumpParams, name: str) -> object:
    """A parameter's single value; ValueError if it varies per unit (an FMU is one unit)."""
    value = getattr(params, name)
    if isinstance(value, str):
        return value
    arr = np.asarray(value)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} has shape {arr.shape}; the FMU models one unit, give a scalar")
    flat = arr.ravel()
    if not bool(np.all(flat == flat[0])):
        raise ValueError(
            f"{name}={value!r} varies per unit; the FMU models one unit, give a scalar "
            "(one FMU instance per unit)"
        )
    return flat[0].item()


def heatpump_fmu_parameters(
    params: HeatPumpParams, dynamics: bool | HeatPumpFmuDynamics = True
) -> dict[str, float | int | bool]:
    """FMU parameter start values (FMU names and units) for native ``params``.

    Passes the COP lines fitted by :func:`simulators.heatpump.cop_lines` for the source, the
    technology factor ``cop_year_factor(year)``, powers in W and temperatures in K. ``dynamics``:
    True → :class:`HeatPumpFmuDynamics` defaults, False → all added dynamics off (twin mode), or
    a :class:`HeatPumpFmuDynamics` instance. Array-valued ``params`` must be uniform (ValueError).
    """
    if isinstance(dynamics, HeatPumpFmuDynamics):
        dyn = dynamics
    elif isinstance(dynamics, bool | np.bool_):
        dyn = HeatPumpFmuDynamics() if dynamics else DYNAMICS_OFF
    else:
        raise ValueError(
            f"dynamics={dynamics!r} is not allowed; use True, False or a HeatPumpFmuDynamics"
        )
    for name in ("tau_condenser_s", "startup_ramp_time_s", "defrost_loss_max_frac"):
        v = getattr(dyn, name)
        if not (np.isfinite(v) and v >= 0.0):
            raise ValueError(f"{name}={v!r} is not allowed; use a finite value >= 0 (0 = off)")
    source = str(_scalar(params, "source"))
    emitter = str(_scalar(params, "emitter"))
    a35, b35, a55, b55 = cop_lines(source)
    year = float(_scalar(params, "year"))  # type: ignore[arg-type]

    def num(name: str) -> float:
        return float(_scalar(params, name))  # type: ignore[arg-type]

    return {
        "source": 1 if source == "air" else 0,
        "emitter": 1 if emitter == "floor" else 0,
        "Q_rated": num("Q_rated_kW") * 1000.0,
        "compressor_share": num("compressor_share"),
        "backup_efficiency": num("backup_efficiency"),
        "modulation_min": num("modulation_min_frac"),
        "min_on_time": num("min_on_s"),
        "min_off_time": num("min_off_s"),
        "cop_correction": num("cop_correction"),
        "cop_year_factor": float(cop_year_factor(year)),
        "a35": a35,
        "b35": b35,
        "a55": a55,
        "b55": b55,
        "T_dhw_supply": num("T_dhw_supply_C") + KELVIN_OFFSET,
        "air_capacity_slope": num("air_capacity_slope_per_K"),
        "air_capacity_max": num("air_capacity_max_frac"),
        "tau_condenser": float(dyn.tau_condenser_s),
        "startup_ramp_time": float(dyn.startup_ramp_time_s),
        "defrost_loss_max": float(dyn.defrost_loss_max_frac),
        "T_defrost_lo": dyn.T_defrost_lo_C + KELVIN_OFFSET,
        "T_defrost_peak_lo": dyn.T_defrost_peak_lo_C + KELVIN_OFFSET,
        "T_defrost_peak_hi": dyn.T_defrost_peak_hi_C + KELVIN_OFFSET,
        "T_defrost_hi": dyn.T_defrost_hi_C + KELVIN_OFFSET,
    }

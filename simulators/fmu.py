"""Generic FMU simulator core: a fleet of N instances of one FMI 2.0 / 3.0 co-simulation FMU.

:class:`FmuUnits` follows the model-core contract (``step(dt_s, **inputs) -> dict`` of fresh
``(N,)`` arrays) so the generic mosaik adapter ``CoreSim`` can host it; it wraps fmpy's low-level
API (``FMU2Slave`` / ``FMU3Slave``) and never imports mosaik.

What is supported (and what is refused with a :class:`FmuError` naming the FMU and variable):

- FMI 2.0 and FMI 3.0 **co-simulation**.  FMI 1.0 and model-exchange-only FMUs are refused.
- Variable types: FMI 2.0 Real, Integer, Enumeration (as Integer), Boolean; FMI 3.0 Float64,
  Int32, Boolean scalars.  Strings, other FMI 3.0 types, arrays (``<Dimension>``) and clocked
  variables cannot be mapped; an FMU declaring FMI 3.0 clocks is refused as a whole (heatflex
  runs FMI 3.0 without event mode, so clocks would never tick).
- Binaries: ``binaries/linux64/<modelIdentifier>.so`` (FMI 2.0) or
  ``binaries/x86_64-linux/<modelIdentifier>.so`` (FMI 3.0) on this machine's platform.

Unit conversion (documented in docs/fmu.md): the testbed attribute's suffix (``_C``, ``_K``,
``_kW``, ``_W``, ``_kWh``, ``_frac``...) gives its unit; the FMU variable's declared unit
(resolved through the FMU's ``<UnitDefinitions>`` BaseUnit when present, else by name) gives the
other; both must be the same physical quantity and the affine conversion is applied.  A variable
without a unit, or an attribute without a unit suffix, is passed through unconverted.  Optional
per-attribute ``scale`` / ``offset`` then apply in the direction of data flow:
``fmu = scale * convert(x) + offset`` for inputs, ``y = scale * convert(fmu) + offset`` for
outputs.

Time steps: ``step_s`` is the FMU's communication step (default: the FMU's DefaultExperiment
stepSize).  A testbed step ``dt_s`` that is an integer multiple of ``step_s`` runs as that many
``doStep`` calls of ``step_s`` (inputs held, outputs from the last one); any other ``dt_s`` runs
as one call only if the FMU declares ``canHandleVariableCommunicationStepSize``, else it is
refused.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STATUS = ("OK", "Warning", "Discard", "Error", "Fatal", "Pending")
LOG_KEEP = 200
"""Number of FMU log messages kept per fleet (the newest; attached to every FmuError)."""


class FmuError(RuntimeError):
    """An FMU could not be loaded, mapped, initialised or stepped.  The message names the FMU,
    the variable or time where applicable, and ends with the FMU's own log messages."""


# ---------------------------------------------------------------------------------------------
# units
# ---------------------------------------------------------------------------------------------

_Dim = tuple[int, int, int, int, int, int, int, int]  # kg m s A K mol cd rad
_NONE: _Dim = (0, 0, 0, 0, 0, 0, 0, 0)
_TEMP: _Dim = (0, 0, 0, 0, 1, 0, 0, 0)
_POWER: _Dim = (1, 2, -3, 0, 0, 0, 0, 0)
_ENERGY: _Dim = (1, 2, -2, 0, 0, 0, 0, 0)
_TIME: _Dim = (0, 0, 1, 0, 0, 0, 0, 0)
_PRESSURE: _Dim = (1, -1, -2, 0, 0, 0, 0, 0)
_MASSFLOW: _Dim = (1, 0, -1, 0, 0, 0, 0, 0)

KNOWN_UNITS: dict[str, tuple[_Dim, float, float]] = {
    # name: (SI base dimensions, factor, offset) with  SI value = factor * value + offset
    "K": (_TEMP, 1.0, 0.0), "degC": (_TEMP, 1.0, 273.15), "°C": (_TEMP, 1.0, 273.15),
    "W": (_POWER, 1.0, 0.0), "kW": (_POWER, 1e3, 0.0), "MW": (_POWER, 1e6, 0.0),
    "J": (_ENERGY, 1.0, 0.0), "kJ": (_ENERGY, 1e3, 0.0), "MJ": (_ENERGY, 1e6, 0.0),
    "Wh": (_ENERGY, 3600.0, 0.0), "kWh": (_ENERGY, 3.6e6, 0.0), "MWh": (_ENERGY, 3.6e9, 0.0),
    "1": (_NONE, 1.0, 0.0), "%": (_NONE, 0.01, 0.0),
    "s": (_TIME, 1.0, 0.0), "min": (_TIME, 60.0, 0.0), "h": (_TIME, 3600.0, 0.0),
    "Pa": (_PRESSURE, 1.0, 0.0), "kPa": (_PRESSURE, 1e3, 0.0), "bar": (_PRESSURE, 1e5, 0.0),
    "kg/s": (_MASSFLOW, 1.0, 0.0),
}
"""Unit names understood without the FMU's own UnitDefinitions (Modelica/FMI spellings)."""

ATTR_SUFFIX_UNITS: dict[str, str] = {
    "_C": "degC", "_K": "K", "_W": "W", "_kW": "kW", "_MW": "MW", "_J": "J", "_kJ": "kJ",
    "_Wh": "Wh", "_kWh": "kWh", "_MWh": "MWh", "_frac": "1", "_pct": "%", "_s": "s",
    "_h": "h", "_Pa": "Pa", "_kPa": "kPa", "_bar": "bar", "_kg_per_s": "kg/s",
}
"""Testbed attribute suffix -> unit.  Attributes without one of these suffixes are unitless."""


def attr_unit(attr: str) -> str | None:
    """The unit carried by a testbed attribute name (longest matching suffix), or None."""
    best = None
    for suffix, unit in ATTR_SUFFIX_UNITS.items():
        if attr.endswith(suffix) and (best is None or len(suffix) > len(best[0])):
            best = (suffix, unit)
    return best[1] if best else None


def _fmu_unit_def(md: Any, unit: str) -> tuple[_Dim, float, float] | None:
    """(dims, factor, offset) of an FMU unit: the FMU's own BaseUnit first, then KNOWN_UNITS."""
    for u in md.unitDefinitions or ():
        bu = getattr(u, "baseUnit", None)
        if u.name == unit and bu is not None:
            dims = tuple(int(getattr(bu, k, 0) or 0)
                         for k in ("kg", "m", "s", "A", "K", "mol", "cd", "rad"))
            return dims, float(bu.factor or 1.0), float(bu.offset or 0.0)  # type: ignore
    return KNOWN_UNITS.get(unit)


def unit_affine(attr: str, fmu_unit: str | None, md: Any, fmu: str, var: str
                ) -> tuple[float, float]:
    """(a, b) with ``fmu_value = a * testbed_value + b``; (1, 0) when either side is unitless."""
    tb = attr_unit(attr)
    if tb is None or not fmu_unit:
        return 1.0, 0.0
    u_tb = KNOWN_UNITS[tb]
    u_fmu = _fmu_unit_def(md, fmu_unit)
    if u_fmu is None:
        raise FmuError(f"{fmu}: variable {var!r} has unit {fmu_unit!r}, which heatflex cannot "
                       f"convert to {tb!r} (attribute {attr!r}); declare the unit in the FMU's "
                       "UnitDefinitions or map it to an attribute without a unit suffix")
    if u_fmu[0] != u_tb[0]:
        raise FmuError(f"{fmu}: unit mismatch — attribute {attr!r} is in {tb!r} but variable "
                       f"{var!r} is in {fmu_unit!r} (a different physical quantity)")
    a = u_tb[1] / u_fmu[1]
    b = (u_tb[2] - u_fmu[2]) / u_fmu[1]
    return a, b


# ---------------------------------------------------------------------------------------------
# mapping
# ---------------------------------------------------------------------------------------------

@dataclass
class FmuMapping:
    """How FMU variables appear as testbed attributes.

    inputs:      testbed attribute -> FMU input variable
    outputs:     testbed attribute -> FMU variable read after every step
    parameters:  FMU variable -> start value set before initialisation (scalar or one per unit;
                 a number for Real/Integer, a bool or 0/1 for Boolean).  Values are in the
                 FMU's own units (no conversion).
    scale / offset:  per attribute, applied after unit conversion in the direction of data flow
                 (Real variables only).
    convert_units:   False passes every value through in the FMU's units.
    """

    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    offset: dict[str, float] = field(default_factory=dict)
    convert_units: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FmuMapping:
        """Build from a plain dict (e.g. a scenario table); unknown keys are a ValueError."""
        allowed = {"inputs", "outputs", "parameters", "scale", "offset", "convert_units"}
        bad = sorted(set(d) - allowed)
        if bad:
            raise ValueError(f"FMU mapping: unknown key(s) {bad}; allowed: {sorted(allowed)}")
        return cls(**{k: (dict(v) if isinstance(v, Mapping) else v) for k, v in d.items()})


# ---------------------------------------------------------------------------------------------
# model description and extraction
# ---------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_EXTRACTED: dict[tuple[str, int, int], Path] = {}
EXTRACTIONS: list[Path] = []
"""Every extraction this process made (tests assert that fleets share one)."""


def _cleanup() -> None:
    for d in EXTRACTIONS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def extract_fmu(path: str | Path) -> Path:
    """Extract the archive once per (path, mtime, size); every fleet reuses the folder."""
    path = Path(path)
    key = _key(path)
    with _LOCK:
        d = _EXTRACTED.get(key)
        if d is not None and d.exists():
            return d
        d = Path(tempfile.mkdtemp(prefix=f"heatflex-fmu-{path.stem[:40]}-"))
        with zipfile.ZipFile(path) as z:
            z.extractall(d)
        _EXTRACTED[key] = d
        EXTRACTIONS.append(d)
        return d


def _platform_dir(fmi_major: int) -> str:
    import fmpy

    return fmpy.platform if fmi_major == 2 else fmpy.platform_tuple


def read_description(path: str | Path, validate: bool = False) -> Any:
    """fmpy's ModelDescription of the FMU, or a clear FmuError."""
    import fmpy

    path = Path(path)
    if not path.exists():
        raise FmuError(f"FMU {str(path)!r} does not exist")
    try:
        return fmpy.read_model_description(str(path), validate=validate)
    except zipfile.BadZipFile as exc:
        raise FmuError(f"FMU {path.name!r} is not a ZIP archive: {exc}") from exc
    except KeyError as exc:
        raise FmuError(f"FMU {path.name!r} has no modelDescription.xml") from exc
    except Exception as exc:
        raise FmuError(f"FMU {path.name!r}: cannot read modelDescription.xml: {exc}") from exc


def archive_platforms(path: str | Path) -> list[str]:
    """The binaries/<platform>/ folders in the archive."""
    with zipfile.ZipFile(path) as z:
        return sorted({n.split("/")[1] for n in z.namelist()
                       if n.startswith("binaries/") and n.count("/") >= 2 and n.split("/")[1]})


def _check_kind(md: Any, name: str) -> None:
    major = md.fmiMajorVersion
    if major not in (2, 3):
        raise FmuError(f"FMU {name!r} is FMI {md.fmiVersion}; heatflex supports FMI 2.0 and 3.0 "
                       "co-simulation only (FMI 1.0 is refused)")
    if md.coSimulation is None:
        kinds = [k for k, v in (("model exchange", md.modelExchange),
                                ("scheduled execution", md.scheduledExecution)) if v is not None]
        raise FmuError(f"FMU {name!r} provides {' and '.join(kinds) or 'no interface'} but not "
                       "co-simulation; heatflex runs co-simulation FMUs only (re-export the model "
                       "as a co-simulation FMU, e.g. with a solver included)")


def _binary_path(md: Any, unzip: Path | None, fmu_path: Path, name: str) -> Path | None:
    ident = md.coSimulation.modelIdentifier
    plat = _platform_dir(md.fmiMajorVersion)
    rel = f"binaries/{plat}/{ident}.so"
    if unzip is not None and (unzip / rel).is_file():
        return unzip / rel
    with zipfile.ZipFile(fmu_path) as z:
        present = rel in z.namelist()
    if present:
        return None
    plats = archive_platforms(fmu_path)
    has_src = any(n.startswith("sources/") for n in zipfile.ZipFile(fmu_path).namelist())
    raise FmuError(
        f"FMU {name!r} has no binary for this platform: expected {rel} (modelIdentifier "
        f"{ident!r}); the archive has binaries for {plats or 'no platform'}"
        + ("; it ships C sources — compile them (heatflex fmu build for source folders, or "
           "fmpy.util.compile_platform_binary)" if has_src else ""))


# ---------------------------------------------------------------------------------------------
# variable kinds
# ---------------------------------------------------------------------------------------------

_KIND_OF_TYPE = {2: {"Real": "r", "Integer": "i", "Enumeration": "i", "Boolean": "b"},
                 3: {"Float64": "r", "Int32": "i", "Boolean": "b"}}
_SUPPORTED = {2: "Real, Integer, Enumeration, Boolean", 3: "Float64, Int32, Boolean"}


@dataclass
class _Var:
    name: str
    vr: int
    kind: str  # r | i | b
    causality: str
    unit: str | None
    start: Any


def _var_unit(v: Any) -> str | None:
    u = v.unit
    if not u and v.declaredType is not None:
        u = getattr(v.declaredType, "unit", None)
    return u or None


def _parse_start(kind: str, s: Any) -> float | int | bool | None:
    if s is None:
        return None
    if kind == "b":
        return str(s).strip().lower() in ("true", "1")
    return int(float(s)) if kind == "i" else float(s)


def _has_clocks(md: Any) -> str | None:
    for v in md.modelVariables:
        if v.type == "Clock":
            return v.name
    return None


class _Fleet:
    """Shared lookups for one FMU: variables by name, with kinds."""

    def __init__(self, md: Any, name: str):
        self.md = md
        self.name = name
        self.major = md.fmiMajorVersion
        self.by_name = {v.name: v for v in md.modelVariables}

    def var(self, var: str, role: str, attr: str | None = None) -> _Var:
        v = self.by_name.get(var)
        where = f" (attribute {attr!r})" if attr else ""
        if v is None:
            close = sorted(n for n in self.by_name if n.lower() == var.lower())
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FmuError(f"FMU {self.name} has no variable {var!r}{where} in the {role} "
                           f"mapping{hint}; `heatflex fmu inspect` lists the variables")
        if v.dimensions or getattr(v, "dimensionValueReferences", None):
            raise FmuError(f"FMU {self.name}: variable {var!r}{where} is an array "
                           f"({v.type} with dimensions); heatflex maps scalar variables only")
        if getattr(v, "clocks", None) or v.type == "Clock":
            raise FmuError(f"FMU {self.name}: variable {var!r}{where} is a clock or clocked "
                           "variable; FMI 3.0 clocks are not supported")
        kind = _KIND_OF_TYPE[self.major].get(v.type)
        if kind is None:
            raise FmuError(f"FMU {self.name}: variable {var!r}{where} has type {v.type}; "
                           f"heatflex maps FMI {self.major} types {_SUPPORTED[self.major]}")
        return _Var(v.name, int(v.valueReference), kind, v.causality or "local",
                    _var_unit(v), _parse_start(kind, v.start))


# ---------------------------------------------------------------------------------------------
# the core
# ---------------------------------------------------------------------------------------------

_C_INT = {2: ctypes.c_int32, 3: ctypes.c_int32}
_NP_I = np.int32
_NP_B = {2: np.int32, 3: np.bool_}


def _vrs(vs: list[tuple[str, _Var, float, float]]) -> Any:
    return (ctypes.c_uint32 * max(1, len(vs)))(*[v.vr for _, v, _, _ in vs])


_F64 = np.dtype(np.float64)


class FmuUnits:
    """N instances of one co-simulation FMU stepped in lock-step.

    Parameters
    ----------
    fmu_path:       the .fmu archive.
    n:              number of instances (units of the fleet).
    mapping:        FmuMapping (or a dict accepted by ``FmuMapping.from_dict``).
    step_s:         FMU communication step [s]; None -> the FMU's DefaultExperiment stepSize.
    start_time:     FMU time at initialisation [s].
    instance_name:  prefix of the FMU instance names (``<prefix>[i]``); default the model name.
    """

    def __init__(self, fmu_path: str | Path, n: int = 1, mapping: FmuMapping | dict | None = None,
                 step_s: float | None = None, start_time: float = 0.0,
                 instance_name: str | None = None):
        if isinstance(mapping, Mapping):
            mapping = FmuMapping.from_dict(mapping)
        self.mapping: FmuMapping = mapping or FmuMapping()
        self.path = Path(fmu_path)
        if int(n) != n or n < 1:
            raise ValueError(f"n = {n!r}: the number of FMU instances must be an integer >= 1")
        self.n = int(n)
        self.md = read_description(self.path)
        self.label = f"{self.path.name} (model {self.md.modelName!r})"
        _check_kind(self.md, self.label)
        self.major = self.md.fmiMajorVersion
        clock = _has_clocks(self.md) if self.major == 3 else None
        if clock:
            raise FmuError(f"FMU {self.label} declares clock {clock!r}; FMI 3.0 clocks are not "
                           "supported (heatflex runs FMI 3.0 co-simulation without event mode)")
        cs = self.md.coSimulation
        if cs.canBeInstantiatedOnlyOncePerProcess and self.n > 1:
            raise FmuError(f"FMU {self.label} can be instantiated only once per process "
                           f"(canBeInstantiatedOnlyOncePerProcess); n = {self.n} asked for")
        if cs.needsExecutionTool:
            raise FmuError(f"FMU {self.label} needs an external execution tool (tool-coupling "
                           "FMU); heatflex runs self-contained FMUs only")
        _binary_path(self.md, None, self.path, self.label)
        self.variable_step = bool(cs.canHandleVariableCommunicationStepSize)
        de = self.md.defaultExperiment
        default_step = float(de.stepSize) if de is not None and de.stepSize else None
        self.step_s = float(step_s) if step_s is not None else default_step
        if self.step_s is None or not np.isfinite(self.step_s) or self.step_s <= 0:
            raise FmuError(f"FMU {self.label}: no communication step size — give step_s (the "
                           "FMU declares no DefaultExperiment stepSize)" if self.step_s is None
                           else f"FMU {self.label}: step_s = {self.step_s!r} must be > 0")
        self.time = float(start_time)
        self.instance_name = instance_name or self.md.modelName
        self.log: deque[str] = deque(maxlen=LOG_KEEP)
        self._failed: str | None = None
        self._fmus: list[Any] = []
        self._fleet = _Fleet(self.md, self.label)
        self._build_mapping()
        self.unzip = extract_fmu(self.path)
        _binary_path(self.md, self.unzip, self.path, self.label)
        try:
            self._instantiate_all()
        except BaseException:
            self._failed = self._failed or "initialisation failed"
            self.terminate()
            raise

    # ---- mapping --------------------------------------------------------------------------
    def _build_mapping(self) -> None:
        m, fl = self.mapping, self._fleet
        for attr in (*m.scale, *m.offset):
            if attr not in m.inputs and attr not in m.outputs:
                raise FmuError(f"FMU {self.label}: scale/offset given for attribute {attr!r}, "
                               "which is neither a mapped input nor a mapped output")
        self.in_vars: dict[str, list[tuple[str, _Var, float, float]]] = {"r": [], "i": [], "b": []}
        self.out_vars: dict[str, list[tuple[str, _Var, float, float]]] = {"r": [], "i": [], "b": []}
        for role, table, allowed in (
            ("inputs", m.inputs, ("input",)),
            ("outputs", m.outputs, ("output", "local", "calculatedParameter", "parameter",
                                    "independent")),
        ):
            for attr, var in table.items():
                v = fl.var(var, role, attr)
                if v.causality not in allowed:
                    raise FmuError(f"FMU {self.label}: variable {var!r} (attribute {attr!r}) has "
                                   f"causality {v.causality!r}; {role} must be "
                                   f"{' / '.join(allowed)}")
                a, b = self._affine(attr, v, role)
                (self.in_vars if role == "inputs" else self.out_vars)[v.kind].append(
                    (attr, v, a, b))
        self.params: list[tuple[_Var, np.ndarray]] = []
        for var, value in m.parameters.items():
            v = fl.var(var, "parameters")
            settable = (v.causality in ("parameter", "input")
                        or (v.start is not None and v.causality not in ("calculatedParameter",
                                                                         "structuralParameter")))
            variability = fl.by_name[var].variability
            if not settable or variability == "constant" or v.causality == "structuralParameter":
                raise FmuError(f"FMU {self.label}: variable {var!r} (causality {v.causality!r}, "
                               f"variability {variability!r}) cannot be given a start value; "
                               "parameters must be parameters or inputs with a start value")
            self.params.append((v, self._param_values(v, value)))

    def _affine(self, attr: str, v: _Var, role: str) -> tuple[float, float]:
        m = self.mapping
        has_scale = attr in m.scale or attr in m.offset
        if v.kind != "r":
            if has_scale:
                raise FmuError(f"FMU {self.label}: type mismatch — attribute {attr!r} has "
                               f"scale/offset but variable {v.name!r} is "
                               f"{'Integer' if v.kind == 'i' else 'Boolean'}; scaling applies to "
                               "Real/Float64 variables only")
            if m.convert_units and attr_unit(attr) is not None:
                raise FmuError(f"FMU {self.label}: type mismatch — attribute {attr!r} carries "
                               f"the unit {attr_unit(attr)!r} but variable {v.name!r} is "
                               f"{'Integer' if v.kind == 'i' else 'Boolean'}")
            return 1.0, 0.0
        a, b = (unit_affine(attr, v.unit, self.md, self.label, v.name) if m.convert_units
                else (1.0, 0.0))
        s, o = float(m.scale.get(attr, 1.0)), float(m.offset.get(attr, 0.0))
        if s == 0 or not np.isfinite(s) or not np.isfinite(o):
            raise FmuError(f"FMU {self.label}: attribute {attr!r}: scale {s!r} / offset {o!r} "
                           "must be finite and scale non-zero")
        if role == "inputs":  # fmu = s * (a x + b) + o
            return s * a, s * b + o
        # outputs: y = s * (fmu - b) / a + o
        return s / a, o - s * b / a

    def _param_values(self, v: _Var, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, self.n)):
            raise FmuError(f"FMU {self.label}: parameter {v.name!r} = {value!r}: give a scalar or "
                           f"one value per instance ({self.n})")
        arr = np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (self.n,))
        return self._typed(v, arr, "parameter")

    def _typed(self, v: _Var, x: np.ndarray, what: str) -> np.ndarray:
        """Values for variable v as float64 / int32 / bool, or a type-mismatch FmuError."""
        if v.kind == "r":
            if x.dtype.kind not in "biuf":
                raise FmuError(f"FMU {self.label}: type mismatch — {what} {v.name!r} is Real but "
                               f"got {x.dtype} values")
            return x.astype(np.float64)
        if x.dtype.kind == "b":
            return x.astype(_NP_I if v.kind == "i" else np.bool_)
        if x.dtype.kind not in "iuf":
            raise FmuError(f"FMU {self.label}: type mismatch — {what} {v.name!r} is "
                           f"{'Integer' if v.kind == 'i' else 'Boolean'} but got {x.dtype}")
        xi = np.asarray(x).astype(np.int64) if np.all(np.isfinite(x)) else None
        bad_bool = xi is not None and v.kind == "b" and bool(np.any((xi != 0) & (xi != 1)))
        if xi is None or not np.array_equal(xi, x) or bad_bool:
            raise FmuError(f"FMU {self.label}: type mismatch — {what} {v.name!r} is "
                           f"{'Integer' if v.kind == 'i' else 'Boolean (0/1)'}; got {x!r}")
        return xi.astype(_NP_I) if v.kind == "i" else xi.astype(np.bool_)

    # ---- instantiation ----------------------------------------------------------------------
    def _log_fn(self, name: str | None):
        log = self.log

        def log2(env, instance, status, category, message):  # FMI 2.0 (formatted by fmpy's proxy)
            log.append(f"{_dec(instance)} [{_label(status)}] {_dec(category)}: {_dec(message)}")

        def log3(env, status, category, message):  # FMI 3.0
            log.append(f"{name} [{_label(status)}] {_dec(category)}: {_dec(message)}")

        return log2 if name is None else log3

    def _error(self, what: str, t: float | None = None, var: str | None = None) -> FmuError:
        at = f" at t = {t:g} s" if t is not None else ""
        v = f" (variable {var!r})" if var else ""
        msgs = "\n".join(f"  {m}" for m in self.log) or "  (the FMU logged nothing)"
        return FmuError(f"FMU {self.label}: {what}{at}{v}\nFMU log:\n{msgs}")

    def _instantiate_all(self) -> None:
        from fmpy import calloc, free
        from fmpy.fmi1 import FMICallException

        cls: Any
        if self.major == 2:
            from fmpy import fmi2
            from fmpy.logging import addLoggerProxy

            cls = fmi2.FMU2Slave
            cb = fmi2.fmi2CallbackFunctions()
            cb.logger = fmi2.fmi2CallbackLoggerTYPE(self._log_fn(None))
            cb.allocateMemory = fmi2.fmi2CallbackAllocateMemoryTYPE(calloc)
            cb.freeMemory = fmi2.fmi2CallbackFreeMemoryTYPE(free)
            addLoggerProxy(ctypes.byref(cb))
            self._callbacks = cb
        else:
            from fmpy import fmi3

            cls = fmi3.FMU3Slave
        ident = self.md.coSimulation.modelIdentifier
        for i in range(self.n):
            iname = f"{self.instance_name}[{i}]" if self.n > 1 else self.instance_name
            try:
                fmu = cls(guid=self.md.guid, unzipDirectory=str(self.unzip), modelIdentifier=ident,
                          instanceName=iname)
            except AttributeError as exc:
                raise self._error(f"the binary lacks an FMI function ({exc}); FMI requires "
                                  "every function to be exported") from exc
            except Exception as exc:
                raise self._error(f"cannot load the binary: {exc}") from exc
            self._fmus.append(fmu)
            try:
                if self.major == 2:
                    fmu.instantiate(callbacks=self._callbacks, loggingOn=False)
                else:
                    fmu.instantiate(loggingOn=False, logMessage=self._log_fn(iname))
            except Exception as exc:
                fmu.component = None
                raise self._error(f"instance {iname!r}: fmiInstantiate failed ({exc})") from exc
        # start values, then initialisation
        try:
            self._phase = "setting start values"
            for v, vals in self.params:
                self._phase = f"setting parameter {v.name!r}"
                for i, fmu in enumerate(self._fmus):
                    self._set_one(fmu, v, vals[i])
            self._phase = "initialisation"
            for fmu in self._fmus:
                if self.major == 2:
                    fmu.setupExperiment(startTime=self.time)
                    fmu.enterInitializationMode()
                else:
                    fmu.enterInitializationMode(startTime=self.time)
            self._setup_buffers()
            self._set_inputs_all()
            for fmu in self._fmus:
                fmu.exitInitializationMode()
            self._read_outputs_all()
        except FMICallException as exc:
            self._failed = str(exc)
            raise self._error(f"{self._phase}: {exc}", self.time) from exc
        self._initial = self._outputs()

    def _set_one(self, fmu: Any, v: _Var, value: Any) -> None:
        if self.major == 2:
            {"r": fmu.setReal, "i": fmu.setInteger, "b": fmu.setBoolean}[v.kind](
                [v.vr], [value.item() if hasattr(value, "item") else value])
        else:
            {"r": fmu.setFloat64, "i": fmu.setInt32, "b": fmu.setBoolean}[v.kind](
                [v.vr], [value.item() if hasattr(value, "item") else value])

    def _setup_buffers(self) -> None:
        """Preallocated (n, k) value arrays, per-attribute write targets and the call plan: every
        ctypes argument of the hot loop is built once here and reused on every step."""
        n = self.n
        dtype = {"r": np.float64, "i": _NP_I, "b": _NP_B[self.major]}
        self._in = {k: np.zeros((n, len(vs)), dtype[k]) for k, vs in self.in_vars.items()}
        self._out = {k: np.zeros((n, len(vs)), dtype[k]) for k, vs in self.out_vars.items()}
        for k, vs in self.in_vars.items():
            for j, (_, v, _, _) in enumerate(vs):
                if v.start is not None:
                    self._in[k][:, j] = v.start
        # attr -> (kind, column, var, a, b, identity?, row 0 (the n = 1 target), column view)
        self._in_col = {attr: (k, j, v, a, b, a == 1.0 and b == 0.0, self._in[k][0],
                               self._in[k][:, j])
                        for k, vs in self.in_vars.items() for j, (attr, v, a, b) in enumerate(vs)}
        # outputs per kind: (kind, buffer, attribute names, factors/offsets as (k, 1) arrays or
        # None, the single column (attr, view, a, b) when the kind has one variable); identity
        # columns get offset -0.0 so that x * 1 + (-0.0) == x bit for bit
        self._out_plan = []
        for k, vs in self.out_vars.items():
            if not vs:
                continue
            attrs = tuple(attr for attr, _, _, _ in vs)
            ab = None
            if k == "r" and any(a != 1.0 or b != 0.0 for _, _, a, b in vs):
                ab = (np.array([[a] for _, _, a, _ in vs]),
                      np.array([[b if (a != 1.0 or b != 0.0) else -0.0] for _, _, a, b in vs]))
            one = (attrs[0], self._out[k][:, 0], vs[0][2], vs[0][3]) if len(vs) == 1 else None
            self._out_plan.append((k, self._out[k], attrs, ab, one))
        dll = self._fmus[0].dll
        vp, sz, cd = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_double
        p = "fmi2" if self.major == 2 else "fmi3"
        names = {"r": "Real", "i": "Integer", "b": "Boolean"} if self.major == 2 else \
            {"r": "Float64", "i": "Int32", "b": "Boolean"}

        def raw(name: str) -> Any:
            # a fresh function object (does not touch fmpy's configured one); no argtypes: every
            # argument is passed as a prebuilt ctypes object, which skips per-call conversion
            f = dll[name]
            f.restype, f.argtypes = ctypes.c_int, None
            return f

        setf = {k: raw(f"{p}Set{names[k]}") for k in names}
        getf = {k: raw(f"{p}Get{names[k]}") for k in names}
        self._dostep = raw(f"{p}DoStep")
        self._t = cd(self.time)  # the doStep start time, updated in place
        if self.major == 2:
            self._ds_tail: tuple = (ctypes.c_int(1),)  # noSetFMUStatePriorToCurrentPoint
        else:
            self._flags = (ctypes.c_bool * 3)()
            self._last_t = cd()
            self._ds_tail = (ctypes.c_bool(True),
                             *(vp(ctypes.addressof(self._flags) + i) for i in range(3)),
                             vp(ctypes.addressof(self._last_t)))

        def calls(fns: dict, vars_: dict, bufs: dict, i: int, c: Any) -> tuple:
            out = []
            for k, vs in vars_.items():
                if vs:
                    nv = sz(len(vs))
                    args = (c, _vrs(vs), nv, vp(self._row(bufs[k], i)))
                    out.append((fns[k], args + (nv,) if self.major == 3 else args, k))
            return tuple(out)

        # per instance: (index, component pointer, set-calls, get-calls)
        self._plan = []
        for i, fmu in enumerate(self._fmus):
            c = vp(fmu.component)
            self._plan.append((i, c, calls(setf, self.in_vars, self._in, i, c),
                               calls(getf, self.out_vars, self._out, i, c)))
        self._substeps: dict[float, list[tuple[float, Any]]] = {}

    @staticmethod
    def _row(a: np.ndarray, i: int) -> int:
        return a.ctypes.data + i * a.strides[0]

    # ---- stepping ---------------------------------------------------------------------------
    def _set_inputs_all(self) -> None:
        self._transfer_all(2, "setting", "in")

    def _read_outputs_all(self) -> None:
        self._transfer_all(3, "reading", "out")

    def _transfer_all(self, slot: int, verb: str, side: str) -> None:
        """Call every instance's prebound set (slot 2) or get (slot 3) functions."""
        for entry in self._plan:
            for f, args, kind in entry[slot]:
                st = f(*args)
                if st > 1:
                    raise self._fail(entry[0], f"{verb} {self._kind_names(kind, side)} returned "
                                               f"{_label(st)}", self.time)

    def _kind_names(self, kind: str, side: str) -> str:
        vs = (self.in_vars if side == "in" else self.out_vars)[kind]
        return ", ".join(repr(v.name) for _, v, _, _ in vs)

    def _fail(self, i: int, what: str, t: float) -> FmuError:
        self._failed = what
        iname = self._fmus[i].instanceName
        return self._error(f"instance {iname!r}: {what}", t)

    def _do_steps(self, t: float, h: float, hc: Any) -> None:
        """Set inputs, doStep(t, h) and get outputs for every instance (hc = c_double(h))."""
        ds, tail = self._dostep, self._ds_tail
        tc = self._t
        tc.value = t
        v3 = self.major == 3
        for i, c, sets, gets in self._plan:
            for f, args, _ in sets:
                st = f(*args)
                if st > 1:
                    raise self._fail(i, f"setting inputs returned {_label(st)}", t)
            st = ds(c, tc, hc, *tail)
            if st > 1:
                raise self._fail(i, f"doStep(t={t:g}, h={h:g}) returned {_label(st)}", t)
            if v3 and self._flags[1]:
                raise self._fail(i, "the FMU requested to terminate the simulation", t)
            for f, args, _ in gets:
                st = f(*args)
                if st > 1:
                    raise self._fail(i, f"reading outputs returned {_label(st)}", t)

    def _plan_steps(self, dt_s: float) -> list[float]:
        ratio = dt_s / self.step_s
        k = round(ratio)
        if k >= 1 and abs(ratio - k) < 1e-9 * max(1.0, ratio):
            return [self.step_s] * k
        if not self.variable_step:
            raise self._error(
                f"dt_s = {dt_s:g} s is not a multiple of the FMU's communication step "
                f"{self.step_s:g} s and the FMU cannot handle a variable communication step size "
                "(canHandleVariableCommunicationStepSize = false); choose a scenario step that "
                "is a multiple of the FMU step", self.time)
        whole = int(ratio)
        return [self.step_s] * whole + [dt_s - whole * self.step_s]

    def step(self, dt_s: float, **inputs: Any) -> dict[str, np.ndarray]:
        """Set the mapped inputs (scalars or (n,) arrays, testbed units), advance every instance
        by dt_s [s] and return the mapped outputs as fresh (n,) arrays in testbed units.
        Inputs not given keep their previous value (initially the FMU's start value)."""
        if self._failed is not None:
            raise self._error(f"stepped after a failure ({self._failed})", self.time)
        if not dt_s > 0:
            raise ValueError(f"dt_s = {dt_s!r}: the step must be > 0 s")
        if inputs:
            self._set_inputs(inputs)
        substeps = self._substeps.get(dt_s)
        if substeps is None:  # the (h, c_double(h)) plan of this dt_s, computed once
            substeps = [(h, ctypes.c_double(h)) for h in self._plan_steps(float(dt_s))]
            self._substeps[dt_s] = substeps
        t = self.time
        for h, hc in substeps:
            self._do_steps(t, h, hc)
            t += h
        self.time = t
        return self._outputs()

    def _set_inputs(self, inputs: dict[str, Any]) -> None:
        col = self._in_col
        one = self.n == 1
        for attr, x in inputs.items():
            try:
                kind, j, v, a, b, ident, row0, colv = col[attr]
            except KeyError:
                raise self._error(f"unknown input attribute {attr!r}; mapped inputs are "
                                  f"{sorted(col)}") from None
            tx = type(x)
            if kind == "r":
                if one:  # n = 1: one plain number is written (and converted) as a Python float
                    s = x if (tx is float or tx is int) else x.item() if (
                        tx is np.ndarray and x.shape == (1,) and x.dtype is _F64) else None
                    if s is not None:
                        row0[j] = s if ident else s * a + b
                        continue
                colv[:] = x if ident else np.multiply(x, a) + b
                continue
            if one:  # n = 1: a plain int/bool (or size-1 int/bool array) needs no validation pass
                s = x.item() if (tx is np.ndarray and x.shape == (1,)
                                 and x.dtype.kind in "iub") else x
                if (type(s) is int or type(s) is bool) and (
                        s == 0 or s == 1 if kind == "b" else -2**31 <= s < 2**31):
                    row0[j] = s
                    continue
            colv[:] = self._typed(v, np.asarray(x), "input")

    def _outputs(self) -> dict[str, np.ndarray]:
        res: dict[str, np.ndarray] = {}
        for kind, buf, attrs, ab, single in self._out_plan:
            if single is not None:  # one variable of this kind: copy (convert) its column
                attr, cv, a, b = single
                if kind == "r":
                    res[attr] = cv.copy() if ab is None else cv * a + b
                else:
                    res[attr] = cv.astype(np.int64 if kind == "i" else bool)
                continue
            if kind == "r":  # one (k, n) array for all variables of the kind; rows are returned
                if ab is None:
                    rows = buf.T.copy()
                else:
                    rows = np.multiply(buf.T, ab[0], order="C")
                    rows += ab[1]
            else:
                rows = buf.T.astype(np.int64 if kind == "i" else bool, order="C")
            res.update(zip(attrs, rows, strict=True))
        return res

    def initial_outputs(self) -> dict[str, np.ndarray]:
        """The mapped outputs right after initialisation (for mosaik's initial data)."""
        return {k: v.copy() for k, v in self._initial.items()}

    # ---- end ----------------------------------------------------------------------------------
    def terminate(self) -> None:
        """Terminate and free every instance (idempotent).  After an Error/Fatal status only
        freeInstance is called, as the FMI standard requires."""
        fmus, self._fmus = self._fmus, []
        for fmu in fmus:
            if fmu.component is None:
                continue
            try:
                if self._failed is None:
                    fmu.terminate()
            except Exception:
                pass
            try:
                fmu.freeInstance()
            except Exception:
                pass
            fmu.component = None
        if self._failed is None:
            self._failed = "terminated"

    free = terminate

    def __del__(self) -> None:
        try:
            self.terminate()
        except Exception:
            pass


def _dec(b: Any) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _label(status: int) -> str:
    return STATUS[status] if 0 <= status < len(STATUS) else f"illegal status {status}"


# ---------------------------------------------------------------------------------------------
# inspect / check
# ---------------------------------------------------------------------------------------------

def inspect_fmu(path: str | Path) -> str:
    """A human-readable summary: FMI version, kinds, platforms, step info and every variable."""
    path = Path(path)
    md = read_description(path)
    kinds = [k for k, v in (("CS", md.coSimulation), ("ME", md.modelExchange),
                            ("SE", md.scheduledExecution)) if v is not None]
    lines = [f"FMU:            {path}",
             f"model:          {md.modelName}   FMI {md.fmiVersion}   kinds: {', '.join(kinds)}"]
    for k, it in (("CS", md.coSimulation), ("ME", md.modelExchange)):
        if it is not None:
            lines.append(f"{k} identifier:  {it.modelIdentifier}")
    cs = md.coSimulation
    if cs is not None:
        lines.append(f"variable step:  {bool(cs.canHandleVariableCommunicationStepSize)}   "
                     f"once per process: {bool(cs.canBeInstantiatedOnlyOncePerProcess)}")
    de = md.defaultExperiment
    if de is not None:
        lines.append(f"default exp.:   start {de.startTime}  stop {de.stopTime}  "
                     f"step {de.stepSize}  tolerance {de.tolerance}")
    plats = archive_platforms(path)
    need = _platform_dir(md.fmiMajorVersion) if md.fmiMajorVersion in (2, 3) else "?"
    lines.append(f"platforms:      {', '.join(plats) or 'none'}   (this machine needs {need})")
    lines.append(f"generated by:   {md.generationTool or '?'}")
    rows = [("name", "causality", "variability", "type", "unit", "start")]
    for v in md.modelVariables:
        t = v.type + (f"[{','.join(str(d.start) for d in v.dimensions)}]" if v.dimensions else "")
        if getattr(v, "clocks", None):
            t += " (clocked)"
        rows.append((v.name, v.causality or "local", v.variability or "", t,
                     _var_unit(v) or "-", "-" if v.start is None else str(v.start)))
    w = [max(len(r[i]) for r in rows) for i in range(6)]
    lines.append(f"variables ({len(rows) - 1}):")
    lines += ["  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)


def check_fmu(path: str | Path, steps: int = 5, step_s: float | None = None) -> list[str]:
    """Instantiate, initialise and step the FMU ``steps`` times with every scalar output of a
    supported type mapped (no unit conversion); return the problems found (empty = ok)."""
    problems: list[str] = []
    path = Path(path)
    try:
        md = read_description(path)
    except FmuError as exc:
        return [str(exc)]
    try:
        read_description(path, validate=True)
    except FmuError as exc:
        problems.append(f"modelDescription.xml does not validate: {exc}")
    try:
        _check_kind(md, path.name)
    except FmuError as exc:
        return [*problems, str(exc)]
    major = md.fmiMajorVersion
    outs = {v.name: v.name for v in md.modelVariables
            if v.causality == "output" and not v.dimensions and not getattr(v, "clocks", None)
            and v.type in _KIND_OF_TYPE[major]}
    if step_s is None:
        de = md.defaultExperiment
        step_s = float(de.stepSize) if de is not None and de.stepSize else 1.0
    core = None
    try:
        core = FmuUnits(path, 1, FmuMapping(outputs=outs, convert_units=False), step_s=step_s)
        res = core.initial_outputs()
        for _ in range(steps):
            res = core.step(step_s)
        for attr, val in res.items():
            if val.dtype.kind == "f" and not np.all(np.isfinite(val)):
                problems.append(f"output {attr!r} is {val[0]!r} after {steps} steps")
        problems += [f"FMU logged: {m}" for m in core.log
                     if any(f"[{s}]" in m for s in ("Discard", "Error", "Fatal"))]
    except FmuError as exc:
        problems.append(str(exc))
    except Exception as exc:  # fmpy failures not mapped to FmuError
        problems.append(f"{path.name}: {type(exc).__name__}: {exc}")
    finally:
        if core is not None:
            core.terminate()
    return problems

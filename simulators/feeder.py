"""Low-voltage feeder power flow: a pure model core on pandapower, fed by a fleet of N houses.

A :class:`Feeder` holds ONE pandapower network for its whole life (built once, never rebuilt) and
runs one AC power flow (Newton–Raphson) per :meth:`Feeder.step`. The N house powers are mapped
onto the network's buses with one ``np.bincount`` and written into ``net.load`` with one column
assignment per quantity (P and Q); each house-carrying bus has exactly one load row owned by
the feeder.

Networks:

* :func:`danish_feeder_net` — the bundled Danish-style 0.4 kV suburban cable grid: 10/0.4 kV
  400 kVA secondary substation(s), radial Al cable feeders with cable distribution cabinets and
  one service cable per house. The construction and its sources are documented in the function's
  docstring and in ``docs/scenarios/kickback.md``.
* any pandapower network: an object (:meth:`Feeder.from_net`), a JSON or Excel file
  (:meth:`Feeder.from_file`) or a network name from ``pandapower.networks`` or — if the optional
  ``simbench`` package is installed — a SimBench code (:meth:`Feeder.from_name`), with a
  house-to-bus mapping.

Units: powers in kW / kvar at the feeder's interface (pandapower uses MW / Mvar internally);
consumption positive; voltages in p.u. of the bus nominal voltage; loadings in % of rating.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.networks as pn
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV, VA, VM

__all__ = [
    "DanishFeederConfig",
    "Feeder",
    "danish_feeder_net",
    "POWER_FACTOR_DEFAULT",
]

POWER_FACTOR_DEFAULT: float = 0.97
"""Default displacement power factor (inductive) of a house: heat-pump inverter drives and
household electronics draw close to unity (cos φ ≈ 0.95–0.99); 0.97 is the middle. Used when
``step`` gets no ``Q_kvar``. Configurable per feeder and per call."""

_OWN_LOAD_NAME: str = "heatflex_house_load"
"""Name of the load rows the feeder adds (one per house-carrying bus)."""


# --------------------------------------------------------------------------------------------
# Bundled Danish-style feeder
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DanishFeederConfig:
    """Construction parameters of the bundled Danish-style 0.4 kV grid (all configurable).

    Attributes:
        max_houses_per_transformer: houses per 10/0.4 kV substation; N houses need
            ceil(N / this) substations, all fed from one 10 kV busbar (several "feeders" in the
            sense of the kickback study: 1000 houses = 5 substations by default).
        trafo_std_type: pandapower standard type of the substation transformer.
        n_feeders: outgoing LV cable feeders per substation.
        houses_per_cabinet: houses served from one cable distribution cabinet ("kabelskab").
        first_span_m: cable length substation busbar → first cabinet, m.
        cabinet_spacing_m: cable length between neighbouring cabinets, m.
        trunk_std_type: cable of the feeder trunk (first half of the cabinets).
        branch_std_type: cable of the two branches that split the second half of the cabinets.
        service_length_m: service cable length cabinet → house, m (0 = houses on the cabinet
            bus, no service cable).
        service_std_type: service cable type.
        vm_mv_pu: voltage set point of the 10 kV slack busbar, p.u.
    """

    max_houses_per_transformer: int = 200
    trafo_std_type: str = "0.4 MVA 10/0.4 kV"
    n_feeders: int = 4
    houses_per_cabinet: int = 4
    first_span_m: float = 60.0
    cabinet_spacing_m: float = 40.0
    trunk_std_type: str = "NAYY 4x150 SE"
    branch_std_type: str = "NAYY 4x50 SE"
    service_length_m: float = 15.0
    service_std_type: str = "NAYY 4x50 SE"
    vm_mv_pu: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_houses_per_transformer", "n_feeders", "houses_per_cabinet"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"DanishFeederConfig.{name}={v!r}; allowed: an integer >= 1")
        for name in ("first_span_m", "cabinet_spacing_m"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"DanishFeederConfig.{name}={v!r}; allowed: a length > 0 m")
        v = float(self.service_length_m)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"DanishFeederConfig.service_length_m={v!r}; allowed: >= 0 m")
        v = float(self.vm_mv_pu)
        if not (math.isfinite(v) and 0.8 <= v <= 1.2):
            raise ValueError(f"DanishFeederConfig.vm_mv_pu={v!r}; allowed: 0.8..1.2 p.u.")


def _feeder_layout(n_houses: int, houses_per_cabinet: int) -> tuple[int, int, int]:
    """(trunk cabinets, branch-A cabinets, branch-B cabinets) of one feeder with ``n_houses``."""
    n_cab = max(1, math.ceil(n_houses / houses_per_cabinet))
    n_trunk = math.ceil(n_cab / 2)
    rest = n_cab - n_trunk
    return n_trunk, math.ceil(rest / 2), rest // 2


def danish_feeder_net(
    n_houses: int, config: DanishFeederConfig | None = None
) -> tuple[pp.pandapowerNet, np.ndarray]:
    """Build the bundled Danish-style 0.4 kV grid for ``n_houses`` houses.

    Construction (per 10/0.4 kV substation, ``config`` defaults in brackets):

    * one 10 kV busbar with the slack (``ext_grid``, ``vm_mv_pu`` [1.0]) feeds every substation;
    * transformer [pandapower "0.4 MVA 10/0.4 kV": Dyn5, u_k 4 %, u_kr 1.325 %, P0 0.95 kW] onto a
      0.4 kV busbar;
    * ``n_feeders`` [4] radial cable feeders; the substation's houses are dealt to the feeders in
      turn (house k → feeder k mod n_feeders);
    * along each feeder, cable distribution cabinets serving ``houses_per_cabinet`` [4] houses
      each; the first half of the cabinets sit on the trunk [NAYY 4x150 SE: Al 150 mm²,
      0.208 Ω/km, 270 A], the first ``first_span_m`` [60 m] from the busbar and then every
      ``cabinet_spacing_m`` [40 m]; the remaining cabinets continue on two branches from the last
      trunk cabinet [NAYY 4x50 SE: 0.642 Ω/km, 142 A] with the same spacing (a tapered radial
      feeder);
    * every house on its own bus at the end of a ``service_length_m`` [15 m] service cable
      [NAYY 4x50 SE].

    With 150 houses: 1 substation, 4 feeders of 37–38 houses, 10 cabinets per feeder (5 trunk,
    3 + 2 on the branches), feeder length ≈ 60 + 4·40 + 3·40 = 340 m to the farthest cabinet.

    Returns:
        ``(net, house_bus)``: the pandapower network (no loads yet) and the bus index of each
        house, shape (n_houses,).
    """
    cfg = DanishFeederConfig() if config is None else config
    if isinstance(n_houses, bool) or not isinstance(n_houses, int | np.integer) or n_houses < 1:
        raise ValueError(f"danish_feeder_net n_houses={n_houses!r}; allowed: an integer >= 1")
    n_houses = int(n_houses)
    net = pp.create_empty_network(name=f"heatflex Danish LV grid, {n_houses} houses")
    mv = pp.create_bus(net, vn_kv=10.0, name="MV busbar 10 kV")
    pp.create_ext_grid(net, mv, vm_pu=float(cfg.vm_mv_pu), name="MV grid")
    n_sub = math.ceil(n_houses / cfg.max_houses_per_transformer)
    house_bus = np.empty(n_houses, dtype=np.int64)
    sizes = np.full(n_sub, n_houses // n_sub)
    sizes[: n_houses % n_sub] += 1
    first = 0
    for s, n_s in enumerate(sizes):
        ids = np.arange(first, first + int(n_s))
        first += int(n_s)
        lv = pp.create_bus(net, vn_kv=0.4, name=f"S{s} LV busbar")
        pp.create_transformer(net, mv, lv, std_type=cfg.trafo_std_type, name=f"S{s} 10/0.4 kV")
        for f in range(cfg.n_feeders):
            f_ids = ids[f :: cfg.n_feeders]
            if f_ids.size:
                house_bus[f_ids] = _build_feeder(net, cfg, lv, f"S{s}F{f}", f_ids.size)
    return net, house_bus


def _build_feeder(
    net: pp.pandapowerNet, cfg: DanishFeederConfig, busbar: int, tag: str, n_houses: int
) -> np.ndarray:
    """Add one tapered radial feeder with ``n_houses`` houses; return their bus indices."""
    n_trunk, n_a, n_b = _feeder_layout(n_houses, cfg.houses_per_cabinet)
    km = cfg.cabinet_spacing_m / 1000.0
    trunk = pp.create_buses(net, n_trunk, vn_kv=0.4, name=[f"{tag} T{i}" for i in range(n_trunk)])
    pp.create_lines(
        net, np.r_[busbar, trunk[:-1]], trunk,
        length_km=np.r_[cfg.first_span_m / 1000.0, np.full(n_trunk - 1, km)],
        std_type=cfg.trunk_std_type, name=[f"{tag} trunk {i}" for i in range(n_trunk)],
    )
    cabinets = [trunk]
    for label, n_br in (("A", n_a), ("B", n_b)):
        if n_br == 0:
            continue
        br = pp.create_buses(net, n_br, vn_kv=0.4, name=[f"{tag} {label}{i}" for i in range(n_br)])
        pp.create_lines(
            net, np.r_[trunk[-1], br[:-1]], br, length_km=km, std_type=cfg.branch_std_type,
            name=[f"{tag} branch {label}{i}" for i in range(n_br)],
        )
        cabinets.append(br)
    cab = np.concatenate(cabinets)
    cab_of_house = cab[np.arange(n_houses) // cfg.houses_per_cabinet]
    if cfg.service_length_m <= 0.0:
        return cab_of_house.astype(np.int64)
    houses = pp.create_buses(net, n_houses, vn_kv=0.4, name=[f"{tag} H{i}" for i in
                                                             range(n_houses)])
    pp.create_lines(
        net, cab_of_house, houses, length_km=cfg.service_length_m / 1000.0,
        std_type=cfg.service_std_type, name=[f"{tag} service H{i}" for i in range(n_houses)],
    )
    return np.asarray(houses, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Feeder core
# --------------------------------------------------------------------------------------------


def _resolve_network(name: str) -> pp.pandapowerNet:
    """A pandapower network by name: ``pandapower.networks.<name>`` (with or without the
    ``create_`` prefix) or a SimBench code (optional ``simbench`` package)."""
    for attr in (name, f"create_{name}"):
        fn = getattr(pn, attr, None)
        if callable(fn):
            net = fn()
            if isinstance(net, pp.pandapowerNet):
                return net
    try:
        import simbench  # type: ignore[import-not-found]  # optional dependency
    except ImportError:
        simbench = None
    if simbench is not None:
        try:
            return simbench.get_simbench_net(name)
        except Exception as exc:  # simbench raises various errors for unknown codes
            raise ValueError(f"network name {name!r}: not a pandapower network and SimBench "
                             f"says: {exc}") from exc
    raise ValueError(
        f"network name {name!r}: not a function of pandapower.networks (e.g. "
        "'kerber_dorfnetz', 'create_cigre_network_lv'); SimBench codes need the optional "
        "'simbench' package"
    )


class Feeder:
    """Power flow of a low-voltage grid loaded by N houses; one AC power flow per :meth:`step`.

    The network is kept between calls: the first power flow initialises flat, later ones start
    from the previous result (``init="results"``) and reuse pandapower's internal model
    (``recycle``: only the bus P/Q change), so a step costs one Newton–Raphson solve.
    """

    def __init__(
        self,
        net: pp.pandapowerNet,
        house_bus: Sequence[int] | np.ndarray,
        *,
        power_factor: float = POWER_FACTOR_DEFAULT,
        keep_existing_loads: bool = False,
        recycle: bool = True,
        numba: bool | None = None,
        lightsim2grid: bool | None = None,
    ) -> None:
        """Wrap ``net`` (taken over, not copied) with N houses at the buses ``house_bus``.

        Args:
            net: a pandapower network with an ``ext_grid`` (slack).
            house_bus: bus index (label of ``net.bus``) of each house, shape (N,).
            power_factor: default displacement power factor, (0, 1], inductive.
            keep_existing_loads: keep the network's own loads in service (e.g. other customers);
                False (default) takes them out of service so only the houses load the grid.
            recycle: reuse pandapower's internal model between power flows (faster; results
                identical within the solver tolerance).
            numba: let pandapower use numba (None: if installed). numba halves the time per
                power flow but compiles for a few seconds in each new process.
            lightsim2grid: let pandapower solve with lightsim2grid's C++ Newton–Raphson (KLU
                sparse LU; same equations, results equal to 1e-12 p.u.). None: whenever it is
                installed and the net is compatible (pandapower's "auto"); True: required (error
                if the net is incompatible); False: pandapower's own solver. 3.5× faster per
                power flow on the 1000-house Danish grid (bench/feeder_fleet.py).
        """
        if not isinstance(net, pp.pandapowerNet):
            raise ValueError(f"Feeder net: expected a pandapowerNet, got {type(net)!r}")
        if len(net.ext_grid) == 0:
            raise ValueError("Feeder net: the network has no ext_grid (slack bus); add one")
        self.power_factor = _check_pf("power_factor", power_factor)
        hb = np.asarray(house_bus)
        if hb.ndim != 1 or hb.size == 0 or hb.dtype.kind not in "iu":
            raise ValueError(
                f"Feeder house_bus: got shape {hb.shape} dtype {hb.dtype}; allowed: a 1-D array "
                "of integer bus indices, one per house"
            )
        known = net.bus.index.to_numpy()
        bad = np.setdiff1d(hb, known)
        if bad.size:
            raise ValueError(f"Feeder house_bus: bus index {bad[0]} is not in net.bus")
        self.net = net
        self.n = int(hb.size)
        self.house_bus = hb.astype(np.int64)
        if not keep_existing_loads and len(net.load):
            net.load["in_service"] = False
        # one feeder-owned load row per distinct house bus; houses map to rows by bincount
        buses, inv = np.unique(self.house_bus, return_inverse=True)
        rows = pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0,
                               name=[_OWN_LOAD_NAME] * buses.size)
        self._n_rows = int(buses.size)
        self._house_row = inv.astype(np.intp)
        self._row_pos = net.load.index.get_indexer(rows)
        self._p_col = net.load["p_mw"].to_numpy(dtype=float, copy=True)
        self._q_col = net.load["q_mvar"].to_numpy(dtype=float, copy=True)
        self._house_bus_pos = net.bus.index.get_indexer(self.house_bus)
        lv = (net.bus["vn_kv"] <= 1.0).to_numpy() & net.bus["in_service"].to_numpy(dtype=bool)
        self._vmin_mask = lv if lv.any() else net.bus["in_service"].to_numpy(dtype=bool)
        self._recycle = bool(recycle)
        self._numba = _HAVE_NUMBA if numba is None else bool(numba) and _HAVE_NUMBA
        self._lightsim2grid: bool | str = "auto" if lightsim2grid is None else bool(lightsim2grid)
        self._voltage_depend_loads = _any_voltage_dependence(net.load)
        self._first = True
        self._map: _PpcMap | None = None
        self._map_sizes = (len(net.trafo), len(net.line), len(net.bus))
        self.n_power_flows: int = 0
        """Power flows run so far."""
        self.pf_time_s: float = 0.0
        """Wall time spent in pandapower's ``runpp``, s (sum over all power flows)."""
        self.E_loss_kWh: float = 0.0
        """Grid losses integrated over the steps, kWh."""

    # ------------------------------------------------------------------ constructors
    @classmethod
    def danish(
        cls, n_houses: int, config: DanishFeederConfig | None = None, **kwargs: Any
    ) -> Feeder:
        """The bundled Danish-style grid (:func:`danish_feeder_net`) with ``n_houses`` houses."""
        net, house_bus = danish_feeder_net(n_houses, config)
        return cls(net, house_bus, **kwargs)

    @classmethod
    def from_net(
        cls, net: pp.pandapowerNet, house_bus: Sequence[int] | np.ndarray | None = None,
        n_houses: int | None = None, *, copy_net: bool = True, **kwargs: Any
    ) -> Feeder:
        """Any pandapower network; the houses go to ``house_bus`` or, if None, are dealt in
        turn to the buses of the network's own loads (``n_houses`` of them, default one per
        load). The network is deep-copied unless ``copy_net`` is False."""
        net = copy.deepcopy(net) if copy_net else net
        if house_bus is None:
            house_bus = default_house_bus(net, n_houses)
        return cls(net, house_bus, **kwargs)

    @classmethod
    def from_json(
        cls, path: str | Path, house_bus: Sequence[int] | np.ndarray | None = None,
        n_houses: int | None = None, **kwargs: Any
    ) -> Feeder:
        """A network saved with ``pandapower.to_json``; mapping as in :meth:`from_net`."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"Feeder network file {str(p)!r} does not exist")
        net = pp.from_json(str(p))
        return cls.from_net(net, house_bus, n_houses, copy_net=False, **kwargs)

    @classmethod
    def from_file(
        cls, path: str | Path, house_bus: Sequence[int] | np.ndarray | None = None,
        n_houses: int | None = None, **kwargs: Any
    ) -> Feeder:
        """A network file: ``*.json`` (``pandapower.to_json``) or ``*.xlsx`` (``pandapower.
        to_excel``, the format many DSO tools export); mapping as in :meth:`from_net`."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".json":
            return cls.from_json(p, house_bus, n_houses, **kwargs)
        if suffix not in (".xlsx", ".xls"):
            raise ValueError(f"Feeder network file {str(p)!r}: allowed formats: .json "
                             "(pandapower.to_json) or .xlsx (pandapower.to_excel)")
        if not p.is_file():
            raise ValueError(f"Feeder network file {str(p)!r} does not exist")
        net = pp.from_excel(str(p))
        return cls.from_net(net, house_bus, n_houses, copy_net=False, **kwargs)

    @classmethod
    def from_name(
        cls, name: str, house_bus: Sequence[int] | np.ndarray | None = None,
        n_houses: int | None = None, **kwargs: Any
    ) -> Feeder:
        """A ``pandapower.networks`` network or SimBench code; mapping as in :meth:`from_net`."""
        net = _resolve_network(name)
        return cls.from_net(net, house_bus, n_houses, copy_net=False, **kwargs)

    # ------------------------------------------------------------------ stepping
    @property
    def n_bus(self) -> int:
        """Number of buses of the network."""
        return len(self.net.bus)

    @property
    def solver(self) -> str:
        """The Newton–Raphson implementation pandapower used for the last power flow:
        ``"lightsim2grid"`` (C++/KLU) or ``"pandapower"`` (Python/SuperLU, numba Jacobian);
        before the first flow, the one it is configured to use."""
        opts = getattr(self.net, "_options", None) or {}
        if self.n_power_flows == 0 or "lightsim2grid" not in opts:  # before the first flow
            from pandapower.auxiliary import lightsim2grid_available

            return ("lightsim2grid" if self._lightsim2grid and lightsim2grid_available
                    else "pandapower")
        return "lightsim2grid" if opts.get("lightsim2grid") else "pandapower"

    @property
    def mean_pf_time_us(self) -> float:
        """Mean wall time per power flow, µs (NaN before the first)."""
        return self.pf_time_s / self.n_power_flows * 1e6 if self.n_power_flows else math.nan

    def bus_powers_kW(
        self, P_kW: float | np.ndarray, Q_kvar: float | np.ndarray | None = None,
        power_factor: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per feeder-load-row (P kW, Q kvar): the houses summed per bus (for inspection)."""
        p, q = self._house_pq(P_kW, Q_kvar, power_factor)
        return (np.bincount(self._house_row, weights=p, minlength=self._n_rows),
                np.bincount(self._house_row, weights=q, minlength=self._n_rows))

    def _house_pq(
        self, P_kW: float | np.ndarray, Q_kvar: float | np.ndarray | None,
        power_factor: float | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        p = _vec(self.n, "P_kW", P_kW)
        if Q_kvar is not None:
            if power_factor is not None:
                raise ValueError("Feeder.step: give Q_kvar or power_factor, not both")
            return p, _vec(self.n, "Q_kvar", Q_kvar)
        pf = self.power_factor if power_factor is None else _check_pf("power_factor",
                                                                      power_factor)
        return p, p * math.tan(math.acos(pf))

    def step(
        self,
        dt_s: float,
        P_kW: float | np.ndarray,
        Q_kvar: float | np.ndarray | None = None,
        power_factor: float | None = None,
    ) -> dict[str, Any]:
        """Load the grid with the houses' powers and run one power flow.

        Args:
            dt_s: length of the interval the powers hold for, s (> 0); only used to integrate
                the losses (``E_loss_kWh``).
            P_kW: active power per house, kW, shape (N,) or scalar (consumption > 0).
            Q_kvar: reactive power per house, kvar (None: from the power factor).
            power_factor: power factor for this call (None: the feeder's default).

        Returns:
            ``trafo_loading_pct`` (n_trafo,), ``P_trafo_kW`` (n_trafo,, HV side),
            ``v_bus_pu`` (n_bus,, in ``net.bus`` order), ``v_house_pu`` (N,),
            ``line_loading_pct`` (n_line,), and floats ``trafo_loading_max_pct``,
            ``line_loading_max_pct``, ``v_min_pu`` (lowest LV bus voltage), ``v_max_pu``,
            ``P_loss_kW`` (lines + transformers), ``P_grid_kW`` (slack import), ``converged``.
            All arrays are fresh. If the power flow does not converge, the arrays are NaN and
            ``converged`` is False.
        """
        dt = float(dt_s)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"Feeder dt_s={dt_s!r}; allowed: a finite number > 0")
        p, q = self._house_pq(P_kW, Q_kvar, power_factor)
        self._p_col[self._row_pos] = np.bincount(
            self._house_row, weights=p, minlength=self._n_rows) / 1000.0
        self._q_col[self._row_pos] = np.bincount(
            self._house_row, weights=q, minlength=self._n_rows) / 1000.0
        net = self.net
        net.load["p_mw"] = self._p_col
        net.load["q_mvar"] = self._q_col
        converged = self._run()
        out = self._results(converged)
        if converged:
            self.E_loss_kWh += out["P_loss_kW"] * dt / 3600.0
        return out

    def _run(self) -> bool:
        """One pandapower power flow; True if it converged."""
        kwargs: dict[str, Any] = {}
        if self._first:
            # options stored by this first run are reused by the recycled runs
            kwargs["only_v_results"] = self._recycle
            kwargs["voltage_depend_loads"] = self._voltage_depend_loads
            kwargs["lightsim2grid"] = self._lightsim2grid
        else:
            kwargs["init"] = "results"
            if self._recycle:
                kwargs["recycle"] = {"bus_pq": True, "trafo": False, "gen": False}
        t0 = time.perf_counter()
        try:
            pp.runpp(self.net, numba=self._numba, **kwargs)
            ok = True
        except pp.LoadflowNotConverged:
            ok = False
        self.pf_time_s += time.perf_counter() - t0
        self.n_power_flows += 1
        if ok and self._first:
            self._map = _PpcMap(self.net)
        self._first = not ok  # restart flat after a failure
        return ok

    def _results(self, converged: bool) -> dict[str, Any]:
        """Outputs from pandapower's internal result arrays (the same formulas as pandapower's
        ``res_*`` tables, without the DataFrame writes; see ``_PpcMap``)."""
        n_tr, n_ln, n_b = self._map_sizes
        if not converged:
            nan = math.nan
            return {
                "trafo_loading_pct": np.full(n_tr, nan), "P_trafo_kW": np.full(n_tr, nan),
                "v_bus_pu": np.full(n_b, nan), "v_house_pu": np.full(self.n, nan),
                "line_loading_pct": np.full(n_ln, nan), "trafo_loading_max_pct": nan,
                "line_loading_max_pct": nan, "v_min_pu": nan, "v_max_pu": nan,
                "P_loss_kW": nan, "P_grid_kW": nan, "converged": False,
            }
        m = self._map
        assert m is not None
        vm, line, trafo, p_trafo_mw, loss_mw, grid_mw = m.evaluate(self.net)
        v_lv = vm[self._vmin_mask]
        return {
            "trafo_loading_pct": trafo,
            "P_trafo_kW": p_trafo_mw * 1000.0,
            "v_bus_pu": vm,
            "v_house_pu": vm[self._house_bus_pos],
            "line_loading_pct": line,
            "trafo_loading_max_pct": float(trafo.max()) if trafo.size else math.nan,
            "line_loading_max_pct": float(np.nanmax(line)) if line.size else math.nan,
            "v_min_pu": float(np.nanmin(v_lv)),
            "v_max_pu": float(np.nanmax(v_lv)),
            "P_loss_kW": loss_mw * 1000.0,
            "P_grid_kW": grid_mw * 1000.0,
            "converged": True,
        }


class _PpcMap:
    """Index maps from pandapower's internal (``ppci``) arrays to the net's tables.

    Built once after the first power flow (topology and in-service states are fixed for the
    feeder's life). ``evaluate`` applies pandapower's own result formulas
    (``results_branch._get_branch_flows`` / ``_get_line_results`` / ``_get_trafo_results`` with
    ``trafo_loading="current"``) to the internal arrays of the latest power flow.
    """

    def __init__(self, net: pp.pandapowerNet) -> None:
        it = net._ppc["internal"]
        n_ppci_bus = it["bus"].shape[0]
        ppc_bus = np.asarray(net._pd2ppc_lookups["bus"])[net.bus.index.to_numpy()]
        self.bus_ok = net.bus["in_service"].to_numpy(dtype=bool) & (ppc_bus < n_ppci_bus)
        self.bus_row = np.where(self.bus_ok, ppc_bus, 0)
        is_ = np.asarray(it["branch_is"], dtype=bool)
        ppci_row = np.cumsum(is_) - 1
        lookup = net._pd2ppc_lookups["branch"]

        def rows(elem: str, n: int) -> tuple[np.ndarray, np.ndarray]:
            if elem not in lookup or n == 0:
                return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=bool)
            f, t = lookup[elem]
            return np.where(is_[f:t], ppci_row[f:t], 0), is_[f:t].copy()

        self.line_rows, self.line_ok = rows("line", len(net.line))
        self.trafo_rows, self.trafo_ok = rows("trafo", len(net.trafo))
        ln, tr = net.line, net.trafo
        self.line_imax_ka = (ln["max_i_ka"] * ln["df"] * ln["parallel"]).to_numpy(dtype=float)
        self.trafo_vn = np.stack([tr["vn_hv_kv"].to_numpy(dtype=float),
                                  tr["vn_lv_kv"].to_numpy(dtype=float)], axis=1)
        self.trafo_div = (tr["sn_mva"] * tr["parallel"] * tr["df"]).to_numpy(dtype=float)
        self.ref = np.asarray(it["ref"], dtype=np.intp)
        br = it["branch"]
        self.f_bus = br[:, F_BUS].real.astype(np.intp)
        self.t_bus = br[:, T_BUS].real.astype(np.intp)
        self.base_kv_ft = np.stack([it["bus"][self.f_bus, BASE_KV], it["bus"][self.t_bus, BASE_KV]],
                                   axis=1)
        self.n_sizes = (len(tr), len(ln), len(net.bus))

    def evaluate(
        self, net: pp.pandapowerNet
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
        """(vm_pu per bus, line loading %, trafo loading %, trafo HV P MW, losses MW, slack MW)."""
        it = net._ppc["internal"]
        bus = it["bus"]
        vm = np.where(self.bus_ok, bus[self.bus_row, VM], np.nan)
        v = bus[:, VM] * np.exp(1j * np.deg2rad(bus[:, VA]))
        base = float(it["baseMVA"])
        s_f = v[self.f_bus] * np.conj(it["Yf"] @ v) * base
        s_t = v[self.t_bus] * np.conj(it["Yt"] @ v) * base
        vm_ft = np.stack([bus[self.f_bus, VM], bus[self.t_bus, VM]], axis=1) * self.base_kv_ft
        pf, qf, pt, qt = s_f.real, s_f.imag, s_t.real, s_t.imag
        i_ft = np.stack([np.hypot(pf, qf), np.hypot(pt, qt)], axis=1) / vm_ft / math.sqrt(3.0)
        i_line = i_ft[self.line_rows].max(axis=1) if self.line_rows.size else np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            line = np.where(self.line_ok, i_line / self.line_imax_ka * 100.0, 0.0)
        if self.trafo_rows.size:
            ld = (i_ft[self.trafo_rows] * self.trafo_vn).max(axis=1) * math.sqrt(3.0) * 100.0
            trafo = np.where(self.trafo_ok, ld / self.trafo_div, 0.0)
            p_trafo = np.where(self.trafo_ok, pf[self.trafo_rows], 0.0)
        else:
            trafo = p_trafo = np.zeros(0)
        loss = float(pf[self._loss_rows()].sum() + pt[self._loss_rows()].sum())
        s_inj = 0.0
        if self.ref.size:
            s_inj = float((v[self.ref] * np.conj(it["Ybus"][self.ref] @ v)).real.sum()) * base
        return vm, line, trafo, p_trafo, loss, s_inj

    def _loss_rows(self) -> np.ndarray:
        return np.concatenate([self.line_rows[self.line_ok], self.trafo_rows[self.trafo_ok]])


def default_house_bus(net: pp.pandapowerNet, n_houses: int | None = None) -> np.ndarray:
    """Houses dealt in turn to the buses of the network's in-service loads (load order).

    ``n_houses`` None: one house per load. Raises ValueError if the network has no loads.
    """
    loads = net.load[net.load["in_service"].astype(bool)]
    if len(loads) == 0:
        raise ValueError("Feeder: the network has no loads to place houses on; give house_bus")
    buses = loads["bus"].to_numpy(dtype=np.int64)
    n = buses.size if n_houses is None else int(n_houses)
    if n < 1:
        raise ValueError(f"Feeder n_houses={n_houses!r}; allowed: an integer >= 1")
    return buses[np.arange(n) % buses.size]


def _any_voltage_dependence(load: Any) -> bool:
    """True if an in-service load has a constant-impedance or constant-current share."""
    cols = [c for c in ("const_z_percent", "const_i_percent", "const_z_p_percent",
                        "const_i_p_percent", "const_z_q_percent", "const_i_q_percent")
            if c in load.columns]
    if not cols:
        return False
    on = load["in_service"].to_numpy(dtype=bool)
    vals = load[cols].to_numpy(dtype=float)[on]
    return bool(np.nan_to_num(vals).any())


def _check_pf(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise ValueError(f"Feeder {name}={value!r}; allowed: a power factor in (0, 1]")
    return v


def _vec(n: int, name: str, value: float | np.ndarray) -> np.ndarray:
    """A per-house input as a float (n,) array (scalars broadcast), finite."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"Feeder {name}: shape {arr.shape}; allowed: a number or ({n},)")
    if not np.isfinite(arr).all():
        raise ValueError(f"Feeder {name}: non-finite value; allowed: finite numbers")
    return arr


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401  # optional speed-up used by pandapower
    except ImportError:
        return False
    return True


_HAVE_NUMBA: bool = _numba_available()

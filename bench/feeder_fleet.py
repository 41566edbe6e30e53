"""Benchmark: feeder power flows and whole winter-week fleet runs (issue #9).

Part 1 — power flow. For each fleet size N the bundled Danish grid is built (N houses; 200 per
400 kVA substation, so 1000 houses = 5 substations in one network), loaded with a sampled fleet's
household base load plus a seeded on/off heat-pump draw, and stepped ``--n-pf`` times. Figures per
size: build time; mean wall time per ``Feeder.step`` (one recycled Newton–Raphson power flow plus
the vectorised mapping and result extraction) and per pandapower ``runpp`` inside it; the floor
measured in the same run — a plain ``pandapower.runpp`` on the same network with default options
(fresh model, full result tables), once with pandapower's own Newton–Raphson and once with
lightsim2grid's (what ``Feeder`` uses when installed) — and the ratios; the number of power
flows per simulated week at 5-min flows (2016) times the step cost. numba compile time is
excluded by warm-up steps.

Part 2 — fleet runs. One winter week (``--quick``: one day) of the bundled ``kickback_feeder``
scenario (60 s heat steps, the 2-h SG-Ready block of day 1, no counterfactual) with
``fleet.n_houses`` and ``duration`` overridden, validated with ``scenarios.schema.validate_data``,
assembled by ``scenarios.kickback_world.assemble_kickback`` and run with ``world.run``:

* ``--run-sizes`` (150, 1000): 5-min power flows on the Danish grid (1000 houses = 5 feeders /
  MV/LV transformers at ``houses_per_transformer`` = 200);
* ``--lean-sizes`` (1000): as ``--run-sizes`` but ``fleet.record_houses = false`` (the cost of
  recording 7 values per house per minute, by difference; no plain-loop repeat);
* ``--agg-sizes`` (10 000): only the aggregate at the MV/LV transformers — the scenario's
  ``feeder.network = "aggregate"`` (``simulators/feeder_aggregate.py``) with
  ``fleet.record_houses = false`` (fleet and transformer aggregates recorded, not 7 values per
  house per minute).

The mosaik run includes the assembly's Recorder (parquet, per-house heat-pump/building records,
to a temporary folder deleted afterwards). In the same process the same cores (``sample_fleet``
→ Building, HeatPump, Tank, Thermostat room controller, DHW demand, base load, via
``build_kickback_fleet``) are stepped in a bare Python loop without mosaik, with the same load
aggregation and the same grid stage (power flow or transformer sums); that loop's wall time is
split into fleet and grid parts. Figures per size: assembly and run wall time, simulated seconds
per wall second for both paths, mosaik/plain ratio, the issue's target and whether it was met.
Prints one JSON line.

Usage: python bench/feeder_fleet.py [--quick] [--sizes 150 1000] [--n-pf 100] [--seed 0]
                                    [--run-sizes 150 1000] [--lean-sizes 1000]
                                    [--agg-sizes 10000] [--no-plain]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scenarios.kickback_world as kw  # noqa: E402
from scenarios import schema  # noqa: E402
from scenarios.catalog import resolve_scenario_path  # noqa: E402
from scenarios.world import build_site  # noqa: E402
from simulators.cosim import base as cosim_base  # noqa: E402
from simulators.feeder import Feeder  # noqa: E402
from simulators.fleet import sample_fleet  # noqa: E402

WEEK_FLOWS_5MIN = 7 * 24 * 12
WEEK_S, DAY_S = 7 * 86400.0, 86400.0
SCENARIO = "kickback_feeder"
TARGET_WALL_S = {1000: 60.0, 10_000: 600.0}
"""Issue #9 targets for one simulated week, wall seconds."""


def _loads(n: int, seed: int, steps: int) -> np.ndarray:
    """(steps, n) house powers, kW: base load + heat pump on (rated/3 electric) or off."""
    fleet = sample_fleet(n, seed=seed)
    base = fleet.base_load(datetime(2024, 1, 15))
    rng = np.random.default_rng(seed)
    p_hp = fleet.Q_rated_kW / 3.0  # ~ rated heat / COP 3
    out = np.empty((steps, n))
    for k in range(steps):
        on = rng.random(n) < 0.6
        out[k] = base.step(300.0, 16 * 3600.0 + 300.0 * k) + on * p_hp
    return out


def bench_size(n: int, n_pf: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    feeder = Feeder.danish(n)
    build_s = time.perf_counter() - t0
    loads = _loads(n, seed, n_pf + 3)
    for k in range(3):  # warm-up: first (full) power flow and numba compilation
        feeder.step(300.0, loads[k])
    feeder.n_power_flows, feeder.pf_time_s = 0, 0.0
    t0 = time.perf_counter()
    for k in range(3, n_pf + 3):
        out = feeder.step(300.0, loads[k])
    step_s = (time.perf_counter() - t0) / n_pf
    # floor: plain pandapower on the same network and loads, default options
    net = copy.deepcopy(feeder.net)
    plain: dict[bool, float] = {}
    for ls in (False, True):
        pp.runpp(net, lightsim2grid=ls)
        reps = max(5, n_pf // 10)
        t0 = time.perf_counter()
        for _ in range(reps):
            pp.runpp(net, lightsim2grid=ls)
        plain[ls] = (time.perf_counter() - t0) / reps
    plain_s = plain[False]
    return {
        "houses": n,
        "buses": feeder.n_bus,
        "transformers": int(len(feeder.net.trafo)),
        "build_s": round(build_s, 3),
        "us_per_step": round(step_s * 1e6, 1),
        "us_per_runpp": round(feeder.mean_pf_time_us, 1),
        "solver": feeder.solver,
        "us_per_plain_runpp": round(plain_s * 1e6, 1),
        "us_per_plain_runpp_lightsim2grid": round(plain[True] * 1e6, 1),
        "plain_over_step": round(plain_s / step_s, 2),
        "week_5min_flows_s": round(step_s * WEEK_FLOWS_5MIN, 1),
        "trafo_loading_max_pct_last": round(float(out["trafo_loading_max_pct"]), 1),
        "v_min_pu_last": round(float(out["v_min_pu"]), 4),
    }


# ---------------------------------------------------------------------------------------------
# Part 2: whole fleet runs — kickback assembly (mosaik) vs a bare loop over the same cores
# ---------------------------------------------------------------------------------------------


def _scenario(n: int, duration_s: float, seed: int, aggregate: bool = False,
              house_records: bool | None = None) -> schema.Scenario:
    """The bundled scenario resized: ``aggregate`` = transformer sums only and (by default) no
    per-house records (what a 10 000-house study records: fleet and transformer aggregates)."""
    sc, _ = schema.load_scenario(resolve_scenario_path(SCENARIO))
    data = schema.resolved_dict(sc)
    data["fleet"] = {**data["fleet"], "n_houses": n, "seed": seed,
                     "record_houses": not aggregate if house_records is None else house_records}
    data["feeder"] = {**data["feeder"], "counterfactual": False,
                      **({"network": "aggregate"} if aggregate else {})}
    data["duration"] = duration_s
    data.pop("end", None)
    return schema.validate_data(data, f"{SCENARIO} (bench, n_houses = {n})")


def _mosaik_run(sc: schema.Scenario) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="bench_feeder_fleet_"))
    cosim_base.CRASHES.clear()
    try:
        t0 = time.perf_counter()
        asm = kw.assemble_kickback(sc, out, "bench")
        assemble_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            asm.world.run(until=asm.until, print_progress=False,
                          lazy_stepping=asm.lazy_stepping)
        finally:
            run_s = time.perf_counter() - t0
            from adapters import parquet as parquet_mod

            for rec in list(parquet_mod.ACTIVE):
                rec.close()
            asm.site.close()
        if cosim_base.CRASHES:
            c = cosim_base.CRASHES[0]
            raise RuntimeError(f"simulator {c.sid} crashed at t = {c.time}:\n{c.traceback}")
        rec_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"assemble_s": assemble_s, "run_s": run_s, "records_MB": rec_mb,
            "grid_solver": asm.site.info.get("grid_solver")}


def _plain_loop(sc: schema.Scenario) -> dict[str, Any]:
    """The kickback world's cores and data flow stepped in a bare Python loop (no mosaik)."""
    t0 = time.perf_counter()
    site = build_site(sc, sc.seed)
    c = kw.build_kickback_fleet(sc)
    n = c["fleet"].n
    _lo, p_hi = c["heatpump"].compressor_power_range_kW(0.0, 0.0, 0.0, False)
    sched = kw.event_schedule(sc, n, np.asarray(p_hi, dtype=float)) if sc.events else None
    hp = kw.EventHeatPump(c["heatpump"], sched, n)
    building, tank, ctrl = c["building"], c["tank"], c["controller"]
    demand, base = c["demand"], c["base"]
    fd = sc.feeder
    assert fd is not None
    step = float(sc.step)
    k_f = int(round(fd.interval / step))
    load = kw.HouseLoad(k_f, n)
    grid = kw.FeederCore(kw.build_feeder(sc, n))
    T_room = np.asarray(building.state[:, 0], dtype=float)
    layers = np.full((n, sc.site.tank.n_layers), sc.site.tank.T0_C)
    build_s = time.perf_counter() - t0
    n_steps = int(round(sc.duration_s / step))
    w_step = max(1, int(round(sc.weather.step / step)))
    grid_s = 0.0
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    for i in range(n_steps):
        t = i * step
        if i % w_step == 0:
            w = site.weather.at(t)
        cmd = ctrl.step(step, T_room_C=T_room, T_out_C=w["T_out_C"], T_layers_C=layers, t_s=t)
        h = hp.step(step, t, cmd["Q_req_kW"], cmd["dhw_mode"], cmd["sg_ready_state"],
                    w["T_out_C"], w["T_out_24h_C"], w["T_out_168h_C"])
        T_room = building.step(step, Q_heat_kW=h["Q_sh_kW"], T_out_C=w["T_out_C"])["T_room_C"]
        layers = tank.step(step, Q_charge_kW=h["Q_dhw_kW"], T_charge_C=h["T_supply_C"],
                           Q_draw_kW=demand.mean_kW(t, t + step))["T_layers_C"]
        agg = load.step(step, h["P_el_kW"], base.step(step, t), h["Q_sh_kW"], h["Q_dhw_kW"],
                        h["hp_state"], h["in_event"])
        if i % k_f == 0:
            tg = time.perf_counter()
            out = grid.step(k_f * step, agg["P_window_kW"])
            grid_s += time.perf_counter() - tg
    run_s = time.perf_counter() - t0
    site.close()
    return {"build_s": build_s, "run_s": run_s, "grid_s": grid_s, "steps": n_steps,
            "trafo_loading_max_pct_last": float(out.get("trafo_loading_max_pct", math.nan)),
            "P_total_kW_last": float(agg["P_total_kW"])}


def bench_run(n: int, duration_s: float, seed: int, aggregate: bool,
              plain: bool, house_records: bool | None = None) -> dict[str, Any]:
    sc = _scenario(n, duration_s, seed, aggregate, house_records)
    fd = sc.feeder
    assert fd is not None and sc.fleet is not None
    res: dict[str, Any] = {
        "houses": n, "grid": "transformer_sums" if aggregate else "power_flow",
        "house_records": sc.fleet.record_houses,
        "transformers": math.ceil(n / fd.houses_per_transformer),
        "simulated_s": duration_s, "heat_step_s": sc.step, "pf_interval_s": fd.interval,
    }
    try:
        m = _mosaik_run(sc)
    except Exception as exc:  # noqa: BLE001 — reported in the JSON, the other sizes still run
        res["mosaik_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        m = None
    if m is not None:
        res.update({
            "mosaik_assemble_s": round(m["assemble_s"], 2), "mosaik_run_s": round(m["run_s"], 2),
            "mosaik_sim_per_wall": round(duration_s / m["run_s"], 1),
            "mosaik_records_MB": round(m["records_MB"], 1), "grid_solver": m["grid_solver"],
        })
        week_s = m["run_s"] * WEEK_S / duration_s
        res["mosaik_week_run_s_est"] = round(week_s, 1)
        if n in TARGET_WALL_S:
            res["target_week_s"] = TARGET_WALL_S[n]
            res["target_met"] = bool(week_s <= TARGET_WALL_S[n])
    if plain:
        q = _plain_loop(sc)
        res.update({
            "plain_build_s": round(q["build_s"], 2), "plain_run_s": round(q["run_s"], 2),
            "plain_grid_s": round(q["grid_s"], 2),
            "plain_fleet_s": round(q["run_s"] - q["grid_s"], 2),
            "plain_sim_per_wall": round(duration_s / q["run_s"], 1),
            "plain_trafo_loading_max_pct_last": round(q["trafo_loading_max_pct_last"], 1),
        })
        if m is not None:
            res["mosaik_over_plain"] = round(m["run_s"] / q["run_s"], 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 1000],
                    help="power-flow part: fleet sizes")
    ap.add_argument("--n-pf", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-sizes", type=int, nargs="*", default=[150, 1000],
                    help="fleet runs with 5-min power flows")
    ap.add_argument("--agg-sizes", type=int, nargs="*", default=[10_000],
                    help="fleet runs with transformer sums only")
    ap.add_argument("--lean-sizes", type=int, nargs="*", default=[1000],
                    help="fleet runs with 5-min power flows, without per-house records")
    ap.add_argument("--quick", action="store_true", help="one simulated day instead of a week")
    ap.add_argument("--no-plain", action="store_true", help="skip the bare-loop comparison")
    args = ap.parse_args()
    from scenarios.runner import _quiet_mosaik_logs

    _quiet_mosaik_logs()  # mosaik's INFO lines on stderr; keep warnings and errors
    results = [bench_size(n, args.n_pf, args.seed) for n in args.sizes]
    duration = DAY_S if args.quick else WEEK_S
    runs = [bench_run(n, duration, args.seed, False, not args.no_plain) for n in args.run_sizes]
    runs += [bench_run(n, duration, args.seed, False, False, house_records=False)
             for n in args.lean_sizes]
    runs += [bench_run(n, duration, args.seed, True, not args.no_plain) for n in args.agg_sizes]
    print(json.dumps({
        "bench": "feeder_fleet",
        "pandapower": pp.__version__,
        "n_pf": args.n_pf,
        "sizes": results,
        "scenario": SCENARIO,
        "simulated_s": duration,
        "runs": runs,
    }))


if __name__ == "__main__":
    main()

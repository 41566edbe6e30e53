"""Run a scenario as fast as possible and write the run folder (DESIGN.md contract):
``run.json``, ``summary.json``, ``timeseries/<measurement>.parquet``, ``report.html`` +
``plots/*.png`` and ``scenario.toml`` (the fully resolved scenario that ran).

mosaik's ``World.run`` logs a simulator's exception and returns normally; the runner checks for
crashed simulators itself and fails the run with the simulator's traceback.
"""

from __future__ import annotations

import json
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from adapters import influx as influx_mod
from adapters import parquet as parquet_mod
from hil.watchdog import Interrupted, terminate_as_exception
from scenarios import schema
from scenarios.catalog import resolve_scenario_path
from scenarios.fcr_world import collect_fast_records
from scenarios.kpi import compute_kpis, fcr_fleet_kpis, fleet_comparison, split_fleet_frames
from scenarios.report import write_report
from scenarios.world import assemble
from simulators.cosim import base as cosim_base

PACKAGES = ("mosaik", "mosaik-api-v3", "numpy", "pandas", "scipy", "pyarrow", "pydantic",
            "fmpy", "pymodbus", "influxdb-client", "simpy")  # fmt: skip


class RunFailed(RuntimeError):
    """A run did not complete; the message carries the failing simulator's traceback."""


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_scenario(
    scenario: str | Path,
    out_dir: str | Path | None = None,
    until_s: float | None = None,
    seed: int | None = None,
    progress: bool = True,
    report: bool = True,
    influx_url: str | None = None,
    realtime: bool = False,
    counterfactual: bool = False,
    controller: str | None = None,
) -> Path:
    """Run a scenario; return the run folder.  Raises ScenarioError or RunFailed.

    ``influx_url`` adds (or re-targets) an InfluxDB recorder, as ``heatflex run --influx``;
    ``realtime`` paces the run to the wall clock (``heatflex run --realtime``; a scenario with
    ``[hil]`` is paced anyway); ``controller`` replaces the scenario's ``controller.type``
    (``heatflex run flexheat_nordhavn --controller optimised``; the other controller settings
    are kept when the type stays the same, else the new type's defaults apply)."""
    path = resolve_scenario_path(str(scenario))
    sc, _raw = schema.load_scenario(path)
    sc = schema.absolutize_paths(sc, path.resolve().parent)
    updates: dict[str, Any] = {}
    if seed is not None:
        updates["seed"] = seed
    if until_s is not None:
        if until_s <= 0:
            raise schema.ScenarioError([f"--until {until_s}: expected a positive duration"])
        updates.update(duration=float(until_s), end=None)
    if influx_url is not None:
        recs = [r for r in schema.resolved_dict(sc)["recorders"] if r["type"] != "influx"]
        old = next((r for r in schema.resolved_dict(sc)["recorders"] if r["type"] == "influx"), {})
        updates["recorders"] = [*recs, {**old, "type": "influx", "url": influx_url}]
    if counterfactual:
        if sc.feeder is None:
            raise schema.ScenarioError([f"{path}: --counterfactual needs a [feeder] section "
                                        "(kickback run)"])
        updates["feeder"] = {**schema.resolved_dict(sc)["feeder"], "counterfactual": True}
    if controller is not None and controller != sc.controller.type:
        old_ctl = schema.resolved_dict(sc)["controller"]
        keep = ({k: v for k, v in old_ctl.items() if k != "type"}
                if {controller, sc.controller.type} == {"optimised", "optimised_fcr_n"} else {})
        updates["controller"] = {**keep, "type": controller}
    if realtime and sc.hil is None:
        updates["hil"] = {"realtime": True}
    if updates:
        sc = schema.validate_data({**schema.resolved_dict(sc), **updates}, str(path))
    resolved = schema.resolved_dict(sc)
    tag = f"{sc.name}-{sc.controller.type}" if sc.plant is not None else sc.name
    run_id = f"{tag}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    out = Path(out_dir) if out_dir else Path("runs") / run_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.toml").write_text(schema.dump_toml(resolved), encoding="utf-8")

    meta: dict[str, Any] = {
        "run_id": run_id,
        "scenario": sc.name,
        "scenario_file": str(path),
        "scenario_hash": schema.scenario_hash(resolved),
        "seed": sc.seed,
        "start": sc.start.isoformat(),
        "end": (sc.start + timedelta(seconds=sc.duration_s)).isoformat(),
        "step_s": sc.step,
        "mode": "as-fast-as-possible" if sc.hil is None else "paced",
        "versions": _versions(),
        "started_utc": datetime.now(UTC).isoformat(),
    }
    _quiet_mosaik_logs()
    cosim_base.CRASHES.clear()
    influx_mod.close_all()  # forget stats of earlier runs in this process
    influx_stats: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    error: str | None = None
    assembled = None
    try:
        assembled = assemble(sc, out, run_id)
        meta["steps"] = int(assembled.until // max(1, round(sc.step / sc.time_resolution)))
        meta["site"] = assembled.site.info
        with terminate_as_exception():  # SIGTERM → Interrupted: the finally below still runs
            assembled.world.run(until=assembled.until, print_progress=progress,
                                lazy_stepping=assembled.lazy_stepping)
    except (Exception, Interrupted, KeyboardInterrupt) as exc:  # reported with traceback below
        import traceback

        error = traceback.format_exc()
        if not cosim_base.CRASHES:
            error = f"{type(exc).__name__}: {exc}\n{error}"
    finally:
        for rec in list(parquet_mod.ACTIVE):
            rec.close()
        influx_stats = influx_mod.close_all()
        if assembled is not None and assembled.hil is not None:
            assembled.hil.close()  # devices to fail-safe, server stopped — before anything else
            meta["hil"] = assembled.hil.stats()
        if assembled is not None:
            assembled.site.close()
            collect_fast_records(assembled.recorder_dir)
        if assembled is not None and error is not None:
            _cancel_pending(assembled.world)
    meta["wall_time_s"] = round(time.perf_counter() - t0, 3)
    if influx_stats:
        meta["influx"] = influx_stats
        if any(st.get("points_pending", 0) for st in influx_stats):
            import sys

            print(f"InfluxDB unreachable: points spooled in {out}/influx_spool; send them later "
                  f"with: heatflex influx replay {out}", file=sys.stderr)
    if cosim_base.CRASHES:
        crash = cosim_base.CRASHES[0]
        error = (f"simulator {crash.sid} crashed at t = {crash.time} "
                 f"({sc.time_resolution:g} s units):\n{crash.traceback}")
    if error is not None:
        meta["status"] = "failed"
        meta["error"] = error
        _write_json(out / "run.json", meta)
        raise RunFailed(error)

    meta["status"] = "completed"
    frames = parquet_mod.read_timeseries(out / "timeseries")
    comfort = sc.site.comfort
    report_meta: dict[str, Any] = meta
    if sc.frequency is not None:  # FCR fleet: the fleet's KPIs, FCR KPIs, vs counterfactual
        frames, ref_frames = split_fleet_frames(frames)
        kpis = compute_kpis(frames, comfort.T_low_C, comfort.T_high_C, step_s=sc.step)
        kpis.update(fcr_fleet_kpis(frames, step_s=sc.frequency.step))
        if "building" in ref_frames:
            ref = compute_kpis(ref_frames, comfort.T_low_C, comfort.T_high_C, step_s=sc.step)
            kpis.update(fleet_comparison(kpis, ref))
            report_meta = {**meta, "reference_kpis": ref}
    elif sc.feeder is not None:  # kickback run: rebound KPIs per event (scenarios/rebound.py)
        from scenarios.kickback_world import kickback_kpis

        kpis = kickback_kpis(frames, sc, meta.get("site", {}), step_s=sc.step)
    elif sc.plant is not None:  # district-heating plant (FlexHeat): the cost table KPIs
        from scenarios.flexheat_world import flexheat_kpis

        kpis = flexheat_kpis(frames, sc)
    elif sc.market is not None:  # market fleet: residential + market KPIs, vs the other mode
        from scenarios.market_world import market_run_kpis

        frames, kpis, ref_kpis = market_run_kpis(frames, sc)
        if ref_kpis:
            report_meta = {**meta, "reference_kpis": ref_kpis}
    else:
        kpis = compute_kpis(frames, comfort.T_low_C, comfort.T_high_C, step_s=sc.step)
    summary: dict[str, Any] = {"kpis": kpis, "verdicts": {}}
    if "hil" in meta:
        pacing = meta["hil"]["pacing"]
        summary["valid"] = bool(pacing["valid"])
        summary["verdicts"]["realtime"] = {
            "pass": bool(pacing["valid"]), "value": pacing["lateness_max_ms"],
            "limit": pacing.get("allowed_lateness_ms"), "unit": "ms",
            "detail": f"{pacing['deadline_misses']} of {pacing['steps']} steps later than "
                      "allowed; a run with misses is invalid"}
    _write_json(out / "summary.json", summary)
    if report and sc.plant is not None:
        from scenarios.flexheat_report import write_flexheat_report

        write_flexheat_report(out, frames, kpis, report_meta, sc)
    elif report and sc.feeder is not None:
        from scenarios.kickback_report import write_kickback_report

        write_kickback_report(out, frames, kpis, report_meta, sc)
    elif report:
        write_report(out, frames, kpis, report_meta, comfort.T_low_C, comfort.T_high_C,
                     step_s=sc.step)
    meta["finished_utc"] = datetime.now(UTC).isoformat()
    _write_json(out / "run.json", meta)
    return out


def _cancel_pending(world: Any) -> None:
    """After a failed run, cancel mosaik's remaining simulator tasks and close its loop."""
    import asyncio
    import contextlib

    loop = world.loop
    if loop.is_closed():
        return
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    with contextlib.suppress(Exception):
        world.shutdown()
    with contextlib.suppress(Exception):
        loop.close()


def _quiet_mosaik_logs() -> None:
    """mosaik logs every simulator start at INFO through loguru; keep warnings and errors."""
    import sys

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)

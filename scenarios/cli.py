"""``heatflex`` command line: run, list and validate scenarios; FMU, InfluxDB, HIL tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenarios import schema


def _cmd_run(args: argparse.Namespace) -> int:
    from scenarios.runner import RunFailed, run_scenario

    try:
        until = schema.parse_duration(args.until) if args.until is not None else None
    except ValueError as exc:
        print(f"heatflex run: --until {args.until!r} — {exc}", file=sys.stderr)
        return 2
    try:
        out = run_scenario(args.scenario, args.out, until, args.seed,
                           progress=not args.quiet, influx_url=args.influx,
                           realtime=args.realtime,
                           counterfactual=getattr(args, "counterfactual", False),
                           controller=getattr(args, "controller", None))
    except schema.ScenarioError as exc:
        for m in exc.messages:
            print(m, file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"heatflex run: the run failed\n{exc}", file=sys.stderr)
        return 1
    print(f"run folder: {out}")
    summary = (out / "summary.json").read_text(encoding="utf-8")
    print(summary)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    """``heatflex compare RUN_DIR...``: the numeric KPIs of the runs side by side; FlexHeat runs
    also get the report's cost table (savings against the control-loop run) and the comparison
    plots in ``--out``."""
    import json

    k = []
    runs = []
    for d in args.runs:
        f = Path(d) / "summary.json"
        if not f.is_file():
            print(f"heatflex compare: {f} does not exist (not a run folder)", file=sys.stderr)
            return 2
        k.append(json.loads(f.read_text(encoding="utf-8")).get("kpis", {}))
        r = Path(d) / "run.json"
        runs.append(json.loads(r.read_text(encoding="utf-8")) if r.is_file() else {})
    if len(args.runs) < 2:
        print("heatflex compare: give at least two run folders", file=sys.stderr)
        return 2
    if all(r.get("site", {}).get("plant") == "flexheat" for r in runs):
        from scenarios.flexheat_report import compare_flexheat

        out = args.out or Path(args.runs[0]).parent / "compare"
        text, made = compare_flexheat(list(args.runs), out)
        print(text)
        for p in made:
            print(f"plot: {p}")
        return 0
    width = 22
    print(f"{'kpi':44s} " + " ".join(f"{str(Path(d).name)[:width]:>{width}s}" for d in args.runs))
    keys: list[str] = []
    for kk in k:
        keys += [x for x in kk if x not in keys]
    for key in keys:
        vals = [kk.get(key) for kk in k]
        if any(isinstance(v, int | float) for v in vals):
            cells = [f"{v:.4g}" if isinstance(v, int | float) else "-" for v in vals]
            print(f"{key:44s} " + " ".join(f"{c:>{width}s}" for c in cells))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from scenarios.catalog import bundled_scenarios

    for name, desc in bundled_scenarios():
        print(f"{name:32s} {desc}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from scenarios.catalog import resolve_scenario_path

    status = 0
    for name in args.files:
        try:
            path = resolve_scenario_path(name)
            schema.load_scenario(path)
            print(f"{path}: ok")
        except schema.ScenarioError as exc:
            for m in exc.messages:
                print(m, file=sys.stderr)
            status = 2
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``heatflex``."""
    p = argparse.ArgumentParser(prog="heatflex", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario and write its run folder")
    r.add_argument("scenario", help="path to a scenario TOML file or a bundled scenario name")
    r.add_argument("--out", type=Path, default=None, help="run folder (default runs/<run_id>)")
    r.add_argument("--until", default=None, help="simulate only this long, e.g. 2d or 3600")
    r.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--influx", default=None, metavar="URL",
                   help="also record to InfluxDB at URL (token from $INFLUX_TOKEN)")
    r.add_argument("--realtime", action="store_true",
                   help="pace to the wall clock (hil/pacer.py; lateness in run.json)")
    r.add_argument("--counterfactual", action="store_true",
                   help="kickback runs: also run the same fleet without the events (paired)")
    r.add_argument("--controller", default=None,
                   choices=["control_loop", "optimised", "optimised_fcr_n", "thermostat",
                            "price_rule"],
                   help="replace the scenario's controller.type (FlexHeat: control_loop | "
                        "optimised | optimised_fcr_n)")
    r.set_defaults(func=_cmd_run)
    cmp_ = sub.add_parser("compare", help="print run folders' KPIs side by side (FlexHeat runs: "
                                          "the cost table and comparison plots)")
    cmp_.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    cmp_.add_argument("--out", type=Path, default=None,
                      help="folder for comparison plots (default: <first run>/../compare)")
    cmp_.set_defaults(func=_cmd_compare)
    ls = sub.add_parser("list", help="list the bundled scenarios")
    ls.set_defaults(func=_cmd_list)
    v = sub.add_parser("validate", help="check scenario files; print every mistake")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=_cmd_validate)
    from scenarios.fmu_cli import add_fmu_commands
    add_fmu_commands(sub)
    from scenarios.influx_cli import add_influx_commands
    add_influx_commands(sub)
    from scenarios.hil_cli import add_hil_commands
    add_hil_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``heatflex`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

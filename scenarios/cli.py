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
                           counterfactual=getattr(args, "counterfactual", False))
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
    """``heatflex compare RUN_A RUN_B``: the numeric KPIs of two runs side by side."""
    import json

    k = []
    for d in (args.run_a, args.run_b):
        f = Path(d) / "summary.json"
        if not f.is_file():
            print(f"heatflex compare: {f} does not exist (not a run folder)", file=sys.stderr)
            return 2
        k.append(json.loads(f.read_text(encoding="utf-8")).get("kpis", {}))
    print(f"{'kpi':44s} {str(args.run_a.name)[:22]:>22s} {str(args.run_b.name)[:22]:>22s}")
    for key in [*k[0], *(x for x in k[1] if x not in k[0])]:
        a, b = k[0].get(key), k[1].get(key)
        if isinstance(a, int | float) or isinstance(b, int | float):
            fa = f"{a:.4g}" if isinstance(a, int | float) else "-"
            fb = f"{b:.4g}" if isinstance(b, int | float) else "-"
            print(f"{key:44s} {fa:>22s} {fb:>22s}")
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
    r.set_defaults(func=_cmd_run)
    cmp_ = sub.add_parser("compare", help="print two run folders' KPIs side by side")
    cmp_.add_argument("run_a", type=Path)
    cmp_.add_argument("run_b", type=Path)
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

"""``heatflex fmu`` sub-commands: build a source FMU folder, inspect and check an FMU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUNDLED_HEATPUMP = Path(__file__).resolve().parents[1] / "simulators" / "fmus" / "heatpump"
"""The bundled heat-pump FMU's source folder (modelDescription.xml + sources/*.c)."""


def _cmd_build(args: argparse.Namespace) -> int:
    from simulators.fmu_build import FmuBuildError, build_fmu

    src = Path(args.src) if args.src else BUNDLED_HEATPUMP
    if not (src / "modelDescription.xml").exists():
        what = "the bundled heat-pump FMU sources" if args.src is None else "a source FMU folder"
        print(f"heatflex fmu build: {src} is not {what} (no modelDescription.xml there)"
              + (" — the bundled heat-pump FMU has not been added yet" if args.src is None
                 else ""), file=sys.stderr)
        return 2
    from simulators.fmu_build import FMU_COMMON

    # the bundled FMUs share C code (simulators/fmus/common); a vendor's folder stands alone
    shared = FMU_COMMON if src.resolve().parent == FMU_COMMON.parent else None
    try:
        out = build_fmu(src, out_dir=args.out, force=args.force, shared=shared)
    except FmuBuildError as exc:
        print(f"heatflex fmu build: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from simulators.fmu import FmuError, inspect_fmu

    try:
        print(inspect_fmu(args.path))
    except FmuError as exc:
        print(f"heatflex fmu inspect: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from simulators.fmu import check_fmu

    problems = check_fmu(args.path, steps=args.steps, step_s=args.step)
    if not problems:
        print(f"{args.path}: ok ({args.steps} steps)")
        return 0
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1


def add_fmu_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fmu build|inspect|check`` to the ``heatflex`` parser."""
    f = subparsers.add_parser("fmu", help="build, inspect and check FMUs")
    sub = f.add_subparsers(dest="fmu_command", required=True)
    b = sub.add_parser("build", help="compile a source FMU folder (default: bundled heat pump)")
    b.add_argument("src", nargs="?", default=None,
                   help="folder with modelDescription.xml and sources/*.c")
    b.add_argument("--out", type=Path, default=None, help="output folder (default: cache)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.set_defaults(func=_cmd_build)
    i = sub.add_parser("inspect", help="print FMI version, kinds, platforms and variables")
    i.add_argument("path", type=Path)
    i.set_defaults(func=_cmd_inspect)
    c = sub.add_parser("check", help="instantiate, initialise and step an FMU; list problems")
    c.add_argument("path", type=Path)
    c.add_argument("--steps", type=int, default=5, help="number of steps (default 5)")
    c.add_argument("--step", type=float, default=None,
                   help="step size in s (default: the FMU's DefaultExperiment stepSize or 1)")
    c.set_defaults(func=_cmd_check)

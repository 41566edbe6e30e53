"""The bundled scenario library and how a scenario argument (name or path) is resolved."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scenarios.schema import ScenarioError

LIBRARY = Path(__file__).parent / "library"
"""Folder of the bundled scenario files (``*.toml``)."""


def resolve_scenario_path(name_or_path: str) -> Path:
    """A scenario is a path to a TOML file or the name of a bundled scenario."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise ScenarioError([f"{p}: no such scenario file"])
        return p
    bundled = LIBRARY / f"{name_or_path}.toml"
    if bundled.exists():
        return bundled
    raise ScenarioError(
        [f"{name_or_path}: not a file and not a bundled scenario — bundled: "
         f"{', '.join(n for n, _ in bundled_scenarios())}"]
    )


def bundled_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every bundled scenario."""
    out = []
    for f in sorted(LIBRARY.glob("*.toml")):
        try:
            desc = tomllib.loads(f.read_text(encoding="utf-8")).get("description", "")
        except tomllib.TOMLDecodeError:
            desc = "(invalid TOML)"
        out.append((f.stem, desc.splitlines()[0] if desc else ""))
    return out

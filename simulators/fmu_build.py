"""Build FMUs from C sources with the machine's C compiler (FMI headers from fmpy's package).

A *source FMU folder* holds ``modelDescription.xml`` and ``sources/*.c`` (plus optional
``resources/``).  :func:`build_fmu` compiles the sources into
``binaries/<platform>/<modelIdentifier>.so`` and zips everything into ``<name>.fmu``:

- reproducible: files are added in sorted order with a fixed timestamp and permissions, and the
  compiler runs with fixed flags, so the same sources give the same archive on one toolchain;
- cached: the output lives in the cache folder under a hash of the sources, headers and flags,
  so a second call returns at once.

This compiles the bundled FMUs and the small test FMUs; vendors ship their own binaries.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

FMU_COMMON: Path = Path(__file__).resolve().parent / "fmus" / "common"
"""C code the bundled FMUs share (``fmi2_cosim_tail.inc``: FMU state, fmi2DoStep, status
queries); pass it as ``build_fmu(..., shared=FMU_COMMON)``."""

CFLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-O2", "-std=c99", "-fvisibility=default")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class FmuBuildError(RuntimeError):
    """The FMU could not be built; the message names the folder and the compiler output."""


def fmi_headers_dir() -> Path:
    """fmpy's bundled FMI 2.0 / 3.0 C headers."""
    import fmpy

    d = Path(fmpy.__file__).parent / "c-code"
    if not (d / "fmi2Functions.h").exists():
        raise FmuBuildError(f"fmpy's FMI headers are missing in {d}")
    return d


def platform_dir(fmi_version: str) -> str:
    """The binaries/ sub-folder name for this machine (FMI 2.0: linux64; FMI 3.0: x86_64-linux)."""
    machine = platform.machine().lower()
    system = platform.system().lower()
    if fmi_version.startswith("3"):
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        return f"{arch}-{system}"
    if system != "linux" or machine not in ("x86_64", "amd64"):
        raise FmuBuildError(f"FMI 2.0 builds support linux64 only, not {system}/{machine}")
    return "linux64"


def default_cache_dir() -> Path:
    """``$HEATFLEX_CACHE`` or ``~/.cache/heatflex`` — where built FMUs are kept."""
    env = os.environ.get("HEATFLEX_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "heatflex"


def _model_info(src: Path) -> tuple[str, str, str]:
    """(fmiVersion, modelIdentifier, modelName) from the folder's modelDescription.xml."""
    md = src / "modelDescription.xml"
    if not md.exists():
        raise FmuBuildError(f"{src}: no modelDescription.xml")
    root = ET.parse(md).getroot()
    version = root.get("fmiVersion", "")
    cs = root.find("CoSimulation")
    if cs is None:
        raise FmuBuildError(f"{md}: no <CoSimulation> element (only co-simulation FMUs are built)")
    ident = cs.get("modelIdentifier")
    if not ident:
        raise FmuBuildError(f"{md}: <CoSimulation> has no modelIdentifier")
    return version, ident, root.get("modelName", ident)


def _source_files(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def source_hash(src: Path, extra: str = "", shared: Path | None = None) -> str:
    """Hash of every file in the source folder (and the shared folder), the FMI headers and the
    compiler flags."""
    h = hashlib.sha256()
    for root in (src, shared) if shared else (src,):
        for p in _source_files(root):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    for p in sorted(fmi_headers_dir().glob("*.h")):
        h.update(p.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    h.update(extra.encode())
    return h.hexdigest()[:16]


def build_fmu(src: str | Path, out_dir: str | Path | None = None, cc: str | None = None,
              force: bool = False, shared: str | Path | None = None) -> Path:
    """Compile the source FMU folder ``src`` into an ``.fmu``; return its path.

    ``out_dir`` defaults to ``<cache>/fmus``; the file is ``<modelName>-<hash>.fmu``, reused when
    present unless ``force``.  ``shared`` is an optional folder of C code several source FMUs
    share (its ``*.c`` are compiled in, its headers are on the include path, and its files are
    packed under ``sources/``).  Raises FmuBuildError with the compiler's message on failure.
    """
    shared = Path(shared).resolve() if shared is not None else None
    src = Path(src).resolve()
    version, ident, name = _model_info(src)
    cc = cc or os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        raise FmuBuildError(f"C compiler {cc!r} not found (install gcc or set CC)")
    out_dir = Path(out_dir) if out_dir else default_cache_dir() / "fmus"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{source_hash(src, cc, shared)}.fmu"
    if target.exists() and not force:
        return target
    c_files = sorted((src / "sources").glob("*.c"))
    if shared is not None:
        c_files += sorted(shared.glob("*.c"))
    if not c_files:
        raise FmuBuildError(f"{src}: no sources/*.c")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        so = tmp_path / f"{ident}.so"
        define = "-DFMI_VERSION=3" if version.startswith("3") else "-DFMI_VERSION=2"
        cmd = [cc, *CFLAGS, define, f"-I{fmi_headers_dir()}", f"-I{src / 'sources'}",
               *([f"-I{shared}"] if shared is not None else []),
               *map(str, c_files), "-o", str(so), "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise FmuBuildError(f"{src}: compiling failed\n$ {' '.join(cmd)}\n{res.stderr}")
        entries: list[tuple[str, Path]] = [("modelDescription.xml", src / "modelDescription.xml")]
        for p in _source_files(src):
            rel = p.relative_to(src).as_posix()
            if rel.startswith(("sources/", "resources/", "documentation/")):
                entries.append((rel, p))
        if shared is not None:
            entries += [(f"sources/{p.name}", p) for p in _source_files(shared)]
        entries.append((f"binaries/{platform_dir(version)}/{ident}.so", so))
        partial = target.with_suffix(".fmu.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for arcname, path in sorted(entries):
                info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())
        partial.replace(target)
    return target

"""Embedded default recorder: a mosaik simulator writing one Parquet file per measurement.

Samples are buffered and written as numbered part files every ``flush_interval`` of simulated
time, so an interrupted run keeps what it had; ``finalize`` merges the parts into
``timeseries/<measurement>.parquet``.  :func:`read_timeseries` reads either form.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd

from adapters.recorder_base import BufferedRecorder
from adapters.records import RecordBuffer, SourceInfo

PARTS_DIR = ".parts"


class ParquetSink:
    """Writes buffered frames as part files and merges them at the end (no mosaik here)."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / PARTS_DIR
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self._n_parts = 0
        self.rows_written = 0
        self.finalized = False

    def write(self, frames: dict[str, pd.DataFrame]) -> None:
        """Write one part file per measurement."""
        if not frames:
            return
        self._n_parts += 1
        for measurement, frame in frames.items():
            mdir = self.parts_dir / measurement
            mdir.mkdir(exist_ok=True)
            frame.to_parquet(mdir / f"part-{self._n_parts:05d}.parquet", index=False)
            self.rows_written += len(frame)

    def finalize(self) -> None:
        """Merge part files into ``<measurement>.parquet`` and remove the parts."""
        if self.finalized:
            return
        for mdir in sorted(p for p in self.parts_dir.iterdir() if p.is_dir()):
            frames = [pd.read_parquet(f) for f in sorted(mdir.glob("part-*.parquet"))]
            if frames:
                pd.concat(frames, ignore_index=True).to_parquet(
                    self.out_dir / f"{mdir.name}.parquet", index=False
                )
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.finalized = True


def read_timeseries(ts_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read every measurement of a run's ``timeseries/`` folder (merged files or parts)."""
    ts_dir = Path(ts_dir)
    frames: dict[str, pd.DataFrame] = {}
    for f in sorted(ts_dir.glob("*.parquet")):
        frames[f.stem] = pd.read_parquet(f)
    parts = ts_dir / PARTS_DIR
    if parts.is_dir():
        for mdir in sorted(p for p in parts.iterdir() if p.is_dir()):
            pieces = [pd.read_parquet(f) for f in sorted(mdir.glob("part-*.parquet"))]
            if pieces:
                frames[mdir.name] = pd.concat(
                    [frames[mdir.name], *pieces] if mdir.name in frames else pieces,
                    ignore_index=True,
                )
    return frames


ACTIVE: list[ParquetRecorder] = []
"""Recorders alive in this process; the runner finalises them even when a run fails."""


class ParquetRecorder(BufferedRecorder):
    """mosaik recorder: any inputs, one entity, flushes part files every flush interval."""

    def __init__(self) -> None:
        super().__init__(["out_dir", "run_id", "scenario", "start", "sources",
                          "flush_interval_s"])
        self.sink: ParquetSink | None = None

    def create(
        self,
        num: int,
        model: str,
        out_dir: str,
        run_id: str,
        scenario: str,
        start: datetime,
        sources: dict[str, SourceInfo],
        flush_interval_s: float = 86400.0,
    ) -> list[dict[str, str]]:
        """Create the single recorder entity."""
        if num != 1 or self.buffer is not None:
            raise ValueError("one Recorder entity per simulator")
        self.buffer = RecordBuffer(run_id, scenario, start, sources)
        self.sink = ParquetSink(Path(out_dir))
        self.flush_every = float(flush_interval_s)
        ACTIVE.append(self)
        return [{"eid": "recorder", "type": model}]

    def flush(self) -> None:
        """Write what is buffered as part files."""
        if self.buffer is not None and self.sink is not None and len(self.buffer):
            self.sink.write(self.buffer.take_frames())

    def close(self) -> None:
        """Flush and merge; safe to call more than once."""
        if self.sink is not None and not self.sink.finalized:
            self.flush()
            self.sink.finalize()
        if self in ACTIVE:
            ACTIVE.remove(self)

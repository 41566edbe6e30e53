"""Embedded default recorder: a mosaik simulator writing one Parquet file per measurement.

Samples are buffered and written as numbered part files every ``flush_interval`` of simulated
time, so an interrupted run keeps what it had; ``finalize`` merges the parts into
``timeseries/<measurement>.parquet``.  :func:`read_timeseries` reads either form.

Part files are written by one background thread (pyarrow's encoding and compression release the
GIL, so on a multi-core machine the simulation goes on while a day of a 1000-house fleet is
written). The same thread appends each part as a row group to the measurement's merged file as
it goes (kept open, in ``.parts``), so ``finalize`` only closes it and moves it in place; a part
whose columns differ from the first one stops that and the parts are merged at the end as Arrow
tables instead. A failed write is raised at the next ``write`` or at ``finalize``; ``finalize``
waits for every part.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.recorder_base import BufferedRecorder
from adapters.records import RecordBuffer, SourceInfo

PARTS_DIR = ".parts"


class ParquetSink:
    """Writes buffered frames as part files and merges them at the end (no mosaik here).

    ``background=True`` (default) writes each part in a single worker thread, in order."""

    def __init__(self, out_dir: Path, background: bool = True):
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / PARTS_DIR
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self._n_parts = 0
        self.rows_written = 0
        self.finalized = False
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-part")
                      if background else None)
        self._pending: list[Future[None]] = []
        self._merging: dict[str, pq.ParquetWriter | None] = {}
        """Open merged file per measurement (None: schemas differed, merge at the end)."""

    def write(self, frames: dict[str, pd.DataFrame]) -> None:
        """Write one part file per measurement (in the background thread if enabled); the
        frames are handed over — the caller must not modify them afterwards."""
        if not frames:
            return
        self._raise_failed()
        self._n_parts += 1
        self.rows_written += sum(len(f) for f in frames.values())
        if self._pool is None:
            self._write_part(self._n_parts, frames)
        else:
            self._pending.append(self._pool.submit(self._write_part, self._n_parts, frames))

    def _write_part(self, k: int, frames: dict[str, pd.DataFrame]) -> None:
        for measurement, frame in frames.items():
            mdir = self.parts_dir / measurement
            mdir.mkdir(exist_ok=True)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, mdir / f"part-{k:05d}.parquet")
            self._append(measurement, table)

    def _merged_path(self, measurement: str) -> Path:
        return self.parts_dir / f"{measurement}.merged.parquet"

    def _append(self, measurement: str, table: pa.Table) -> None:
        """Append a part to the measurement's open merged file (row group)."""
        if measurement in self._merging and self._merging[measurement] is None:
            return  # schemas differed earlier: merged at the end
        w = self._merging.get(measurement)
        if w is None:
            w = pq.ParquetWriter(self._merged_path(measurement), table.schema)
            self._merging[measurement] = w
        elif not table.schema.equals(w.schema, check_metadata=False):
            w.close()
            self._merged_path(measurement).unlink(missing_ok=True)
            self._merging[measurement] = None
            return
        w.write_table(table)

    def _raise_failed(self) -> None:
        """Re-raise the error of a finished background write (and forget finished ones)."""
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for f in done:
            f.result()

    def wait(self) -> None:
        """Block until every part handed over so far is on disk (raises a write's error)."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def finalize(self) -> None:
        """Wait for the writes, merge part files into ``<measurement>.parquet`` and remove the
        parts."""
        if self.finalized:
            return
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        for mdir in sorted(p for p in self.parts_dir.iterdir() if p.is_dir()):
            files = sorted(mdir.glob("part-*.parquet"))
            out = self.out_dir / f"{mdir.name}.parquet"
            w = self._merging.get(mdir.name)
            if w is not None:  # every part already appended: close and move in place
                w.close()
                shutil.move(self._merged_path(mdir.name), out)
            elif files:
                _merge_parts(files, out)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self._merging.clear()
        self.finalized = True


def _merge_parts(files: list[Path], out: Path) -> None:
    """Concatenate part files as Arrow tables (columns missing in a part become nulls); parts
    whose column types disagree fall back to a pandas concat."""
    if len(files) == 1:  # nothing to merge: the part file is the result
        shutil.move(files[0], out)
        return
    tables = [pq.read_table(f) for f in files]
    try:
        merged = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frames = [t.to_pandas() for t in tables]
        pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
        return
    pq.write_table(merged, out)


def read_timeseries(ts_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read every measurement of a run's ``timeseries/`` folder (merged files or parts).
    Tag columns (stored dictionary-encoded) come back as plain string (object) columns."""
    ts_dir = Path(ts_dir)
    frames: dict[str, pd.DataFrame] = {}
    for f in sorted(ts_dir.glob("*.parquet")):
        frames[f.stem] = _plain(pd.read_parquet(f))
    parts = ts_dir / PARTS_DIR
    if parts.is_dir():
        for mdir in sorted(p for p in parts.iterdir() if p.is_dir()):
            pieces = [_plain(pd.read_parquet(f)) for f in sorted(mdir.glob("part-*.parquet"))]
            if pieces:
                frames[mdir.name] = pd.concat(
                    [frames[mdir.name], *pieces] if mdir.name in frames else pieces,
                    ignore_index=True,
                )
    return frames


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as object columns (the frame contract of the readers)."""
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    return df


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

"""Recording buffer shared by every sink: mosaik inputs -> per-measurement tables.

The schema is identical in every sink (DESIGN.md): measurement = model name, tags = ``entity``,
``run_id``, ``scenario``, ``source`` (sim|hw), fields = the attributes, time = ``start + t``.
A fleet entity whose attributes are arrays of length N becomes N entities ``<name>-<i>``;
an attribute of shape (N, L) (e.g. tank layers) becomes L fields ``<attr>_<j>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SourceInfo:
    """Where a recorded mosaik entity goes: measurement name, entity tag, source tag."""

    measurement: str
    entity: str
    source: str = "sim"


@dataclass
class _Series:
    times: list[float] = field(default_factory=list)
    values: dict[str, list] = field(default_factory=dict)


class RecordBuffer:
    """Collects samples per source entity and turns them into tidy DataFrames."""

    def __init__(self, run_id: str, scenario: str, start: datetime, sources: dict[str, SourceInfo]):
        self.run_id = run_id
        self.scenario = scenario
        self.start = pd.Timestamp(start).tz_convert("UTC")
        self.sources = sources
        self._series: dict[str, _Series] = {}
        self.n_samples = 0

    def add(self, t_s: float, data: dict[str, dict[str, object]]) -> None:
        """Add one step: ``data[attr][src_full_id] = value`` as mosaik delivers it."""
        for attr, per_src in data.items():
            for src, value in per_src.items():
                s = self._series.get(src)
                if s is None:
                    s = self._series[src] = _Series()
                if not s.times or s.times[-1] != t_s:
                    s.times.append(t_s)
                    self.n_samples += 1
                col = s.values.get(attr)
                if col is None:
                    col = s.values[attr] = [None] * (len(s.times) - 1)
                col.append(value)

    def __len__(self) -> int:
        return self.n_samples

    def take_frames(self) -> dict[str, pd.DataFrame]:
        """Return everything buffered as {measurement: DataFrame} and empty the buffer."""
        parts: dict[str, list[pd.DataFrame]] = {}
        for src, s in self._series.items():
            info = self.sources.get(src) or SourceInfo(src.split(".")[0].lower(), src)
            for frame in self._frames_of(info, s):
                parts.setdefault(info.measurement, []).append(frame)
        self._series.clear()
        self.n_samples = 0
        return {m: pd.concat(fs, ignore_index=True) for m, fs in parts.items()}

    def _frames_of(self, info: SourceInfo, s: _Series) -> list[pd.DataFrame]:
        """One frame for a source: unit-major rows (all times of unit 0, then unit 1, ...),
        built with whole-array numpy operations (no per-unit DataFrames)."""
        n_t = len(s.times)
        times = self.start + pd.to_timedelta(np.asarray(s.times, dtype=float), unit="s")
        columns: dict[str, np.ndarray] = {}
        for attr, col in s.values.items():
            if len(col) < n_t:
                col = col + [None] * (n_t - len(col))
            columns[attr] = _stack(col)
        n_units = max((a.shape[1] for a in columns.values() if a.ndim >= 2), default=1)
        n_rows = n_t * n_units
        # tag columns as categoricals: built from integer codes (no per-row Python strings) and
        # written dictionary-encoded — the bulk of a large fleet's recording cost otherwise
        names = ([info.entity] if n_units == 1
                 else [f"{info.entity}-{i}" for i in range(n_units)])
        codes = np.repeat(np.arange(n_units, dtype=np.int32), n_t)
        cols: dict[str, object] = {
            "time": times.take(np.tile(np.arange(n_t), n_units)),
            "entity": pd.Categorical.from_codes(codes, categories=names),
            "run_id": _constant(self.run_id, n_rows),
            "scenario": _constant(self.scenario, n_rows),
            "source": _constant(info.source, n_rows),
        }
        for attr, arr in columns.items():
            if arr.ndim == 1:
                cols[attr] = np.tile(arr, n_units)
            elif arr.ndim == 2:
                cols[attr] = (arr.T.reshape(-1) if arr.shape[1] == n_units
                              else np.tile(arr[:, 0], n_units))
            else:
                unit = (arr.transpose(1, 0, 2) if arr.shape[1] == n_units
                        else np.broadcast_to(arr[:, 0, :], (n_units, *arr[:, 0, :].shape)))
                flat = unit.reshape(n_units * n_t, -1)
                for j in range(flat.shape[1]):
                    cols[f"{attr}_{j}"] = np.ascontiguousarray(flat[:, j])
        return [pd.DataFrame(cols)]


def _constant(value: str, n: int) -> pd.Categorical:
    """A categorical column of ``n`` rows all equal to ``value``."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def _stack(col: list) -> np.ndarray:
    """Stack a column of scalars / arrays into (T,), (T, N) or (T, N, L) floats."""
    if not any(v is None for v in col):
        return np.array(col, dtype=float)  # one C-level conversion
    first = next((v for v in col if v is not None), None)
    if first is None:
        return np.full(len(col), np.nan)
    filler = np.full(np.shape(first), np.nan)
    return np.array([filler if v is None else v for v in col], dtype=float)

"""Vectorised InfluxDB line protocol: one measurement's DataFrame -> bytes, no per-value Python.

Input is a recorded frame (DESIGN.md schema, see :mod:`adapters.records`): a ``time`` column
(UTC), the tag columns ``entity``, ``run_id``, ``scenario``, ``source`` and one column per field.
Output is one line per row::

    building,entity=house-3,run_id=r1,scenario=sc,source=sim T_room_C=21.5,Q_heat_kW=2 1768176000

Rules (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):
- measurement: commas and spaces escaped; tag keys/values and field keys: commas, equals signs and
  spaces escaped; a tag whose value is empty is left out of that line (empty tag values are
  invalid line protocol); tags are written in key order (what the server sorts to anyway).
- numeric and boolean fields are written as floats (shortest round-trip decimal, so values read
  back bit-exactly) — one type per field whatever the source dtype, so an integer-valued
  attribute never conflicts with itself; string fields are quoted with ``"`` and ``\\`` escaped.
- NaN / ±inf values are left out of their line; a line with no finite field is dropped and
  counted (:attr:`LineProtocol.n_dropped`).
- timestamps: integer ``precision`` units (``s``, ``ms``, ``us``, ``ns``) since the epoch; a time
  that the chosen precision cannot represent raises ``ValueError`` rather than being truncated.

Speed: floats are formatted by Arrow's C++ shortest-round-trip formatter and lines are joined by
Arrow string kernels; the body is Arrow's contiguous value buffer (zero copies). See
``bench/influx_write.py`` for figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TAG_COLUMNS: tuple[str, ...] = ("entity", "run_id", "scenario", "source")
"""Tag columns of the recording schema, in the (sorted) order they are written."""
TIME_COLUMN = "time"
PRECISIONS: dict[str, int] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
"""Timestamp precision -> nanoseconds per unit."""


@dataclass(frozen=True)
class LineProtocol:
    """Serialized lines of one measurement.

    ``body`` is UTF-8 line protocol, every line terminated by ``\\n``; ``offsets`` (length
    ``n_lines + 1``) are the byte offsets where lines start (last = ``len(body)``)."""

    measurement: str
    body: bytes
    offsets: np.ndarray
    precision: str
    n_dropped: int = 0

    @property
    def n_lines(self) -> int:
        """Number of lines (= points)."""
        return len(self.offsets) - 1

    def chunks(self, max_lines: int) -> Iterator[tuple[bytes, int]]:
        """Split into consecutive pieces of at most ``max_lines`` lines: (body, n_lines)."""
        if max_lines < 1:
            raise ValueError(f"max_lines={max_lines}: expected >= 1")
        n = self.n_lines
        for i in range(0, n, max_lines):
            j = min(n, i + max_lines)
            yield self.body[int(self.offsets[i]):int(self.offsets[j])], j - i

    def lines(self) -> list[str]:
        """The lines as strings (without newlines) — for tests and error reports, not hot paths."""
        return self.body.decode("utf-8").splitlines()


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas, spaces)."""
    _check_text("measurement", name)
    return name.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces)."""
    _check_text("tag/field key or tag value", text)
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
            .replace(" ", "\\ "))


def _check_text(what: str, text: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} {text!r}: line protocol does not allow newlines")


def to_line_protocol(
    frame: pd.DataFrame,
    measurement: str,
    precision: str = "s",
    tags: Sequence[str] = TAG_COLUMNS,
) -> LineProtocol:
    """Serialize one measurement's frame (schema of :mod:`adapters.records`) to line protocol.

    ``tags`` are the tag columns present in ``frame`` (missing ones are skipped); every other
    column except ``time`` is a field."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {sorted(PRECISIONS)}")
    if TIME_COLUMN not in frame.columns:
        raise ValueError(f"frame of measurement {measurement!r} has no {TIME_COLUMN!r} column")
    if not measurement:
        raise ValueError("measurement: expected a non-empty name")
    tag_cols = [t for t in sorted(tags) if t in frame.columns]
    field_cols = [c for c in frame.columns if c != TIME_COLUMN and c not in tag_cols]
    n = len(frame)
    if n == 0 or not field_cols:
        return LineProtocol(measurement, b"", np.zeros(1, dtype=np.int64), precision, n)

    field_parts: list[pa.Array] = []
    has_value = np.zeros(n, dtype=bool)
    for col in field_cols:
        part, valid = _field_part(escape_key(str(col)), frame[col])
        if valid.any():
            field_parts.append(part)
            has_value |= valid
    n_dropped = int(n - has_value.sum())
    if n_dropped == n:
        return LineProtocol(measurement, b"", np.zeros(1, dtype=np.int64), precision, n)
    stamps = _timestamps(frame[TIME_COLUMN], precision, measurement)
    tag_parts = [_tag_part(escape_key(t), frame[t]) for t in tag_cols]
    if n_dropped:
        # Arrow's skip-null join silently drops rows whose inputs are all null, so rows
        # without any finite field are removed before joining.
        keep = pa.array(has_value)
        field_parts = [pc.filter(a, keep) for a in field_parts]
        tag_parts = [pc.filter(a, keep) for a in tag_parts]
        stamps = stamps[has_value]
    series_key = pc.binary_join_element_wise(
        escape_measurement(measurement), *tag_parts, ",", null_handling="skip")
    if isinstance(series_key, pa.Scalar):  # no tag columns: broadcast
        series_key = pa.array([series_key.as_py()] * len(stamps), type=pa.string())
    fields = pc.binary_join_element_wise(*field_parts, ",", null_handling="skip")
    lines = pc.binary_join_element_wise(series_key, fields, pc.cast(pa.array(stamps), pa.string()),
                                        " ")
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # terminate every line
    body, offsets = _contiguous(lines)
    return LineProtocol(measurement, body, offsets, precision, n_dropped)


def frames_to_line_protocol(
    frames: dict[str, pd.DataFrame], precision: str = "s"
) -> list[LineProtocol]:
    """Serialize ``{measurement: frame}`` (as :meth:`RecordBuffer.take_frames` returns it)."""
    return [to_line_protocol(f, m, precision) for m, f in frames.items()]


def _tag_part(key: str, col: pd.Series) -> pa.Array:
    """``key=value`` per row (null where the value is empty/missing), escaped per unique."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    pieces = [None if (u is None or str(u) == "") else f"{key}={escape_key(str(u))}"
              for u in uniques]
    pieces.append(None)  # code -1 (missing) -> null
    codes = np.where(codes < 0, len(pieces) - 1, codes).astype(np.int32)
    return pc.take(pa.array(pieces, type=pa.string()), pa.array(codes))


_NUMERIC_KINDS = {"boolean", "integer", "floating", "mixed-integer-float", "decimal", "empty"}


def _field_part(key: str, col: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """``key=value`` per row (null where not finite / missing) and the validity mask."""
    dtype = col.dtype
    if (pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(col, skipna=True) in _NUMERIC_KINDS):
        col = col.astype(float)  # e.g. booleans with gaps
        dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        values = col.to_numpy(dtype=float, na_value=np.nan)
        valid = np.isfinite(values)
        arr = pa.array(values, mask=~valid)
        text = pc.cast(arr, pa.string())
        return pc.binary_join_element_wise(f"{key}=", text, ""), valid
    # strings: quoted, backslashes and double quotes escaped
    obj = col.astype(object)
    valid = obj.notna().to_numpy()
    arr = pa.array(obj.where(valid, None).map(lambda v: v if v is None else str(v)),
                   type=pa.string())
    _ = [_check_text(f"string field {key}", v) for v in pc.unique(arr).to_pylist() if v]
    arr = pc.replace_substring(arr, "\\", "\\\\")
    arr = pc.replace_substring(arr, '"', '\\"')
    return pc.binary_join_element_wise(f'{key}="', arr, '"', ""), valid


def _timestamps(col: pd.Series, precision: str, measurement: str) -> np.ndarray:
    """Integer timestamps in ``precision`` units since the epoch (UTC)."""
    t = pd.DatetimeIndex(pd.to_datetime(col, utc=True))
    if t.hasnans:
        raise ValueError(f"measurement {measurement!r}: time column has missing values")
    ns = t.as_unit("ns").asi8
    unit = PRECISIONS[precision]
    if unit == 1:
        return ns
    out, rest = np.divmod(ns, unit)
    if rest.any():
        bad = pd.Timestamp(int(ns[np.flatnonzero(rest)[0]]), tz="UTC")
        raise ValueError(f"measurement {measurement!r}: time {bad} is not representable with "
                         f"precision={precision!r}; use a finer precision")
    return out


def _contiguous(lines: pa.Array) -> tuple[bytes, np.ndarray]:
    """The value buffer of a string array as bytes plus line offsets (relative to the body)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if lines.null_count:
        raise AssertionError("line protocol serializer produced a null line")
    off_buf, data_buf = lines.buffers()[1], lines.buffers()[2]
    offsets = np.frombuffer(off_buf, dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    offsets = offsets.astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    body = data_buf[start:end].to_pybytes() if data_buf is not None else b""
    return body, offsets - start

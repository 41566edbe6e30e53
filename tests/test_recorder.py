"""The recording schema and the Parquet sink (part files survive an interrupted run)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.parquet import ParquetSink, read_timeseries
from adapters.records import RecordBuffer, SourceInfo

START = datetime(2026, 1, 12, tzinfo=UTC)


def _buffer() -> RecordBuffer:
    return RecordBuffer("run-1", "sc", START, {
        "Fleet-0.fleet": SourceInfo("building", "fleet"),
        "Tank-0.tank": SourceInfo("tank", "house", "hw"),
    })


def test_fleet_arrays_become_entities_and_layers_become_fields() -> None:
    buf = _buffer()
    for k in range(3):
        buf.add(60.0 * k, {
            "T_room_C": {"Fleet-0.fleet": np.array([20.0, 21.0, 22.0]) + k},
            "T_layers_C": {"Tank-0.tank": np.array([[50.0, 40.0, 30.0]]) - k},
            "Q_draw_kW": {"Tank-0.tank": np.array([0.5 * k])},
        })
    assert len(buf) == 6
    frames = buf.take_frames()
    assert len(buf) == 0
    b = frames["building"]
    assert sorted(b["entity"].unique()) == ["fleet-0", "fleet-1", "fleet-2"]
    f1 = b[b["entity"] == "fleet-1"]
    assert f1["T_room_C"].tolist() == [21.0, 22.0, 23.0]
    assert f1["time"].tolist() == [pd.Timestamp(START) + pd.Timedelta(minutes=k)
                                   for k in range(3)]
    assert (b["run_id"] == "run-1").all() and (b["scenario"] == "sc").all()
    t = frames["tank"]
    assert list(t.columns) == ["time", "entity", "run_id", "scenario", "source",
                               "T_layers_C_0", "T_layers_C_1", "T_layers_C_2", "Q_draw_kW"]
    assert (t["source"] == "hw").all() and (t["entity"] == "house").all()
    assert t["T_layers_C_2"].tolist() == [30.0, 29.0, 28.0]


def test_attribute_missing_in_some_steps_is_nan() -> None:
    buf = _buffer()
    buf.add(0.0, {"T_room_C": {"Fleet-0.fleet": 20.0}})
    buf.add(60.0, {"T_room_C": {"Fleet-0.fleet": 21.0}, "Q_heat_kW": {"Fleet-0.fleet": 2.0}})
    b = buf.take_frames()["building"]
    assert np.isnan(b["Q_heat_kW"].iloc[0]) and b["Q_heat_kW"].iloc[1] == 2.0


def test_parts_are_readable_before_and_after_merge(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path / "timeseries")
    buf = _buffer()
    for day in range(2):
        for k in range(5):
            buf.add(86400.0 * day + 60.0 * k, {"T_room_C": {"Fleet-0.fleet": np.full(3, k)}})
        sink.write(buf.take_frames())
    # an interrupted run: no finalize, only part files (written by the background thread)
    sink.wait()
    partial = read_timeseries(tmp_path / "timeseries")
    assert len(partial["building"]) == 2 * 5 * 3
    sink.finalize()
    assert not (tmp_path / "timeseries" / ".parts").exists()
    merged = read_timeseries(tmp_path / "timeseries")
    pd.testing.assert_frame_equal(merged["building"], partial["building"])
    assert sink.rows_written == 30


def test_parts_with_different_columns_are_merged_at_the_end(tmp_path: Path) -> None:
    # the open merged file needs one schema; a later part with another column set (an attribute
    # that appears later) falls back to the Arrow merge with nulls — nothing is lost
    sink = ParquetSink(tmp_path / "timeseries")
    buf = _buffer()
    buf.add(0.0, {"T_room_C": {"Fleet-0.fleet": np.full(2, 20.0)}})
    sink.write(buf.take_frames())
    buf.add(60.0, {"T_room_C": {"Fleet-0.fleet": np.full(2, 21.0)},
                   "Q_heat_kW": {"Fleet-0.fleet": np.full(2, 3.0)}})
    sink.write(buf.take_frames())
    sink.finalize()
    b = read_timeseries(tmp_path / "timeseries")["building"]
    assert len(b) == 4 and b["Q_heat_kW"].isna().sum() == 2
    assert sorted(b["T_room_C"]) == [20.0, 20.0, 21.0, 21.0]
    assert b["entity"].dtype == object

"""Tests of simulators/demand.py: DHW tapping events and exact step-mean heat demand."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from simulators.demand import DEFAULT_TAP_KINDS, KWH_PER_DAY_DEFAULT, DhwDemand

DAY_S = 86400.0
YEAR_S = 365 * DAY_S
# local midnight 1 Jan 2025 in Copenhagen (CET = UTC+1)
START = datetime(2024, 12, 31, 23, 0, 0)


@pytest.fixture(scope="module")
def year_fleet() -> DhwDemand:
    return DhwDemand(12, START, YEAR_S, seed=11)


def test_reference_default_energy() -> None:
    # iPower Table 20 [DERIVED]: 7-8.5 kWh/day of hot water per house
    assert 7.0 <= KWH_PER_DAY_DEFAULT <= 8.5


def test_energy_conserved_over_any_partition() -> None:
    d = DhwDemand(5, datetime(2025, 3, 28, 5, 17, 13), 6 * DAY_S + 0.5, seed=2)
    ev = d.events
    total = ev.groupby("house")["energy_kWh"].sum().reindex(range(5), fill_value=0.0).to_numpy()
    assert total.min() > 0
    # (a) irregular partition, in order
    rng = np.random.default_rng(5)
    cuts = np.unique(np.r_[0.0, rng.uniform(0.0, d.duration_s, 3000), d.duration_s])
    acc = np.zeros(5)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        acc += d.mean_kW(a, b) * (b - a) / 3600.0
    np.testing.assert_allclose(acc, total, rtol=1e-9)
    # (b) regular 60 s steps (the co-simulation case), with a partial last step
    steps = np.r_[np.arange(0.0, d.duration_s, 60.0), d.duration_s]
    acc = np.zeros(5)
    for a, b in zip(steps[:-1], steps[1:], strict=True):
        acc += d.mean_kW(a, b) * (b - a) / 3600.0
    np.testing.assert_allclose(acc, total, rtol=1e-9)
    # (c) random access, out of order: sum over shuffled intervals
    order = rng.permutation(len(cuts) - 1)
    acc = np.zeros(5)
    for k in order:
        acc += d.energy_kWh(cuts[k], cuts[k + 1])
    np.testing.assert_allclose(acc, total, rtol=1e-9)
    # an event straddling a boundary is split exactly: energy within one tap ~ its power x time
    row = ev[ev.duration_s >= 120].iloc[0]
    h, t0, dur = int(row.house), float(row.t_start_s), float(row.duration_s)
    p_kW = row.energy_kWh * 3600.0 / dur
    got = d.energy_kWh(t0, t0 + dur / 3.0)[h]
    assert got >= p_kW * (dur / 3.0) / 3600.0 * (1 - 1e-12)  # other taps may overlap


def test_yearly_mean_within_3_percent(year_fleet: DhwDemand) -> None:
    per_day = year_fleet.total_kWh / 365.0
    np.testing.assert_allclose(per_day, KWH_PER_DAY_DEFAULT, rtol=0.03)
    # per-house levels are honoured too
    d = DhwDemand(3, START, YEAR_S, seed=1, kwh_per_day=[4.0, 8.0, 12.0])
    np.testing.assert_allclose(d.total_kWh / 365.0, [4.0, 8.0, 12.0], rtol=0.03)
    # and daily energy does vary
    ev = year_fleet.events
    local_day = ev["start"].dt.tz_convert("Europe/Copenhagen").dt.date
    daily = ev.groupby(["house", local_day])["energy_kWh"].sum()
    assert 0.2 < daily.std() / daily.mean() < 1.0


def test_reproducible_and_houses_differ() -> None:
    a = DhwDemand(3, START, 10 * DAY_S, seed=4).events
    b = DhwDemand(3, START, 10 * DAY_S, seed=4).events
    pd.testing.assert_frame_equal(a, b)
    c = DhwDemand(3, START, 10 * DAY_S, seed=5).events
    assert len(a) != len(c) or not np.allclose(a.t_start_s, c.t_start_s)
    # house i's events do not depend on the fleet size
    big = DhwDemand(5, START, 10 * DAY_S, seed=4).events
    pd.testing.assert_frame_equal(big[big.house < 3].reset_index(drop=True), a)
    h0 = a[a.house == 0].t_start_s.to_numpy()
    h1 = a[a.house == 1].t_start_s.to_numpy()
    assert len(h0) != len(h1) or not np.array_equal(h0, h1)


def test_profile_shape_local_time(year_fleet: DhwDemand) -> None:
    edges = np.arange(0.0, YEAR_S + 1.0, 3600.0)
    pairs = zip(edges[:-1], edges[1:], strict=True)
    hourly = np.array([year_fleet.mean_kW(a, b).mean() for a, b in pairs])
    local_hour = (
        (pd.Timestamp(START, tz="UTC") + pd.to_timedelta(edges[:-1], unit="s"))
        .tz_convert("Europe/Copenhagen")
        .hour
    )
    by_hour = pd.Series(hourly).groupby(np.asarray(local_hour)).mean()
    night = by_hour.loc[1:4].mean()  # 01-05
    morning = by_hour.loc[6:8].mean()  # 06-09
    evening = by_hour.loc[18:21].mean()  # 18-22
    assert morning > 4.0 * night
    assert evening > 4.0 * night
    assert by_hour.sum() == pytest.approx(KWH_PER_DAY_DEFAULT, rel=0.03)  # kWh/day


def test_events_table(year_fleet: DhwDemand) -> None:
    ev = year_fleet.events
    assert list(ev.columns) == ["house", "start", "t_start_s", "duration_s", "energy_kWh", "kind"]
    assert set(ev.kind.cat.categories) == {k.name for k in DEFAULT_TAP_KINDS}
    assert (ev.duration_s >= 1.0).all() and (ev.energy_kWh > 0).all()
    assert ev.t_start_s.min() >= 0.0 and (ev.t_start_s + ev.duration_s).max() <= YEAR_S
    per_day = len(ev) / 12 / 365
    assert per_day == pytest.approx(sum(k.per_day for k in DEFAULT_TAP_KINDS), rel=0.05)
    showers = ev[ev.kind == "shower"]
    # shower: EN 16147 1.4 kWh nominal, scaled by 8 / 5.23 -> ~2.1 kWh, ~9 min
    nominal_day = sum(k.per_day * k.energy_kWh for k in DEFAULT_TAP_KINDS)  # 5.23 kWh
    assert showers.energy_kWh.mean() == pytest.approx(1.4 * 8.0 / nominal_day, rel=0.1)
    assert 300.0 < showers.duration_s.median() < 900.0


def test_outputs_are_fresh_and_bad_input_rejected() -> None:
    d = DhwDemand(2, START, DAY_S, seed=0)
    x = d.mean_kW(0.0, 3600.0 * 8)
    keep = x.copy()
    x[:] = -1.0
    np.testing.assert_array_equal(d.mean_kW(0.0, 3600.0 * 8), keep)
    with pytest.raises(ValueError, match="t1_s"):
        d.mean_kW(0.0, DAY_S + 1.0)
    with pytest.raises(ValueError, match="must be > t0_s"):
        d.mean_kW(10.0, 10.0)
    with pytest.raises(ValueError, match="n=0"):
        DhwDemand(0, START, DAY_S)
    with pytest.raises(ValueError, match="kwh_per_day"):
        DhwDemand(2, START, DAY_S, kwh_per_day=[1.0, -1.0])
    with pytest.raises(ValueError, match="profile"):
        DhwDemand(2, START, DAY_S, profile=[1.0] * 23)
    with pytest.raises(ValueError, match="duration_s"):
        DhwDemand(2, START, -5.0)
    z = DhwDemand(2, START, DAY_S, kwh_per_day=[0.0, 8.0], keep_events=False)
    assert z.total_kWh[0] == 0.0 and z.total_kWh[1] > 0.0
    with pytest.raises(ValueError, match="keep_events"):
        _ = z.events

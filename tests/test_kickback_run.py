"""Kickback fleet runs (scenarios/kickback_world.py): shortened runs of the bundled scenarios —
150 houses from 14:00 local (3 h before the 2-h SG-Ready block at 17:00) to 23:00 local (the 4-h
rebound window after the release), each with its paired counterfactual in the same run; the
mitigated scenario also runs its unmitigated twin (mitigation B) in the same run; the
peak-tariff run goes on to 01:00 (4 h after the 21:00 release)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.parquet import read_timeseries
from scenarios import schema
from scenarios.catalog import resolve_scenario_path
from scenarios.runner import run_scenario

START = "2026-02-03T13:00:00Z"  # 14:00 local (CET)
UNTIL_S = 9 * 3600.0            # to 23:00 local: block 17–19 + the 4-h rebound window


UNTIL_S_TARIFF = 11 * 3600.0    # peak tariff 17–21 + the 4-h rebound window


def _run(name: str, out: Path, until_s: float = UNTIL_S) -> tuple[dict, dict]:
    sc, _ = schema.load_scenario(resolve_scenario_path(name))
    data = {**schema.resolved_dict(sc), "start": START, "duration": until_s}
    data.pop("end", None)
    f = out.parent / f"{name}.toml"
    f.write_text(schema.dump_toml(data), encoding="utf-8")
    run = run_scenario(f, out, progress=False, report=False, counterfactual=True)
    kpis = json.loads((run / "summary.json").read_text())["kpis"]
    return kpis, read_timeseries(run / "timeseries")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    base = tmp_path_factory.mktemp("kickback")
    out = {n: _run(n, base / n) for n in ("kickback_feeder", "kickback_feeder_mitigated")}
    out["kickback_feeder_peak_tariff"] = _run("kickback_feeder_peak_tariff",
                                              base / "peak_tariff", UNTIL_S_TARIFF)
    return out


def test_block_rebound_peak_above_counterfactual(runs: dict) -> None:
    k, _ = runs["kickback_feeder"]
    # Sign: all 150 units restart together after 2 h without heat; their rooms are ~0.5–1 K
    # colder, so the room controllers ask for full power at once while the counterfactual's
    # units are spread over their duty cycles (typically ~50–70 % running on a −4 °C day).
    # Minimum size: a synchronised restart of a fleet that normally runs at ≈ 60 % duty must
    # exceed the counterfactual's peak in the window by ≥ 20 % (1/0.6 ≈ 1.67 in the limit of
    # all units at full power, less the base load share of the aggregate).
    assert k["event0_rebound_peak_vs_cf"] > 1.2
    assert k["event0_rebound_peak_kW"] > k["event0_rebound_peak_cf_kW"] + 50.0
    assert k["event0_curtailed_kWh"] > 0 and k["event0_payback_kWh"] > 0


def test_randomised_restart_lowers_the_peak(runs: dict) -> None:
    plain, _ = runs["kickback_feeder"]
    mit, _ = runs["kickback_feeder_mitigated"]
    assert mit["event0_rebound_peak_kW"] < plain["event0_rebound_peak_kW"] - 20.0
    assert mit["event0_rebound_peak_vs_cf"] < plain["event0_rebound_peak_vs_cf"]


def test_mitigation_a_vs_b_in_one_run(runs: dict) -> None:
    k, frames = runs["kickback_feeder_mitigated"]
    plain, _ = runs["kickback_feeder"]
    # variant alt = the same block without mitigation: it reproduces the unmitigated scenario's
    # rebound exactly (same fleet, seeds and events), and mitigation A's peak is lower
    assert k["alt_event0_rebound_peak_kW"] == pytest.approx(plain["event0_rebound_peak_kW"],
                                                             rel=1e-9)
    assert k["event0_rebound_peak_vs_alt"] < 0.95
    fl = frames["fleet"]
    ev = fl[fl["entity"] == "ev"].sort_values("time")
    alt = fl[fl["entity"] == "alt"].sort_values("time")
    # identical until the nominal release at 19:00 local (18:00 UTC): offsets only delay it
    before = ev["time"] < "2026-02-03T18:00:00Z"
    assert np.array_equal(ev.loc[before, "P_total_kW"].to_numpy(),
                          alt.loc[alt["time"] < "2026-02-03T18:00:00Z", "P_total_kW"].to_numpy())


def _window_mean(frames: dict, tag: str, a: str, b: str) -> float:
    fl = frames["fleet"]
    rows = fl[(fl["entity"] == tag) & (fl["time"] >= a) & (fl["time"] < b)]
    return float(rows["P_total_kW"].mean())


def test_peak_tariff_preheat_setback_and_kickback(runs: dict) -> None:
    k, frames = runs["kickback_feeder_peak_tariff"]
    # times UTC: pre-heat 14–16, tariff window 16–20, release 20:00 (21:00 local)
    pre_ev = _window_mean(frames, "ev", "2026-02-03T14:00:00Z", "2026-02-03T16:00:00Z")
    pre_cf = _window_mean(frames, "cf", "2026-02-03T14:00:00Z", "2026-02-03T16:00:00Z")
    win_ev = _window_mean(frames, "ev", "2026-02-03T16:00:00Z", "2026-02-03T20:00:00Z")
    win_cf = _window_mean(frames, "cf", "2026-02-03T16:00:00Z", "2026-02-03T20:00:00Z")
    rel_ev = _window_mean(frames, "ev", "2026-02-03T20:00:00Z", "2026-02-03T20:30:00Z")
    rel_cf = _window_mean(frames, "cf", "2026-02-03T20:00:00Z", "2026-02-03T20:30:00Z")
    # 75 responding houses raise their set point by 1 K and boost hot water: the pre-heat
    # draws ≥ 10 % more than the flat-tariff twin (≈ 1 K × H ≈ 0.15 kW/K per house + a tank
    # charge per house over 2 h, against ≈ 220 kW of fleet load)
    assert pre_ev > 1.10 * pre_cf
    # in the window they set back 1.5 K and defer hot water: less power, energy curtailed
    assert win_ev < 0.95 * win_cf and k["event0_curtailed_kWh"] > 50.0
    # kickback: at 21:00 every responding house returns to 21.5 °C at once — the half-hour
    # after the release draws more than the twin, and the rooms still owe heat
    assert rel_ev > rel_cf
    assert k["event0_comfort_debt_Kh"] > 0
    heat = k["event0_heat_not_delivered_kWh"]
    assert abs(k["event0_heat_residual_kWh"]) < 0.10 * abs(heat)


def test_energy_bookkeeping_closes(runs: dict) -> None:
    k, _ = runs["kickback_feeder"]
    heat = k["event0_heat_not_delivered_kWh"]
    assert heat > 100.0
    # heat not delivered = losses avoided + heat still owed (air + structure) at the end; the
    # residual comes from sampling the node temperatures at the start of the last step and the
    # one-step transport delay of the heat: tolerance 10 % of the heat not delivered
    assert abs(k["event0_heat_residual_kWh"]) < 0.10 * heat
    # comfort debt goes with it: the houses were colder than in the counterfactual
    assert k["event0_comfort_debt_Kh"] > 0


def test_counterfactual_identical_before_the_event(runs: dict) -> None:
    _, frames = runs["kickback_feeder"]
    fl = frames["fleet"]
    t_ev = fl[fl["entity"] == "ev"].sort_values("time")
    t_cf = fl[fl["entity"] == "cf"].sort_values("time")
    before = t_ev["time"] < "2026-02-03T16:00:00Z"
    assert before.sum() == 180
    a = t_ev.loc[before, "P_total_kW"].to_numpy()
    b = t_cf.loc[t_cf["time"] < "2026-02-03T16:00:00Z", "P_total_kW"].to_numpy()
    assert np.array_equal(a, b)
    assert not np.array_equal(t_ev["P_total_kW"].to_numpy(), t_cf["P_total_kW"].to_numpy())


def test_scenario_errors_name_the_key(tmp_path: Path) -> None:
    sc, _ = schema.load_scenario(resolve_scenario_path("kickback_feeder"))
    data = schema.resolved_dict(sc)
    data["events"][0]["duration"] = "3h"
    with pytest.raises(schema.ScenarioError) as exc:
        schema.validate_data(data, "bad.toml")
    assert "2h" in str(exc.value.messages)
    data["events"][0] = {**data["events"][0], "duration": "2h", "kind": "blackout"}
    with pytest.raises(schema.ScenarioError) as exc:
        schema.validate_data(data, "bad.toml")
    assert "kind" in " ".join(exc.value.messages)
    # price fields on a non-price event, and an unknown mitigation key of the alternative
    data["events"][0] = {**data["events"][0], "kind": "sg_block", "preheat": "1h"}
    with pytest.raises(schema.ScenarioError) as exc:
        schema.validate_data(data, "bad.toml")
    msg = " ".join(exc.value.messages)
    assert "preheat" in msg and "price_spike" in msg
    data["events"][0].pop("preheat")
    data["feeder"]["alternative"] = {"restart_windw": "1h"}
    with pytest.raises(schema.ScenarioError) as exc:
        schema.validate_data(data, "bad.toml")
    assert "feeder.alternative.restart_windw" in " ".join(exc.value.messages)


def test_aggregate_grid_without_house_records(tmp_path: Path) -> None:
    # the 10 000-house mode: transformer sums instead of power flows, no per-house records
    sc, _ = schema.load_scenario(resolve_scenario_path("kickback_feeder"))
    data = {**schema.resolved_dict(sc), "start": "2026-02-03T15:00:00Z", "duration": 4 * 3600.0}
    data.pop("end", None)
    data["fleet"] = {**data["fleet"], "n_houses": 300, "record_houses": False}
    data["feeder"] = {**data["feeder"], "network": "aggregate", "houses_per_transformer": 150}
    f = tmp_path / "agg.toml"
    f.write_text(schema.dump_toml(data), encoding="utf-8")
    run = run_scenario(f, tmp_path / "run", progress=False, report=True)
    frames = read_timeseries(run / "timeseries")
    assert set(frames) == {"weather", "fleet", "feeder"}
    fl, fd = frames["fleet"], frames["feeder"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["kpis"]["event0_trafo_loading_max_pct"] > 0
    # 2 substations of 150 houses: the worst one carries at least half the fleet's load
    p = fl.set_index("time")["P_total_kW"]
    assert (fd["trafo_loading_max_pct"].max() / 100 * 400 * 0.97) >= 0.5 * p.max() * 0.9
    assert fd["v_min_pu"].isna().all()
    assert (run / "plots" / "power.png").exists() and not (run / "plots" / "voltage.png").exists()


def test_eager_stepping_gives_the_same_records(tmp_path: Path) -> None:
    # the kickback world runs with mosaik's lazy_stepping off (sources run ahead, faster); the
    # records must equal a lazily stepped run bit for bit
    from scenarios.kickback_world import assemble_kickback
    from simulators.cosim import base as cosim_base

    sc, _ = schema.load_scenario(resolve_scenario_path("kickback_feeder"))
    data = {**schema.resolved_dict(sc), "start": "2026-02-03T15:30:00Z", "duration": 3 * 3600.0}
    data.pop("end", None)
    data["fleet"] = {**data["fleet"], "n_houses": 40}
    sc = schema.validate_data(data, "eager.toml")
    frames = {}
    for lazy in (True, False):
        cosim_base.CRASHES.clear()
        asm = assemble_kickback(sc, tmp_path / str(lazy), "r")
        asm.world.run(until=asm.until, print_progress=False, lazy_stepping=lazy)
        frames[lazy] = read_timeseries(asm.recorder_dir)
    assert not cosim_base.CRASHES
    for meas in ("fleet", "feeder", "building", "heatpump"):
        a = frames[True][meas].sort_values(["entity", "time"], ignore_index=True)
        b = frames[False][meas].sort_values(["entity", "time"], ignore_index=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b)

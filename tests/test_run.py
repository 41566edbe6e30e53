"""End-to-end runs through mosaik and the CLI: the run folder, the controllers' week, crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.parquet import read_timeseries
from scenarios import schema
from scenarios.runner import RunFailed, run_scenario

CLI = [sys.executable, "-m", "scenarios.cli"]


@pytest.fixture(scope="module")
def week_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two bundled residential scenarios, one winter week each, run in parallel via the CLI."""
    base = tmp_path_factory.mktemp("week")
    procs = {
        name: subprocess.Popen([*CLI, "run", name, "--out", str(base / name), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("residential_house", "residential_house_nonflex")
    }
    for name, p in procs.items():
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"{name} failed:\n{err[-3000:]}"
    return {name: base / name for name in procs}


def _kpis(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "summary.json").read_text())["kpis"]


def test_run_folder_contract(week_runs: dict[str, Path]) -> None:
    d = week_runs["residential_house"]
    for f in ("run.json", "summary.json", "report.html", "scenario.toml"):
        assert (d / f).is_file(), f
    meta = json.loads((d / "run.json").read_text())
    for key in ("run_id", "scenario", "scenario_hash", "start", "end", "seed", "versions",
                "wall_time_s", "steps", "status"):
        assert key in meta, key
    assert meta["status"] == "completed" and meta["steps"] == 7 * 24 * 60
    assert meta["versions"]["mosaik"]
    summary = json.loads((d / "summary.json").read_text())
    assert set(summary) == {"kpis", "verdicts"}
    html = (d / "report.html").read_text()
    pngs = sorted(p.name for p in (d / "plots").glob("*.png"))
    assert {"temperatures.png", "power_price.png", "tank.png", "cop.png"} <= set(pngs)
    for png in pngs:
        assert f"plots/{png}" in html
    frames = read_timeseries(d / "timeseries")
    assert {"building", "heatpump", "tank", "controller", "market", "weather", "demand"} <= set(
        frames)
    hp = frames["heatpump"]
    assert list(hp.columns[:5]) == ["time", "entity", "run_id", "scenario", "source"]
    assert (hp["run_id"] == meta["run_id"]).all() and (hp["scenario"] == "residential_house").all()
    assert str(hp["time"].dt.tz) == "UTC"
    assert hp["time"].iloc[0] == pd.Timestamp("2026-01-12T00:00:00Z")
    assert len(hp) == 7 * 24 * 60
    tank = frames["tank"]
    assert [f"T_layers_C_{i}" for i in range(8)] == [c for c in tank if c.startswith("T_layers")]
    # the resolved scenario validates and is complete (defaults filled in)
    resolved, _ = schema.load_scenario(d / "scenario.toml")
    assert resolved.site.heatpump.compressor_share == 0.8
    assert tomllib.loads((d / "scenario.toml").read_text())["controller"]["type"] == "price_rule"


def test_thermostat_holds_the_comfort_band(week_runs: dict[str, Path]) -> None:
    k = _kpis(week_runs["residential_house_nonflex"])
    assert k["thermal_discomfort_Kh"] < 1.0
    assert abs(k["mean_T_room_C"] - 21.5) < 0.2
    assert k["dhw_unmet_kWh"] == 0.0


def test_price_rule_is_cheaper_without_more_discomfort(week_runs: dict[str, Path]) -> None:
    flex = _kpis(week_runs["residential_house"])
    ref = _kpis(week_runs["residential_house_nonflex"])
    assert flex["cost_DKK"] < ref["cost_DKK"]
    assert flex["thermal_discomfort_Kh"] - ref["thermal_discomfort_Kh"] <= 1.0
    # it shifted consumption to cheaper hours rather than just heating less
    assert flex["mean_price_paid_DKK_per_MWh"] < ref["mean_price_paid_DKK_per_MWh"]
    assert flex["heat_delivered_kWh"] == pytest.approx(ref["heat_delivered_kWh"], rel=0.03)


def test_energy_flows_agree_between_coupled_simulators(week_runs: dict[str, Path]) -> None:
    """The heat the heat pump reports is what the building and the tank receive, and the tank's
    stored energy changes by exactly what flowed in and out (recorded series, end to end)."""
    f = read_timeseries(week_runs["residential_house"] / "timeseries")
    dt_h = 60.0 / 3600.0
    hp, b, tank = f["heatpump"], f["building"], f["tank"]
    assert b["Q_heat_kW"].sum() == pytest.approx(hp["Q_sh_kW"].sum(), rel=1e-12)
    # the tank accepts what the heat pump sends (no charging above the loop's flow limit)
    assert tank["Q_charge_kW"].sum() == pytest.approx(hp["Q_dhw_kW"].sum(), rel=1e-3)
    net = (tank["Q_charge_kW"] - tank["Q_draw_kW"] - tank["Q_loss_kW"]).to_numpy() * dt_h
    e = tank["E_stored_kWh"].to_numpy()  # start-of-step values
    throughput = (tank["Q_charge_kW"] + tank["Q_draw_kW"] + tank["Q_loss_kW"]).sum() * dt_h
    assert abs((e[-1] - e[0]) - net[:-1].sum()) < 1e-3 * throughput
    # P_el includes the backup heater; heat = compressor heat + 0.99 backup electricity
    assert np.allclose(hp["P_el_kW"], hp["P_el_compressor_kW"] + hp["P_backup_kW"])


def test_rerunning_the_resolved_scenario_reproduces_the_run(tmp_path: Path) -> None:
    first = run_scenario("residential_house", tmp_path / "a", until_s=6 * 3600, progress=False,
                         report=False)
    again = run_scenario(first / "scenario.toml", tmp_path / "b", progress=False, report=False)
    assert _kpis(first) == _kpis(again)
    other = run_scenario("residential_house", tmp_path / "c", until_s=6 * 3600, seed=99,
                         progress=False, report=False)
    assert _kpis(other) != _kpis(first)


def test_crashing_simulator_fails_the_run_with_its_traceback(tmp_path: Path) -> None:
    """A weather CSV that ends one day in makes the weather simulator raise mid-run: the CLI
    must exit non-zero with that traceback (mosaik alone logs it and returns normally), and the
    series recorded up to the crash are kept."""
    times = pd.date_range("2026-01-05", "2026-01-13", freq="1h", tz="UTC")
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "T_out_C": np.linspace(-3, 3, len(times)).round(2)}).to_csv(
        tmp_path / "w.csv", index=False)
    sc = tmp_path / "short_weather.toml"
    sc.write_text(
        'name = "short_weather"\nstart = "2026-01-12T00:00:00Z"\nduration = "2d"\n'
        f'[weather]\nsource = "csv"\npath = "{tmp_path / "w.csv"}"\n'
        '[controller]\ntype = "thermostat"\n', encoding="utf-8")
    res = subprocess.run([*CLI, "run", str(sc), "--out", str(tmp_path / "run"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert "simulator Weather crashed at t = 90000" in res.stderr
    assert "Traceback (most recent call last)" in res.stderr
    assert "outside the series" in res.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and "outside the series" in meta["error"]
    kept = read_timeseries(tmp_path / "run" / "timeseries")
    assert len(kept["building"]) >= 24 * 60
    with pytest.raises(RunFailed, match="Weather crashed"):
        run_scenario(sc, tmp_path / "run2", progress=False)


def test_cli_list_and_bad_until(tmp_path: Path) -> None:
    res = subprocess.run([*CLI, "list"], capture_output=True, text=True)
    assert res.returncode == 0
    assert "residential_house " in res.stdout and "residential_house_nonflex" in res.stdout
    res = subprocess.run([*CLI, "run", "residential_house", "--until", "soon"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--until 'soon'" in res.stderr
    res = subprocess.run([*CLI, "run", "no_such_scenario"], capture_output=True, text=True)
    assert res.returncode == 2 and "bundled: " in res.stderr and "residential_house," in res.stderr


def test_energidataservice_15min_prices_drive_a_run(tmp_path: Path) -> None:
    """A DayAheadPrices (15-min) CSV as Energi Data Service exports it feeds the market simulator
    stepping every 15 min; the recorded prices change every quarter hour and costs use them."""
    times = pd.date_range("2026-01-11T00:00Z", "2026-01-14T00:00Z", freq="15min",
                          inclusive="left")
    price_eur = 60.0 + 40.0 * np.sin(np.arange(len(times)) * 2 * np.pi / 96)
    csv = pd.DataFrame({
        "TimeUTC": times.strftime("%Y-%m-%d %H:%M"),
        "TimeDK": (times + pd.Timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
        "PriceArea": "DK1",
        "DayAheadPriceDKK": (price_eur * 7.46).round(2),
        "DayAheadPriceEUR": price_eur.round(2),
    })
    csv.to_csv(tmp_path / "dayahead.csv", sep=";", index=False, decimal=",")
    sc = tmp_path / "eds.toml"
    sc.write_text(
        'name = "eds"\nstart = "2026-01-12T00:00:00Z"\nduration = "1d"\n'
        f'[prices]\nsource = "energidataservice"\npath = "{tmp_path / "dayahead.csv"}"\n'
        'step = "15min"\n[prices.tariff]\nkind = "tou"\n'
        '[controller]\ntype = "price_rule"\n', encoding="utf-8")
    out = run_scenario(sc, tmp_path / "run", progress=False, report=False)
    market = read_timeseries(out / "timeseries")["market"]
    spot = market.set_index("time")["price_spot_DKK_per_MWh"]
    first = spot.loc["2026-01-12T00:00Z":"2026-01-12T00:59Z"].unique()
    assert len(first) == 4  # four quarter-hour prices in the first hour
    assert spot.iloc[0] == pytest.approx(csv["DayAheadPriceDKK"].iloc[96])
    # Tarifmodel 3.0: the 17–21 local peak window is dearer than the night
    tariff = market.set_index("time")["tariff_DKK_per_MWh"]
    assert tariff.loc["2026-01-12T17:00Z"] > tariff.loc["2026-01-12T02:00Z"]
    assert _kpis(out)["cost_DKK"] > 0


def test_vendor_fmu_mapping_drives_the_site(tmp_path: Path) -> None:
    """Any FMU plugs in through the scenario's variable mapping (here the bundled FMU file used as
    if a vendor had shipped it, with SI units converted from the attribute suffixes)."""
    from simulators.heatpump_fmu import heatpump_fmu_path

    fmu = heatpump_fmu_path(out_dir=tmp_path / "cache")
    sc = tmp_path / "vendor.toml"
    sc.write_text(
        'name = "vendor"\nstart = "2026-01-12T00:00:00Z"\nduration = "6h"\n'
        f'[site.heatpump]\nmodel = "fmu"\nfmu = "{fmu}"\n'
        '[site.heatpump.fmu_inputs]\nQ_req_kW = "Q_req"\nT_out_C = "T_out"\n'
        'T_out_24h_C = "T_out_24h"\nT_out_168h_C = "T_out_168h"\ndhw_mode = "dhw_mode"\n'
        '[site.heatpump.fmu_outputs]\nP_el_kW = "P_el"\nQ_sh_kW = "Q_sh"\nQ_dhw_kW = "Q_dhw"\n'
        'T_supply_C = "T_supply"\n[site.heatpump.fmu_parameters]\nQ_rated = 6500.0\n'
        '[controller]\ntype = "thermostat"\n', encoding="utf-8")
    out = run_scenario(sc, tmp_path / "run", progress=False, report=False)
    f = read_timeseries(out / "timeseries")
    hp = f["heatpump"]
    assert set(hp.columns) == {"time", "entity", "run_id", "scenario", "source", "P_el_kW",
                               "Q_sh_kW", "Q_dhw_kW", "T_supply_C"}
    assert 25.0 < hp["T_supply_C"].mean() < 60.0  # K -> °C converted
    assert 0.5 < hp["P_el_kW"].mean() < 5.0  # W -> kW converted
    assert f["building"]["Q_heat_kW"].sum() == pytest.approx(hp["Q_sh_kW"].sum(), rel=1e-12)
    assert _kpis(out)["thermal_discomfort_Kh"] < 0.5

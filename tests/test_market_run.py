"""End to end: the bundled ``market_coupled_fleet`` scenario, shortened (fewer houses, a few
hours), run through ``heatflex run``; the market fleet's KPIs, price feedback and settlement."""

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
from scenarios.schema import dump_toml
from simulators.market import LEDGER_COLUMNS

CLI = [sys.executable, "-m", "scenarios.cli"]
LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"


def _short_scenario(base: Path) -> Path:
    """The bundled scenario with 100 houses (still standing for 100 000) for the test."""
    data = tomllib.loads((LIBRARY / "market_coupled_fleet.toml").read_text(encoding="utf-8"))
    data["site"]["n_houses"] = 100
    path = base / "market_short.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("market")
    sc = _short_scenario(base)
    out = base / "run"
    res = subprocess.run([*CLI, "run", str(sc), "--until", "4h", "--quiet", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    return out, res


def _kpis(d: Path) -> dict[str, float]:
    return json.loads((d / "summary.json").read_text(encoding="utf-8"))["kpis"]


def test_the_shortened_market_fleet_runs_and_reports(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    k = _kpis(d)
    for name in ("market_price_change_cheap_EUR_per_MWh", "fleet_net_cost_DKK",
                 "fleet_imbalance_abs_kWh", "thermal_discomfort_Kh",
                 "vs_price_taker_fleet_net_cost_DKK"):
        assert name in k and np.isfinite(k[name]), name
    assert (d / "plots" / "market_fleet.png").stat().st_size > 10_000
    assert "market_fleet.png" in (d / "report.html").read_text(encoding="utf-8")


def test_coupled_prices_move_and_price_taker_prices_equal_the_target(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    m = read_timeseries(d / "timeseries")["market"].dropna(subset=["price_cleared_EUR_per_MWh"])
    diff = m["price_cleared_EUR_per_MWh"] - m["price_target_EUR_per_MWh"]
    coupled = diff[m["entity"] == "house"].to_numpy()
    taker = diff[m["entity"] == "ref"].to_numpy()
    assert len(coupled) and len(taker)
    np.testing.assert_array_equal(taker, 0.0)
    # 100 000 houses' flexibility at 0.05 EUR/MWh per MW: prices move by EUR/MWh, not cents
    assert np.max(np.abs(coupled)) > 1.0
    k = _kpis(d)
    assert k["market_price_change_abs_mean_EUR_per_MWh"] > 0.5


def test_settlement_closes(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    k = _kpis(d)
    parts = (k["fleet_energy_cost_DKK"] + k["fleet_imbalance_cost_DKK"]
             + k["fleet_tariff_cost_DKK"] + k["fleet_tax_cost_DKK"] + k["fleet_vat_cost_DKK"]
             - k["fleet_reserve_revenue_DKK"] - k["fleet_activation_revenue_DKK"])
    assert k["fleet_net_cost_DKK"] == pytest.approx(parts, rel=1e-9)
    assert k["fleet_tariff_cost_DKK"] == pytest.approx(
        k["fleet_dso_tariff_cost_DKK"] + k["fleet_tso_tariff_cost_DKK"], rel=1e-9)
    # imbalance is settled at the day-ahead price: energy + imbalance = metered energy × spot
    m = read_timeseries(d / "timeseries")["market"]
    m = m[m["entity"] == "house"].sort_values("time")
    t = pd.DatetimeIndex(m["time"])
    q = m.groupby(t.floor("900s"))[["P_el_fleet_kW", "price_cleared_EUR_per_MWh"]].mean()
    spot_cost = float((q["P_el_fleet_kW"] / 1000 * 0.25 * q["price_cleared_EUR_per_MWh"]).sum())
    assert k["fleet_energy_cost_DKK"] + k["fleet_imbalance_cost_DKK"] == pytest.approx(
        spot_cost * 7.45, rel=1e-6)
    # metered energy agrees with the heat pumps' own records
    assert k["fleet_energy_metered_kWh"] == pytest.approx(k["electricity_kWh"], rel=1e-6)
    assert set(LEDGER_COLUMNS) <= {c.removeprefix("fleet_") for c in k}


def test_a_bad_market_key_is_a_clear_schema_error(tmp_path: Path) -> None:
    data = tomllib.loads((LIBRARY / "market_coupled_fleet.toml").read_text(encoding="utf-8"))
    data["market"]["mode"] = "pay_as_bid"
    data["market"]["mtu"] = "30min"
    data["market"]["flex_fraction"] = 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text(dump_toml(data), encoding="utf-8")
    res = subprocess.run([*CLI, "run", str(bad), "--quiet", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    err = res.stderr
    assert f"{bad}: market.mode" in err and "coupled" in err and "price_taker" in err
    assert "market.mtu" in err and "15min" in err
    assert "market.flex_fraction" in err

"""End to end: the bundled ``market_mfrr_fleet`` scenario (300 houses standing for 100 000, two
winter days, day-ahead + schedule feedback + Nordic mFRR EAM + 15-min imbalance settlement) run
through ``heatflex run``; plus the balancing core, the imbalance sources and the schema."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from adapters.parquet import read_timeseries
from scenarios.market_balancing import (
    BalancingMarketSim,
    background_bids,
    load_imbalance_csv,
    synthetic_imbalance,
)
from scenarios.market_world import mfrr_settlement
from scenarios.schema import dump_toml, load_scenario
from simulators.market import LEDGER_COLUMNS

CLI = [sys.executable, "-m", "scenarios.cli"]
LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"
EUR_TO_DKK = 7.45


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("mfrr") / "run"
    res = subprocess.run([*CLI, "run", str(LIBRARY / "market_mfrr_fleet.toml"), "--quiet",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    return out, res


def _kpis(d: Path) -> dict[str, float]:
    return json.loads((d / "summary.json").read_text(encoding="utf-8"))["kpis"]


def _table(d: Path) -> pd.DataFrame:
    frames = read_timeseries(d / "timeseries")
    sc, _ = load_scenario(d / "scenario.toml")
    market = frames["market"][frames["market"]["entity"] == "house"]
    bal = frames["balancing"][frames["balancing"]["entity"] == "house"]
    return mfrr_settlement(market, bal, sc, sc.site.n_houses)


def test_the_mfrr_fleet_runs_activates_and_reports(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    k = _kpis(d)
    for name in ("mfrr_isps_activated", "mfrr_fleet_up_MWh", "mfrr_fleet_down_MWh",
                 "mfrr_balancing_price_mean_EUR_per_MWh", "mfrr_cash_tso_EUR",
                 "fleet_activation_revenue_DKK", "fleet_imbalance_cost_DKK",
                 "fleet_imbalance_abs_frac", "mfrr_fleet_up_delivery_ratio"):
        assert name in k and np.isfinite(k[name]), name
    assert set(LEDGER_COLUMNS) <= {c.removeprefix("fleet_") for c in k}
    # 2 days = 192 ISPs, all settled; the default imbalance activates about half of them
    # (iPower: ≈ 52 % of the hours), the fleet in both directions with this seed
    assert k["mfrr_isps_settled"] == 192
    assert 0.3 < k["mfrr_isps_activated"] / k["mfrr_isps_settled"] < 0.75
    assert k["mfrr_isps_fleet_up"] >= 5 and k["mfrr_isps_fleet_down"] >= 5
    assert k["fleet_activation_revenue_DKK"] != 0.0
    # the background stack gives DK-like spreads in activated ISPs (iPower §8.4: median
    # ≈ 8 EUR/MWh, mean ≈ 20 EUR/MWh over years; two days of one seed: a factor 3 either way)
    assert 2.5 < k["mfrr_premium_median_activated_EUR_per_MWh"] < 25.0
    # schedule feedback: the fleet follows schedule + activation to within 25 % of the energy
    # (14.9 % measured, most of it in the first night whose bid precedes any metering)
    assert k["fleet_imbalance_abs_frac"] < 0.25


def test_the_fleet_consumes_less_in_up_activated_isps(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    t = _table(d)
    up = t[t["fleet_up_MW"] > 0]
    assert len(up) >= 5
    # ordered up-regulation on the simulated scale: activated_sim_MW = −up / (100 000 / 300)
    np.testing.assert_allclose(-up["activated_sim_MW"] * 100_000 / 300, up["fleet_up_MW"],
                               rtol=1e-9)
    below = (up["accepted_sim_MW"] - up["metered_sim_MW"]).sum()
    ordered = -up["activated_sim_MW"].sum()
    # The fleet meters below its day-ahead schedule by 0.74 of the ordered volume (measured):
    # the order arrives at the ISP's first step as a feed-forward set-point move (the DA
    # mapping ΔP ≈ Δr·f·P_b), the feedback closes part of the rest within 15 min. Bounds: the
    # ISP-mean tracking error outside activations is ≈ 30 kW (σ, day 2) against ≈ 55 kW mean
    # orders, i.e. ±0.15 on 17 ISPs; the first night's infeasible schedule biases it upwards.
    assert 0.4 * ordered < below < 1.3 * ordered
    k = _kpis(d)
    assert k["mfrr_fleet_up_delivery_ratio"] == pytest.approx(below / ordered, rel=1e-9)


def test_settlement_sums_to_zero_and_activation_revenue_only_where_activated(run) -> None:
    d, res = run
    assert res.returncode == 0, res.stderr[-3000:]
    k = _kpis(d)
    scale = abs(k["mfrr_rest_imbalance_cost_EUR"]) + abs(k["mfrr_tso_activation_payment_EUR"])
    # positions (MWh) and cash (EUR) of fleet, rest of the system, background BSPs and TSO
    pos = (k["mfrr_position_fleet_MWh"] + k["mfrr_position_rest_MWh"]
           + k["mfrr_position_tso_MWh"])
    assert abs(pos) < 1e-9 * max(1.0, abs(k["mfrr_position_rest_MWh"]))
    cash = (k["mfrr_cash_fleet_EUR"] + k["mfrr_cash_rest_EUR"] + k["mfrr_cash_background_EUR"]
            + k["mfrr_cash_tso_EUR"])
    assert abs(cash) < 1e-9 * scale
    assert k["mfrr_tso_activation_payment_EUR"] == pytest.approx(
        k["mfrr_fleet_activation_revenue_EUR"] + k["mfrr_background_activation_revenue_EUR"],
        rel=1e-12)
    # the fleet's ledger (simulated scale, DKK) is the real-market settlement × 300/100 000
    assert k["fleet_activation_revenue_DKK"] == pytest.approx(
        k["mfrr_fleet_activation_revenue_EUR"] * 300 / 100_000 * EUR_TO_DKK, rel=1e-9)
    assert k["fleet_imbalance_cost_DKK"] == pytest.approx(
        k["mfrr_fleet_imbalance_cost_EUR"] * 300 / 100_000 * EUR_TO_DKK, rel=1e-9)
    # single price: energy + imbalance − activation = Σ (accepted·spot + (metered − accepted)
    # ·balancing price)·¼ h, recomputed from the recorded series
    m = read_timeseries(d / "timeseries")
    mk = m["market"][m["market"]["entity"] == "house"]
    bl = m["balancing"][m["balancing"]["entity"] == "house"]
    q = mk.groupby(pd.DatetimeIndex(mk["time"]).floor("900s"))[
        ["P_el_fleet_kW", "accepted_fleet_kW", "price_cleared_EUR_per_MWh"]].mean()
    p = bl.groupby(pd.DatetimeIndex(bl["time"]).floor("900s"))[
        "balancing_price_EUR_per_MWh"].mean()
    acc, met = q["accepted_fleet_kW"] / 1000, q["P_el_fleet_kW"] / 1000
    expect = float(((acc * q["price_cleared_EUR_per_MWh"] + (met - acc) * p) * 0.25).sum())
    got = (k["fleet_energy_cost_DKK"] + k["fleet_imbalance_cost_DKK"]
           - k["fleet_activation_revenue_DKK"])
    assert got == pytest.approx(expect * EUR_TO_DKK, rel=1e-6)
    # activation revenue per ISP: non-zero exactly where the fleet was activated
    t = _table(d)
    activated = (t["fleet_up_MW"] > 0) | (t["fleet_down_MW"] > 0)
    rev = t["activation_revenue_fleet_EUR"].to_numpy()
    assert activated.any() and np.all(rev[~activated.to_numpy()] == 0.0)
    assert np.all(rev[activated.to_numpy()] != 0.0)
    # up-regulation is paid, down-regulation pays (prices are positive in this run)
    assert np.all(rev[(t["fleet_up_MW"] > 0).to_numpy()] > 0)
    assert np.all(rev[(t["fleet_down_MW"] > 0).to_numpy()] < 0)
    assert k["fleet_net_cost_DKK"] == pytest.approx(
        k["fleet_energy_cost_DKK"] + k["fleet_imbalance_cost_DKK"] + k["fleet_tariff_cost_DKK"]
        + k["fleet_tax_cost_DKK"] + k["fleet_vat_cost_DKK"] - k["fleet_reserve_revenue_DKK"]
        - k["fleet_activation_revenue_DKK"], rel=1e-9)


# -- the balancing core, without mosaik ---------------------------------------------------------


def _cfg(**kw: float) -> SimpleNamespace:
    base = {"activation_threshold_MW": 100.0, "gate_closure": 2700.0, "min_bid_MW": 1.0,
            "background_markup_EUR_per_MWh": 1.0, "background_scale_MW": 80.0,
            "background_capacity_MW": 1000.0, "background_step_MW": 10.0}
    return SimpleNamespace(**{**base, **kw})


def _schedule(price: float, n: int = 8) -> dict:
    return {"days": ["2026-01-12"], "t_s": [900.0 * i for i in range(n)], "mtu_s": 900,
            "price_EUR_per_MWh": [price] * n, "fleet_kW": [100.0] * n}


def test_background_stack_sets_the_balancing_price_and_bids_respect_gate_closure() -> None:
    # MTU 0: 150 MW deficit, no fleet bid -> 15 background steps of 10 MW activated; the
    # marginal step covers 140..150 MW: premium 1·exp(145/80) = 6.13 EUR/MWh over spot
    sim = BalancingMarketSim(np.array([-150.0, -150.0, 50.0, -150.0]), _cfg(), 0.001, "fleet")
    out = sim.step(300.0, 0.0, None, _schedule(80.0))
    assert out["balancing_price_EUR_per_MWh"] == pytest.approx(80 + np.exp(145 / 80), abs=0.01)
    assert out["background_up_MW"] == pytest.approx(150.0)
    assert out["direction"] == 1.0 and out["fleet_up_MW"] == 0.0
    # a fleet bid for MTU 3 (starts 2700 s) sent at t = 0 (gate closure 0 s) is taken; for MTU 2
    # (1800 s, gate closure −900 s) it is too late
    bid = {"bidder": "fleet", "t_s": [1800.0, 2700.0], "up_MW": [40.0, 40.0],
           "down_MW": [40.0, 40.0], "up_price_EUR_per_MWh": [82.0, 82.0],
           "down_price_EUR_per_MWh": [78.0, 78.0]}
    sim2 = BalancingMarketSim(np.array([-150.0, -150.0, -150.0, -150.0]), _cfg(), 0.001, "fleet")
    outs = [sim2.step(300.0, t, bid if t == 0 else None, _schedule(80.0))
            for t in np.arange(0, 3000, 300.0)]
    act = sim2.activation
    assert act["t_s"] == [2700.0]  # activated at 2400 s, the step before the MTU begins
    mtu2 = outs[6]  # t = 1800 s
    mtu3 = outs[9]  # t = 2700 s
    assert mtu2["fleet_bid_up_MW"] == 0.0 and mtu2["fleet_up_MW"] == 0.0
    # MTU 3: the fleet's 40 MW at spot + 2 undercut the background above 80·ln 2 = 55 MW
    assert mtu3["fleet_up_MW"] == pytest.approx(40.0)
    assert mtu3["fleet_activation_kW"] == pytest.approx(-40.0 / 0.001)
    assert act["setpoint_delta_MW"]["fleet"] == [pytest.approx(-40.0)]
    assert mtu3["background_up_MW"] == pytest.approx(110.0)
    json.dumps(act)  # JSON-safe for remote participants
    # a surplus below the threshold (MTU 2 of the first run) activates nothing: price = spot
    sim.step(300.0, 1500.0, None, _schedule(80.0))
    out2 = sim.step(300.0, 1800.0, None, _schedule(80.0))
    assert out2["direction"] == 0.0 and out2["balancing_price_EUR_per_MWh"] == 80.0


def test_background_bids_are_monotone_and_within_the_price_limits() -> None:
    bids = background_bids(3990.0, capacity_MW=600.0, step_MW=20.0)
    up = [b["price_EUR_per_MWh"] for b in bids if b["direction"] == "up"]
    down = [b["price_EUR_per_MWh"] for b in bids if b["direction"] == "down"]
    assert len(up) == len(down) == 30
    assert np.all(np.diff(up) >= 0) and max(up) <= 4000.0
    assert np.all(np.diff(down) <= 0) and min(down) >= -500.0


def test_synthetic_imbalance_has_the_documented_statistics() -> None:
    x = synthetic_imbalance(100_000, sigma_MW=150.0, corr=0.9, seed=3)
    # 100 000 AR(1) samples with φ = 0.9: effective n ≈ 5 000 -> σ within ±3 %, φ within ±0.01
    assert x.std() == pytest.approx(150.0, rel=0.03)
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(0.9, abs=0.01)
    assert np.mean(np.abs(x) < 100.0) == pytest.approx(0.495, abs=0.03)  # no activation
    np.testing.assert_array_equal(x[:50], synthetic_imbalance(50, seed=3))


def test_imbalance_csv_loads_and_a_malformed_row_names_its_line(tmp_path: Path) -> None:
    good = tmp_path / "imb.csv"
    good.write_text("time,imbalance_MW\n2026-01-12T00:15:00Z,-20\n2026-01-12T00:00:00Z,120.5\n",
                    encoding="utf-8")
    s = load_imbalance_csv(good)
    assert list(s.to_numpy()) == [120.5, -20.0] and str(s.index.tz) == "UTC"
    bad = tmp_path / "bad.csv"
    bad.write_text("time,imbalance_MW\n2026-01-12T00:00:00Z,1\n2026-01-12T00:15:00Z,lots\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv: line 3"):
        load_imbalance_csv(bad)
    with pytest.raises(ValueError, match="imbalance_MW"):
        (tmp_path / "cols.csv").write_text("time,MW\n2026-01-12T00:00:00Z,1\n", encoding="utf-8")
        load_imbalance_csv(tmp_path / "cols.csv")


def test_a_bad_mfrr_key_is_a_clear_schema_error(tmp_path: Path) -> None:
    data = tomllib.loads((LIBRARY / "market_mfrr_fleet.toml").read_text(encoding="utf-8"))
    data["market"]["mfrr"]["imbalance_source"] = "frequency"
    data["market"]["mfrr"]["volume_share"] = 1.5
    data["market"]["mfrr"]["bid_share"] = 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text(dump_toml(data), encoding="utf-8")
    res = subprocess.run([*CLI, "run", str(bad), "--quiet", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    err = res.stderr
    assert f"{bad}: market.mfrr.imbalance_source" in err
    assert "profile" in err and "csv" in err
    assert "market.mfrr.volume_share" in err
    assert "market.mfrr.bid_share" in err
    data["market"]["mfrr"]["imbalance_source"] = "csv"
    data["market"]["mfrr"]["volume_share"] = 0.5
    del data["market"]["mfrr"]["bid_share"]
    bad.write_text(dump_toml(data), encoding="utf-8")
    res = subprocess.run([*CLI, "run", str(bad), "--quiet", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "imbalance_path" in res.stderr, res.stderr

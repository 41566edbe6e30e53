"""FlexHeat Nordhavn, the full year 2018 for the three strategies (issue #8).

For each strategy (control loop, price-optimised MPC, optimised + FCR-N) this runs the bundled
``flexheat_nordhavn`` scenario through the co-simulation (mosaik, 60-s steps, stratified tank,
the plant heat pump's own COP curve, FCR-N against the simulated frequency) and reports wall
time, simulated-time per wall-time ratio, the MILP solve times per re-plan and the cost table
beside the report's. The same-run floor is the report's own "model a": the hourly energy-balance
simulation of the same strategies in plain numpy/HiGHS (``simulate_energy_model``), plus the
annual perfect-foresight MILP as the cost bound.

Prints one JSON line. Usage: ``python bench/flexheat_year.py [--days 365] [--strategies ...]``
(the full year takes tens of minutes per strategy; ``--days 28`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import parquet as parquet_mod  # noqa: E402
from scenarios.flexheat_world import REPORT_TABLE, indexed  # noqa: E402
from scenarios.runner import run_scenario  # noqa: E402

STRATEGIES = ("control_loop", "optimised", "optimised_fcr_n")


def cosim(strategy: str, days: float, out: Path) -> dict[str, float]:
    """One co-simulated run: wall time, sim/wall ratio, cost KPIs, solve times."""
    t0 = time.perf_counter()
    run = run_scenario("flexheat_nordhavn", out / strategy, until_s=days * 86400.0,
                       progress=False, report=False, controller=strategy)
    wall = time.perf_counter() - t0
    k = json.loads((run / "summary.json").read_text())["kpis"]
    frames = indexed(parquet_mod.read_timeseries(run / "timeseries"))
    st = frames["controller"]["solve_time_s"].to_numpy(dtype=float)
    st = st[np.isfinite(st) & (st > 0)]
    res = {"wall_s": round(wall, 1), "sim_per_wall": round(days * 86400.0 / wall, 1),
           "heat_MWh": round(k["heat_MWh"], 1), "total_cost_DKK": round(k["total_cost_DKK"]),
           "heat_price_DKK_per_MWh": round(k["heat_price_DKK_per_MWh"], 1),
           "hp_starts": k["hp_starts"], "fcr_revenue_DKK": round(k.get("fcr_revenue_DKK", 0.0)),
           "unserved_MWh": round(k["unserved_MWh"], 3),
           "level_range_pct": [round(k["level_min_pct"], 1), round(k["level_max_pct"], 1)]}
    if st.size:
        res["milp_solves"] = int(st.size)
        res["milp_solve_p50_s"] = round(float(np.median(st)), 3)
        res["milp_solve_max_s"] = round(float(st.max()), 3)
        res["milp_solve_per_day_s"] = round(float(st.sum()) / days, 3)
    return res


def energy_model(strategy: str, days: float) -> dict[str, float]:
    """The floor: the report's hourly energy model of the same strategy (numpy + HiGHS) on the
    same data, tank 0–4.5 MWh (``simulate_energy_model``)."""
    from dataclasses import replace

    from scenarios import schema
    from scenarios.flexheat_world import flexheat_inputs, plan_model
    from simulators.controllers import flexheat as ctl
    from simulators.plant_energy import EnergyBalancePlant

    sc, _ = schema.load_scenario(Path(schema.__file__).parent / "library" /
                                 "flexheat_nordhavn.toml")
    inp = flexheat_inputs(sc, sc.seed, days * 86400.0)
    n = int(days * 24)
    price = inp["prices"]["price_total_DKK_per_MWh"].iloc[:n]
    model = replace(plan_model(EnergyBalancePlant(), None), S_min_kWh=0.0)
    t0 = time.perf_counter()
    r = ctl.simulate_energy_model(
        strategy, price, inp["demand"].iloc[:n], model,
        inp["fcr_price"].iloc[:n] if strategy == "optimised_fcr_n" else None,
        start=price.index[0])
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2),
            "heat_price_DKK_per_MWh": round(r["total_cost_level_adjusted_DKK"]
                                            / r["heat_MWh"], 1),
            "total_cost_DKK": round(r["total_cost_level_adjusted_DKK"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--no-floor", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {"bench": "flexheat_year", "days": args.days}
    with tempfile.TemporaryDirectory() as tmp:
        for s in args.strategies.split(","):
            out[s] = cosim(s, args.days, Path(tmp))
            if not args.no_floor:
                out[s]["floor_energy_model"] = energy_model(s, args.days)
            out[s]["report"] = REPORT_TABLE[s]
    base = out.get("control_loop")
    bands = {"control_loop": None, "optimised": (3.0, 9.0), "optimised_fcr_n": (8.0, 17.0)}
    if isinstance(base, dict):
        for s in STRATEGIES:
            r = out.get(s)
            if isinstance(r, dict):
                r["savings_pct"] = round(100 * (1 - r["heat_price_DKK_per_MWh"]
                                                / base["heat_price_DKK_per_MWh"]), 2)
                fl, bfl = r.get("floor_energy_model"), base.get("floor_energy_model")
                if fl and bfl:
                    fl["savings_pct"] = round(100 * (1 - fl["heat_price_DKK_per_MWh"]
                                                     / bfl["heat_price_DKK_per_MWh"]), 2)
                band = bands[s]
                r["within_issue_band"] = (
                    abs(r["heat_price_DKK_per_MWh"] / 282.0 - 1) <= 0.10 if band is None
                    else band[0] <= r["savings_pct"] <= band[1])
    print(json.dumps(out))


if __name__ == "__main__":
    main()

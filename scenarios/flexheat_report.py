"""report.html + plots of a FlexHeat run, and the cost table / comparison plots of several runs
(``heatflex compare RUN_DIR...``): storage level vs price and heat-pump output vs price in a
winter and a summer week, as in the EnergyLab Nordhavn report's figures 8–11."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adapters import parquet as parquet_mod
from scenarios.flexheat_world import REPORT_TABLE, indexed

WINTER_WEEK = (datetime(2018, 2, 4, 23, tzinfo=UTC), datetime(2018, 2, 11, 23, tzinfo=UTC))
SUMMER_WEEK = (datetime(2018, 7, 1, 22, tzinfo=UTC), datetime(2018, 7, 8, 22, tzinfo=UTC))
"""The weeks the comparison plots show when a run covers them (the bundled week variants:
Monday 00:00 local time, Europe/Copenhagen)."""

LABELS = {"control_loop": "control loop", "optimised": "price-optimised",
          "optimised_fcr_n": "optimised + FCR-N"}
COLORS = {"control_loop": "tab:blue", "optimised": "tab:green", "optimised_fcr_n": "tab:purple"}


def _new(size: tuple[float, float] = (11.0, 4.5)) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _hourly(frames: dict[str, pd.DataFrame], meas: str, col: str) -> pd.Series | None:
    df = frames.get(meas)
    if df is None or col not in df:
        return None
    s = df[col].astype(float)
    if not isinstance(s.index, pd.DatetimeIndex):
        return None
    return s.resample("1h").mean()


def _window(s: pd.Series, week: tuple[datetime, datetime]) -> pd.Series:
    a, b = pd.Timestamp(week[0]), pd.Timestamp(week[1])
    idx = s.index if s.index.tz is not None else s.index.tz_localize("UTC")
    s = pd.Series(s.to_numpy(), index=idx)
    return s[(s.index >= a) & (s.index < b)]


def plot_level_and_output(runs: list[tuple[str, dict[str, pd.DataFrame]]], path_level: Path,
                          path_output: Path, week: tuple[datetime, datetime] | None,
                          title: str) -> list[Path]:
    """Storage level (MWh) and heat-pump heat output (kW) of each run, with the electricity
    procurement price (spot + taxes + tariffs) on a second axis."""
    made: list[Path] = []
    for path, col, ylabel, what in (
        (path_level, "E_level_kWh", "storage level, MWh", "Storage level"),
        (path_output, "Q_hp_kW", "heat-pump heat output, kW", "Heat-pump output"),
    ):
        fig, ax = _new()
        price = None
        for kind, frames in runs:
            s = _hourly(frames, "plant", col)
            if s is None:
                continue
            if week is not None:
                s = _window(s, week)
            if s.empty:
                continue
            scale = 1e-3 if col == "E_level_kWh" else 1.0
            lbl = LABELS.get(kind, kind)
            if col == "E_level_kWh":
                ax.fill_between(s.index, s.to_numpy() * scale, step="post", alpha=0.35,
                                color=COLORS.get(kind), label=lbl)
            else:
                ax.step(s.index, s.to_numpy() * scale, where="post", color=COLORS.get(kind),
                        label=lbl, lw=1.2)
            if price is None:
                p = _hourly(frames, "prices", "price_total_DKK_per_MWh")
                if p is not None:
                    price = _window(p, week) if week is not None else p
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if price is not None and not price.empty:
            ax2 = ax.twinx()
            ax2.step(price.index, price.to_numpy(), where="post", color="black", lw=0.9,
                     label="electricity procurement price")
            ax2.set_ylabel("price, DKK/MWh el")
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
        else:
            ax.legend(loc="upper left", fontsize=8)
        ax.set_title(f"{what} vs price — {title}")
        ax.set_xlabel("time (UTC)")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path)
        made.append(path)
    return made


def plot_tank_sensors(frames: dict[str, pd.DataFrame], path: Path) -> Path | None:
    """The 16 tank sensor temperatures over time (heat map, top sensor first)."""
    df = frames.get("plant")
    if df is None:
        return None
    cols = [f"T_sensor_{i}_C" for i in range(16) if f"T_sensor_{i}_C" in df]
    if not cols:
        return None
    h = df[cols].astype(float).resample("1h").mean()
    fig, ax = _new((11.0, 4.0))
    t = h.index
    im = ax.imshow(h.to_numpy().T, aspect="auto", interpolation="nearest", cmap="coolwarm",
                   extent=(0, len(t), len(cols), 0), vmin=30, vmax=80)
    fig.colorbar(im, ax=ax, label="°C")
    ax.set_ylabel("sensor (0 = top)")
    ax.set_xlabel(f"hours since {t[0]:%Y-%m-%d %H:%M} UTC")
    ax.set_title("Tank temperatures at the 16 sensors (thermocline moving up and down)")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_fcr(frames: dict[str, pd.DataFrame], path: Path) -> Path | None:
    """FCR-N delivery: required vs delivered power deviation over a 6-hour window with a band."""
    ctl, plant = frames.get("controller"), frames.get("plant")
    if (ctl is None or plant is None or "fcr_band_kW" not in ctl
            or not (ctl["fcr_band_kW"] > 0).any()):
        return None
    first = ctl.index[(ctl["fcr_band_kW"] > 0).to_numpy()][0]
    sl = slice(first, first + pd.Timedelta(hours=6))
    fig, ax = _new()
    ax.plot(ctl.loc[sl].index, ctl.loc[sl, "dP_el_fcr_req_kW"],
            label="required ΔP (−C·Δf/0.1 Hz)", color="black", lw=1.0)
    ax.plot(plant.loc[sl].index, plant.loc[sl, "dP_el_fcr_kW"], label="delivered ΔP", lw=1.0,
            color="tab:purple", ls="--")
    ax.plot(ctl.loc[sl].index, ctl.loc[sl, "fcr_band_kW"], color="grey", lw=0.8, label="band C")
    ax.plot(ctl.loc[sl].index, -ctl.loc[sl, "fcr_band_kW"], color="grey", lw=0.8)
    ax.set_ylabel("electric power deviation, kW")
    ax.set_title("FCR-N delivery against the simulated frequency (first 6 h with a band)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    return path


def cost_table(rows: list[tuple[str, str, dict[str, float]]]) -> list[dict[str, Any]]:
    """The report's Table 2 for the given runs: heat MWh, total cost DKK, heat price DKK/MWh and
    savings % against the control-loop run (same period), each beside the published figure."""
    base = next((k for kind, _, k in rows if kind == "control_loop"), None)
    out = []
    for kind, name, k in rows:
        sav = (100.0 * (1.0 - k["heat_price_DKK_per_MWh"] / base["heat_price_DKK_per_MWh"])
               if base is not None else float("nan"))
        rep = REPORT_TABLE.get(kind, {})
        out.append({"run": name, "strategy": kind, "heat_MWh": k["heat_MWh"],
                    "total_cost_DKK": k["total_cost_DKK"],
                    "heat_price_DKK_per_MWh": k["heat_price_DKK_per_MWh"], "savings_pct": sav,
                    "report_heat_price_DKK_per_MWh": rep.get("heat_price_DKK_per_MWh"),
                    "report_savings_pct": rep.get("savings_pct")})
    return out


def format_cost_table(table: list[dict[str, Any]]) -> str:
    """Plain-text cost table with the report's figures beside ours."""
    lines = [f"{'strategy':20s} {'heat MWh':>9s} {'total DKK':>11s} {'DKK/MWh':>8s} "
             f"{'report':>7s} {'savings %':>9s} {'report %':>8s}"]
    for r in table:
        rp = r["report_heat_price_DKK_per_MWh"]
        rs = r["report_savings_pct"]
        lines.append(
            f"{LABELS.get(r['strategy'], r['strategy']):20s} {r['heat_MWh']:9.1f} "
            f"{r['total_cost_DKK']:11.0f} {r['heat_price_DKK_per_MWh']:8.1f} "
            f"{(f'{rp:.0f}' if rp is not None else '-'):>7s} {r['savings_pct']:9.2f} "
            f"{(f'{rs:.2f}' if rs is not None else '-'):>8s}")
    return "\n".join(lines)


def _html_table(table: list[dict[str, Any]]) -> str:
    head = ("<tr><th>strategy</th><th>heat MWh</th><th>total cost DKK</th><th>heat price "
            "DKK/MWh</th><th>report</th><th>savings %</th><th>report %</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(LABELS.get(r['strategy'], r['strategy']))}</td>"
        f"<td>{r['heat_MWh']:.1f}</td><td>{r['total_cost_DKK']:.0f}</td>"
        f"<td>{r['heat_price_DKK_per_MWh']:.1f}</td>"
        f"<td>{r['report_heat_price_DKK_per_MWh'] or '-'}</td><td>{r['savings_pct']:.2f}</td>"
        f"<td>{r['report_savings_pct'] if r['report_savings_pct'] is not None else '-'}</td></tr>"
        for r in table)
    return f"<table border=1>{head}{body}</table>"


def write_flexheat_report(out: Path, frames: dict[str, pd.DataFrame], kpis: dict[str, Any],
                          meta: dict[str, Any], sc: Any) -> Path:
    """Write ``plots/*.png`` and ``report.html`` of one FlexHeat run."""
    frames = indexed(frames)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    kind = sc.controller.type
    made = plot_level_and_output([(kind, frames)], plots / "storage_level_vs_price.png",
                                 plots / "hp_output_vs_price.png", None,
                                 f"{LABELS.get(kind, kind)}, {sc.name}")
    for p in (plot_tank_sensors(frames, plots / "tank_sensors.png"),
              plot_fcr(frames, plots / "fcr_delivery.png")):
        if p is not None:
            made.append(p)
    table = cost_table([(kind, sc.name, kpis)])
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>"
                   for k, v in kpis.items() if isinstance(v, int | float))
    imgs = "".join(f'<p><img src="plots/{p.name}" alt="{p.stem}"></p>' for p in made)
    page = (f"<html><head><meta charset='utf-8'><title>{html.escape(sc.name)}</title></head>"
            f"<body><h1>{html.escape(sc.name)} — {html.escape(LABELS.get(kind, kind))}</h1>"
            f"<p>{html.escape(sc.description)}</p><h2>Cost</h2>{_html_table(table)}"
            f"<p>Savings need a control-loop run of the same period: <code>heatflex compare "
            f"RUN_DIR...</code></p><h2>KPIs</h2><table border=1>{rows}</table>{imgs}"
            f"<h2>Run</h2><pre>{html.escape(json.dumps(meta, indent=1, default=str))}</pre>"
            "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def load_run(run_dir: Path) -> tuple[str, str, dict[str, float], dict[str, pd.DataFrame]]:
    """(strategy, scenario name, KPIs, frames) of a FlexHeat run folder."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    kind = run.get("site", {}).get("controller")
    if kind is None:
        raise ValueError(f"{run_dir}: not a FlexHeat run (run.json has no site.controller)")
    frames = indexed(parquet_mod.read_timeseries(run_dir / "timeseries"))
    return kind, run.get("scenario", run_dir.name), summary["kpis"], frames


def compare_flexheat(run_dirs: list[Path], out_dir: Path | None = None) -> tuple[str, list[Path]]:
    """The cost table of several FlexHeat runs (grouped by scenario, savings against the
    control-loop run of the same scenario) and the comparison plots, written to ``out_dir``."""
    loaded = [load_run(Path(d)) for d in run_dirs]
    by_scenario: dict[str, list[tuple[str, dict[str, float], dict[str, pd.DataFrame]]]] = {}
    for kind, name, k, frames in loaded:
        by_scenario.setdefault(name, []).append((kind, k, frames))
    text: list[str] = []
    made: list[Path] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for name, runs in by_scenario.items():
        order = sorted(runs, key=lambda r: list(LABELS).index(r[0]) if r[0] in LABELS else 9)
        table = cost_table([(kind, name, k) for kind, k, _ in order])
        text.append(f"{name}\n{format_cost_table(table)}")
        if out_dir is None:
            continue
        pairs = [(kind, frames) for kind, _, frames in order]
        weeks = [(w, lbl) for w, lbl in ((WINTER_WEEK, "winter week"),
                                         (SUMMER_WEEK, "summer week"))
                 if _covers(pairs, w)] or [(None, "whole run")]
        for week, lbl in weeks:
            tag = lbl.replace(" ", "_")
            made += plot_level_and_output(pairs, out_dir / f"{name}_{tag}_storage_level.png",
                                          out_dir / f"{name}_{tag}_hp_output.png", week,
                                          f"{lbl}, {name}")
        (out_dir / f"{name}_cost_table.json").write_text(json.dumps(table, indent=1),
                                                          encoding="utf-8")
    return "\n\n".join(text), made


def _covers(pairs: list[tuple[str, dict[str, pd.DataFrame]]], week: tuple[datetime, datetime]
            ) -> bool:
    for _, frames in pairs:
        df = frames.get("plant")
        if df is None or df.empty:
            return False
        idx = df.index if df.index.tz is not None else df.index.tz_localize("UTC")
        last = pd.Timestamp(week[1]) - pd.Timedelta(hours=1)
        if idx[0] > pd.Timestamp(week[0]) or idx[-1] < last:
            return False
    return True


__all__ = ["compare_flexheat", "cost_table", "format_cost_table", "write_flexheat_report"]

"""Run report: ``report.html`` with KPI table, verdicts and PNG plots under ``plots/``.

Plots are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
switch), from time-weighted bin means (:func:`scenarios.kpi.resample_mean`): the bin width is chosen
so that a plot has at most :data:`MAX_POINTS` points: 15 min for a week, 1 h for a month,
1 day for a year.
Fleets are drawn as the fleet mean with a min–max band (temperatures) or the site sum (power, heat).
A plot whose measurements are missing is skipped.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenarios.kpi import FCR_KPI_DEFINITIONS, KPI_DEFINITIONS, compare_kpis, resample_mean

DPI: int = 110
MAX_POINTS: int = 1000
"""Upper bound on bins per plot; keeps a year-long report fast (< a few s) and readable."""
BIN_CANDIDATES_S: tuple[float, ...] = (
    1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400
)
LAYER_RE = re.compile(r"^T_layers_C_(\d+)$")
COP_MIN_POWER_FRAC: float = 0.02
"""Bins whose mean electric power is below this fraction of the run's maximum bin mean are left out
of the COP plot (heat pump off: the ratio is meaningless)."""

PLOT_CAPTIONS: dict[str, str] = {
    "temperatures": "Room temperature against the comfort band, set-point and outdoor temperature.",
    "power_price": "Electric power, heat to space heating and hot water, and the electricity "
    "price: does consumption sit in the cheap hours?",
    "tank": "Hot-water tank: layer temperatures (top at the top) and state of charge.",
    "cop": "Coefficient of performance (heat ÷ electricity per bin) and supply temperature; "
    "COP against outdoor temperature.",
    "market_fleet": "Market-coupled fleet: the target price series against the cleared "
    "day-ahead price, and the fleet's metered power against its accepted schedule and baseline.",
    "mfrr_balancing": "mFRR: system imbalance and activated need, spot vs balancing price, "
    "and the fleet's ordered change against its metered deviation from the schedule.",
    "fcr_fleet": "FCR fleet: grid frequency, the fleet's delivered and theoretical FCR-N "
    "activation (up-regulation positive) and its maintained capacity.",
}


# --------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------


def choose_bin_s(duration_s: float, step_s: float, max_points: int = MAX_POINTS) -> float:
    """Smallest candidate bin [s] ≥ ``step_s`` giving at most ``max_points`` bins over the run."""
    for c in BIN_CANDIDATES_S:
        if c >= step_s and duration_s / c <= max_points:
            return float(c)
    return float(BIN_CANDIDATES_S[-1])


def _bin_label(bin_s: float) -> str:
    """'15-min', '1-h', '1-day' style label of a bin width."""
    if bin_s >= 86400 and bin_s % 86400 == 0:
        return f"{bin_s / 86400:g}-day"
    if bin_s >= 3600 and bin_s % 3600 == 0:
        return f"{bin_s / 3600:g}-h"
    if bin_s >= 60 and bin_s % 60 == 0:
        return f"{bin_s / 60:g}-min"
    return f"{bin_s:g}-s"


def _has(frames: Mapping[str, pd.DataFrame], meas: str, *fields: str) -> bool:
    df = frames.get(meas)
    return df is not None and len(df) > 0 and all(f in df.columns for f in fields)


def _fleet(
    frames: Mapping[str, pd.DataFrame],
    meas: str,
    fields: list[str],
    bin_s: float,
    step_s: float,
    how: str,
) -> pd.DataFrame | None:
    """Bin means of ``fields`` aggregated over entities (``how`` = sum, mean, min or max).

    Index: bin start as naive UTC datetime64 (for matplotlib); None if nothing is present.
    """
    df = frames.get(meas)
    fields = [f for f in fields if df is not None and f in df.columns]
    if df is None or len(df) == 0 or not fields:
        return None
    long = resample_mean(df, fields, bin_s, step_s)
    grouped = long.groupby("time", sort=True)[fields]
    agg = grouped.sum(min_count=1) if how == "sum" else grouped.agg(how)
    agg.index = pd.DatetimeIndex(agg.index).tz_convert("UTC").tz_localize(None)
    return agg


def _n_entities(frames: Mapping[str, pd.DataFrame], meas: str) -> int:
    df = frames.get(meas)
    if df is None or "entity" not in df.columns:
        return 1
    return int(df["entity"].nunique())


def _time_span_s(frames: Mapping[str, pd.DataFrame], step_s: float) -> tuple[float, float]:
    """(first sample, end of last hold) over all frames, UTC epoch seconds."""
    lo, hi = math.inf, -math.inf
    for df in frames.values():
        if df is None or len(df) == 0 or "time" not in df.columns:
            continue
        t = pd.to_datetime(df["time"], utc=True)
        lo = min(lo, t.min().timestamp())
        hi = max(hi, t.max().timestamp() + step_s)
    return lo, hi


# --------------------------------------------------------------------------------------------
# Figure helpers
# --------------------------------------------------------------------------------------------


def _new_figure(nrows: int, height_ratios: list[float], size: tuple[float, float]):
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios})[:, 0]
    return fig, list(axes)


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _finish(ax: Axes, ylabel: str, legend: bool = True) -> None:
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small", ncols=3, framealpha=0.85)


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


# --------------------------------------------------------------------------------------------
# The plots
# --------------------------------------------------------------------------------------------


def plot_temperatures(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float, step_s: float,
                      comfort_low_C: float, comfort_high_C: float) -> Path | None:
    """Room (and structure/floor) temperature, comfort band, set-point; outdoor panel below."""
    if not _has(frames, "building", "T_room_C"):
        return None
    n = _n_entities(frames, "building")
    fields = ["T_room_C", "T_structure_C", "T_floor_C"]
    mean = _fleet(frames, "building", fields, bin_s, step_s, "mean")
    weather = _fleet(frames, "weather", ["T_out_C", "T_out_24h_C"], bin_s, step_s, "mean")
    ctrl = _fleet(frames, "controller", ["T_set_C"], bin_s, step_s, "mean")
    panels = 2 if weather is not None else 1
    fig, axes = _new_figure(panels, [3.0, 1.4][:panels], (11, 6.5 if panels == 2 else 4.8))
    ax = axes[0]
    ax.axhspan(comfort_low_C, comfort_high_C, color="tab:green", alpha=0.15,
               label=f"comfort band {comfort_low_C:g}–{comfort_high_C:g} °C")
    suffix = f" (mean of {n})" if n > 1 else ""
    if n > 1:
        lo = _fleet(frames, "building", ["T_room_C"], bin_s, step_s, "min")
        hi = _fleet(frames, "building", ["T_room_C"], bin_s, step_s, "max")
        ax.fill_between(lo.index, lo["T_room_C"], hi["T_room_C"], color="tab:red", alpha=0.15,
                        label="T_room min–max")
    ax.plot(mean.index, mean["T_room_C"], color="tab:red", lw=1.3, label="T_room" + suffix)
    if "T_structure_C" in mean:
        ax.plot(mean.index, mean["T_structure_C"], color="tab:brown", lw=1.0, ls="--",
                label="T_structure" + suffix)
    if "T_floor_C" in mean:
        ax.plot(mean.index, mean["T_floor_C"], color="tab:orange", lw=1.0, ls=":",
                label="T_floor" + suffix)
    if ctrl is not None:
        ax.plot(ctrl.index, ctrl["T_set_C"], color="0.35", lw=1.0, drawstyle="steps-post",
                label="T_set (controller)" + (" (mean)" if _n_entities(frames, "controller") > 1
                                              else ""))
    ax.set_title("Indoor temperature and comfort")
    _finish(ax, "temperature [°C]")
    if weather is not None:
        axw = axes[1]
        axw.plot(weather.index, weather["T_out_C"], color="tab:blue", lw=1.0, label="T_out")
        if "T_out_24h_C" in weather:
            axw.plot(weather.index, weather["T_out_24h_C"], color="tab:cyan", lw=1.0, ls="--",
                     label="T_out 24 h mean")
        _finish(axw, "outdoor [°C]")
    _time_axis(axes[-1])
    return _save(fig, path)


def _stacked(ax: Axes, df: pd.DataFrame, parts: list[tuple[str, str, str]]) -> None:
    """Stacked step areas of the columns ``parts`` = [(column, label, colour), ...]."""
    base = np.zeros(len(df))
    for col, label, color in parts:
        y = df[col].fillna(0.0).to_numpy()
        ax.fill_between(df.index, base, base + y, step="post", color=color, alpha=0.75,
                        lw=0, label=label)
        base = base + y


def plot_power_price(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
                     step_s: float) -> Path | None:
    """Electric power (compressor vs backup), heat (space heating vs DHW) and price panels."""
    hp_fields = ["P_el_kW", "P_el_compressor_kW", "P_backup_kW", "Q_th_kW", "Q_sh_kW", "Q_dhw_kW"]
    hp = _fleet(frames, "heatpump", hp_fields, bin_s, step_s, "sum")
    if hp is None or not ({"P_el_kW", "P_el_compressor_kW"} & set(hp.columns)):
        return None
    price_fields = ["price_total_DKK_per_MWh", "price_spot_DKK_per_MWh"]
    market = _fleet(frames, "market", price_fields, bin_s, step_s, "mean")
    heat_cols = {"Q_th_kW", "Q_sh_kW", "Q_dhw_kW"} & set(hp.columns)
    panels = 1 + bool(heat_cols) + (market is not None)
    fig, axes = _new_figure(panels, [1.0] * panels, (11, 2.6 * panels + 0.8))
    n = _n_entities(frames, "heatpump")
    scope = f" (sum of {n} units)" if n > 1 else ""

    ax = axes[0]
    if {"P_el_compressor_kW", "P_backup_kW"} <= set(hp.columns):
        _stacked(ax, hp, [("P_el_compressor_kW", "compressor", "tab:blue"),
                          ("P_backup_kW", "backup heater", "tab:red")])
        if "P_el_kW" in hp:
            ax.plot(hp.index, hp["P_el_kW"], color="k", lw=0.7, drawstyle="steps-post",
                    label="P_el total")
    else:
        col = "P_el_kW" if "P_el_kW" in hp else "P_el_compressor_kW"
        ax.plot(hp.index, hp[col], color="tab:blue", lw=1.0, drawstyle="steps-post", label=col)
    ax.set_title(f"Electric power{scope}, {_bin_label(bin_s)} means")
    _finish(ax, "electric [kW]")

    i = 1
    if heat_cols:
        axh = axes[i]
        if {"Q_sh_kW", "Q_dhw_kW"} <= heat_cols:
            _stacked(axh, hp, [("Q_sh_kW", "space heating", "tab:orange"),
                               ("Q_dhw_kW", "hot water (DHW)", "tab:purple")])
        else:
            for col in sorted(heat_cols):
                axh.plot(hp.index, hp[col], lw=1.0, drawstyle="steps-post", label=col)
        _finish(axh, "heat [kW]")
        i += 1
    if market is not None:
        axp = axes[i]
        if "price_total_DKK_per_MWh" in market:
            axp.plot(market.index, market["price_total_DKK_per_MWh"], color="tab:green", lw=1.2,
                     drawstyle="steps-post", label="total price")
        if "price_spot_DKK_per_MWh" in market:
            axp.plot(market.index, market["price_spot_DKK_per_MWh"], color="tab:olive", lw=0.9,
                     ls="--", drawstyle="steps-post", label="spot price")
        _finish(axp, "price [DKK/MWh]")
    _time_axis(axes[-1])
    return _save(fig, path)


def _layer_columns(df: pd.DataFrame) -> list[str]:
    found = [(int(m.group(1)), c) for c in df.columns if (m := LAYER_RE.match(str(c)))]
    return [c for _, c in sorted(found)]


def plot_tank(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
              step_s: float) -> Path | None:
    """Layer temperatures as a time × height heat map (top layer at the top) plus soc_frac."""
    df = frames.get("tank")
    if df is None or len(df) == 0:
        return None
    layers = _layer_columns(df)
    lines = [c for c in ("T_top_C", "T_bottom_C") if c in df.columns]
    has_soc = "soc_frac" in df.columns
    if not layers and not lines and not has_soc:
        return None
    title_entity = ""
    if "entity" in df.columns and df["entity"].nunique() > 1:
        first = sorted(df["entity"].astype(str).unique())[0]
        df = df[df["entity"].astype(str) == first]
        title_entity = f" — entity {first}"
    sub = {"tank": df}
    cols = layers + lines + (["soc_frac"] if has_soc else [])
    data = _fleet(sub, "tank", cols, bin_s, step_s, "mean")
    panels = 1 + bool(has_soc)
    top_h = 3.0 if layers else 2.0
    fig, axes = _new_figure(panels, [top_h, 1.2][:panels], (11, 6.0 if panels == 2 else 4.5))
    ax = axes[0]
    if layers:
        z = data[layers].to_numpy().T  # (L, bins), row 0 = top layer
        x_edges = np.append(data.index.to_numpy(),
                            data.index.to_numpy()[-1] + np.timedelta64(int(bin_s), "s"))
        y_edges = np.arange(len(layers) + 1)
        mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(z), cmap="inferno",
                             shading="flat")
        ax.set_ylim(len(layers), 0)  # layer 0 (top of the tank) at the top
        ticks = sorted({0, len(layers) - 1, *range(0, len(layers), max(1, len(layers) // 5))})
        ax.set_yticks([t + 0.5 for t in ticks], [str(t) for t in ticks])
        fig.colorbar(mesh, ax=axes, label="layer temperature [°C]", pad=0.01, aspect=30)
        ax.set_title(f"Tank layer temperatures{title_entity}")
        _finish(ax, "layer (0 = top)", legend=False)
    else:
        for c in lines:
            ax.plot(data.index, data[c], lw=1.0, label=c)
        ax.set_title(f"Tank temperatures{title_entity}")
        _finish(ax, "temperature [°C]")
    if has_soc:
        axs = axes[1]
        axs.plot(data.index, data["soc_frac"], color="tab:blue", lw=1.2, label="soc_frac")
        axs.set_ylim(-0.02, 1.02)
        _finish(axs, "state of charge [-]")
    _time_axis(axes[-1])
    return _save(fig, path)


def plot_cop(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
             step_s: float) -> Path | None:
    """COP per bin (site heat ÷ site electricity) and supply temperature vs time; COP vs T_out."""
    hp = _fleet(frames, "heatpump", ["Q_th_kW", "P_el_kW"], bin_s, step_s, "sum")
    if hp is not None and {"Q_th_kW", "P_el_kW"} <= set(hp.columns) and hp["P_el_kW"].notna().any():
        p = hp["P_el_kW"]
        cop = (hp["Q_th_kW"] / p).where(p > COP_MIN_POWER_FRAC * float(p.max()))
    elif _has(frames, "heatpump", "COP"):
        cop_df = _fleet(frames, "heatpump", ["COP"], bin_s, step_s, "mean")
        cop = cop_df["COP"].where(cop_df["COP"] > 0)
    else:
        return None
    if not cop.notna().any():
        return None
    supply = _fleet(frames, "heatpump", ["T_supply_C"], bin_s, step_s, "mean")
    weather = _fleet(frames, "weather", ["T_out_C"], bin_s, step_s, "mean")

    fig = Figure(figsize=(11, 4.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    width = [2.2, 1.0] if weather is not None else [1.0]
    axes = fig.subplots(1, len(width), squeeze=False, gridspec_kw={"width_ratios": width})[0]
    ax = axes[0]
    ax.plot(cop.index, cop, color="tab:green", lw=1.0, marker=".", ms=2, label="COP")
    ax.set_title("COP and supply temperature")
    ax.set_ylim(bottom=0)
    _finish(ax, "COP [-]", legend=False)
    handles, labels = ax.get_legend_handles_labels()
    if supply is not None and "T_supply_C" in supply:
        ax2 = ax.twinx()
        ax2.plot(supply.index, supply["T_supply_C"], color="tab:red", lw=0.9, alpha=0.8,
                 label="T_supply")
        ax2.set_ylabel("supply temperature [°C]")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper left", fontsize="small", framealpha=0.85)
    _time_axis(ax)
    if weather is not None:
        axs = axes[1]
        joined = pd.concat([cop.rename("COP"), weather["T_out_C"]], axis=1, join="inner").dropna()
        axs.scatter(joined["T_out_C"], joined["COP"], s=8, alpha=0.5, color="tab:green")
        axs.set_xlabel("outdoor temperature [°C]")
        axs.set_title("COP vs outdoor temperature")
        axs.set_ylim(bottom=0)
        _finish(axs, "COP [-]", legend=False)
    return _save(fig, path)


def plot_fcr_fleet(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
                   step_s: float) -> Path | None:
    """FCR fleet run: grid frequency (with and without the fleet's feedback) and the fleet's
    delivered vs theoretical activation and maintained capacity, as bin means."""
    if not (_has(frames, "grid", "f_Hz") and _has(frames, "fcr", "P_theo_kW")):
        return None
    grid = _fleet(frames, "grid", ["f_Hz", "f_without_fleet_Hz"], bin_s, 1.0, "mean")
    fcr = _fleet(frames, "fcr", ["P_theo_kW", "P_delivered_kW", "capacity_fleet_kW"], bin_s,
                 1.0, "mean")
    fig, axes = _new_figure(2, [1.0, 1.4], (11, 6.2))
    ax = axes[0]
    ax.axhspan(49.9, 50.1, color="tab:green", alpha=0.1, label="normal band")
    ax.plot(grid.index, grid["f_Hz"], color="tab:blue", lw=1.0, label="f")
    ax.set_title(f"Grid frequency and FCR-N activation of the fleet, {_bin_label(bin_s)} means")
    _finish(ax, "frequency [Hz]")
    ax = axes[1]
    ax.fill_between(fcr.index, -fcr["capacity_fleet_kW"], fcr["capacity_fleet_kW"],
                    color="0.85", step="post", label="± maintained capacity")
    ax.plot(fcr.index, fcr["P_theo_kW"], color="0.3", lw=1.0, drawstyle="steps-post",
            label="theoretical activation")
    ax.plot(fcr.index, fcr["P_delivered_kW"], color="tab:red", lw=1.0, drawstyle="steps-post",
            label="delivered (up +)")
    _finish(ax, "fleet activation [kW]")
    _time_axis(axes[-1])
    return _save(fig, path)


def plot_market_fleet(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
                      step_s: float) -> Path | None:
    """Market-coupled fleet run: the target price series against the cleared day-ahead price
    (top) and the fleet's metered power against its accepted schedule and baseline (bottom)."""
    if not _has(frames, "market", "price_cleared_EUR_per_MWh", "price_target_EUR_per_MWh",
                "accepted_fleet_kW", "P_el_fleet_kW"):
        return None
    df = frames["market"].sort_values("time")
    t = pd.DatetimeIndex(df["time"]).tz_convert("UTC").tz_localize(None)
    fig, (ax, ax2) = _new_figure(2, [1, 1], (12, 7))
    ax.plot(t, df["price_target_EUR_per_MWh"], color="0.4", lw=1.2, drawstyle="steps-post",
            label="target (no fleet flexibility)")
    ax.plot(t, df["price_cleared_EUR_per_MWh"], color="tab:red", lw=1.2, drawstyle="steps-post",
            label="cleared with the fleet's bids")
    ax.set_title("Day-ahead price: target series vs cleared")
    _finish(ax, "price [EUR/MWh]")
    ax2.plot(t, df["P_el_fleet_kW"] / 1000.0, color="tab:blue", lw=0.8, label="metered")
    ax2.plot(t, df["accepted_fleet_kW"] / 1000.0, color="tab:orange", lw=1.2,
             drawstyle="steps-post", label="accepted day-ahead schedule")
    if "P_base_fleet_kW" in df.columns:
        ax2.plot(t, df["P_base_fleet_kW"] / 1000.0, color="0.5", lw=1.0, ls="--",
                 label="baseline forecast")
    ax2.set_title("Simulated fleet's electric power")
    _finish(ax2, "power [MW]")
    _time_axis(ax2)
    return _save(fig, path)


def plot_mfrr_balancing(frames: Mapping[str, pd.DataFrame], path: Path, bin_s: float,
                        step_s: float) -> Path | None:
    """mFRR market fleet run (measurement ``balancing``, variant ``house``): system imbalance
    and the need the TSO activates (top), spot against balancing price (middle), the fleet's
    ordered consumption change against its metered deviation from the day-ahead schedule
    (bottom; consumption positive, so an up-regulation order is negative)."""
    if not _has(frames, "balancing", "system_imbalance_MW", "activation_need_MW",
                "balancing_price_EUR_per_MWh", "fleet_activation_kW"):
        return None
    b = frames["balancing"]
    if "entity" in b.columns and (b["entity"] == "house").any():
        b = b[b["entity"] == "house"]
    b = b.sort_values("time")
    t = pd.DatetimeIndex(b["time"]).tz_convert("UTC").tz_localize(None)
    fig, (ax, ax2, ax3) = _new_figure(3, [1, 1, 1], (12, 9))
    ax.plot(t, b["system_imbalance_MW"], color="0.4", lw=1.0, drawstyle="steps-post",
            label="system imbalance (generation − load)")
    ax.plot(t, b["activation_need_MW"], color="tab:red", lw=1.0, drawstyle="steps-post",
            label="activated for (|imbalance| ≥ threshold; < 0: up-regulation)")
    ax.set_title("mFRR: system imbalance and the need the TSO activates")
    _finish(ax, "MW")
    ax2.plot(t, b["spot_EUR_per_MWh"], color="0.4", lw=1.0, drawstyle="steps-post",
             label="day-ahead spot")
    ax2.plot(t, b["balancing_price_EUR_per_MWh"], color="tab:red", lw=1.0,
             drawstyle="steps-post", label="balancing (imbalance) price")
    ax2.set_title("Prices of each 15-min MTU / ISP")
    _finish(ax2, "price [EUR/MWh]")
    ax3.plot(t, b["fleet_activation_kW"], color="tab:orange", lw=1.2, drawstyle="steps-post",
             label="ordered change (−up + down)")
    m = frames.get("market")
    if m is not None and _has(frames, "market", "P_el_fleet_kW", "accepted_fleet_kW"):
        if "entity" in m.columns and (m["entity"] == "house").any():
            m = m[m["entity"] == "house"]
        m = m.sort_values("time")
        tm = pd.DatetimeIndex(m["time"]).tz_convert("UTC").tz_localize(None)
        ax3.plot(tm, m["P_el_fleet_kW"] - m["accepted_fleet_kW"], color="tab:blue", lw=0.7,
                 label="metered − day-ahead schedule")
    ax3.axhline(0.0, color="0.6", lw=0.8)
    ax3.set_title("Simulated fleet: ordered mFRR change and its deviation from the schedule")
    _finish(ax3, "power [kW]")
    _time_axis(ax3)
    return _save(fig, path)


EXTRA_PLOTTERS: dict[str, Callable[..., Path | None]] = {"fcr_fleet": plot_fcr_fleet,
                                                         "market_fleet": plot_market_fleet,
                                                         "mfrr_balancing": plot_mfrr_balancing}
"""Plots drawn only when their measurements exist (not listed as missing otherwise)."""

PLOTTERS: dict[str, Callable[..., Path | None]] = {
    "temperatures": plot_temperatures,
    "power_price": plot_power_price,
    "tank": plot_tank,
    "cop": plot_cop,
}


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1250px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#fff;background:#2a8a3a;padding:.1em .5em;border-radius:3px;font-weight:bold}
.fail{color:#fff;background:#b3261e;padding:.1em .5em;border-radius:3px;font-weight:bold}
.info{color:#222;background:#ddd;padding:.1em .5em;border-radius:3px}
figure{margin:1em 0 2em}img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}code,pre{font-size:.85em}
"""


def format_value(v: object) -> str:
    """Human-readable number: thousands separators, 2 decimals ≥ 1, 3 significant digits below."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        return html.escape(str(v))
    x = float(v)
    if not math.isfinite(x):
        return "–"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.3g}"


def _iso(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, int | float) and math.isfinite(v):
        return pd.Timestamp(v, unit="s", tz="UTC").isoformat()
    return str(v)


def _meta_rows(frames: Mapping[str, pd.DataFrame], run_meta: Mapping[str, object],
               step_s: float) -> list[tuple[str, str]]:
    lo, hi = _time_span_s(frames, step_s)
    scenario = run_meta.get("scenario", run_meta.get("scenario_name"))
    if isinstance(scenario, Mapping):
        scenario = scenario.get("name", json.dumps(scenario))
    if scenario is None:
        for df in frames.values():
            if df is not None and "scenario" in df.columns and len(df):
                scenario = df["scenario"].iloc[0]
                break
    wall = run_meta.get("wall_time_s", run_meta.get("wall_time"))
    rows = [
        ("scenario", str(scenario) if scenario is not None else "–"),
        ("run_id", str(run_meta.get("run_id", "–"))),
        ("start (UTC)", _iso(run_meta.get("start", lo if math.isfinite(lo) else None))),
        ("end (UTC)", _iso(run_meta.get("end", hi if math.isfinite(hi) else None))),
        ("wall time", f"{wall:.1f} s" if isinstance(wall, int | float) else str(wall or "–")),
    ]
    shown = {"scenario", "scenario_name", "run_id", "start", "end", "wall_time_s", "wall_time",
             "verdicts", "reference_kpis"}
    for key, val in run_meta.items():
        if key not in shown and isinstance(val, str | int | float | bool):
            rows.append((str(key), str(val)))
    return rows


def _verdict_badge(passed: object) -> str:
    if isinstance(passed, np.bool_):
        passed = bool(passed)
    if passed is True:
        return '<span class="pass">PASS</span>'
    if passed is False:
        return '<span class="fail">FAIL</span>'
    return f'<span class="info">{html.escape(str(passed))}</span>'


def _verdicts_html(verdicts: Mapping[str, object]) -> str:
    rows = []
    for name, v in verdicts.items():
        if isinstance(v, Mapping):
            passed = next((v[k] for k in ("passed", "pass", "ok", "verdict") if k in v), "–")
            detail = {k: x for k, x in v.items() if k not in ("passed", "pass", "ok", "verdict")}
            detail_s = json.dumps(detail, default=str, indent=1) if detail else ""
        else:
            passed, detail_s = v, ""
        rows.append(f"<tr><td>{html.escape(str(name))}</td><td>{_verdict_badge(passed)}</td>"
                    f"<td><pre>{html.escape(detail_s)}</pre></td></tr>")
    return ("<h2>Verdicts</h2><table><tr><th>test</th><th>verdict</th><th>details</th></tr>"
            + "".join(rows) + "</table>")


def _kpi_table_html(kpis: Mapping[str, float]) -> str:
    names = [n for n in (*KPI_DEFINITIONS, *FCR_KPI_DEFINITIONS) if n in kpis]
    names += sorted(set(kpis) - set(names))
    rows = []
    for n in names:
        d = KPI_DEFINITIONS.get(n) or FCR_KPI_DEFINITIONS.get(n)
        unit, desc = (d.unit, d.description) if d else ("", "")
        rows.append(f"<tr><td><code>{html.escape(n)}</code></td>"
                    f"<td class=num>{format_value(kpis[n])}</td><td>{html.escape(unit)}</td>"
                    f"<td>{html.escape(desc)}</td></tr>")
    if not rows:
        return "<h2>KPIs</h2><p>No KPI could be computed from the recorded series.</p>"
    return ("<h2>KPIs</h2><table><tr><th>KPI</th><th>value</th><th>unit</th>"
            "<th>description</th></tr>" + "".join(rows) + "</table>")


def _comparison_html(kpis: Mapping[str, float], reference: Mapping[str, float]) -> str:
    table = compare_kpis(kpis, reference, "this run", "reference")
    rows = []
    for name, r in table.iterrows():
        frac = r["diff_frac"]
        frac_s = f"{100 * frac:+.1f} %" if math.isfinite(frac) else "–"
        rows.append(f"<tr><td><code>{html.escape(str(name))}</code></td>"
                    f"<td>{html.escape(r['unit'])}</td>"
                    f"<td class=num>{format_value(r['this run'])}</td>"
                    f"<td class=num>{format_value(r['reference'])}</td>"
                    f"<td class=num>{format_value(r['diff'])}</td><td class=num>{frac_s}</td></tr>")
    return ("<h2>Comparison with the reference run</h2><table><tr><th>KPI</th><th>unit</th>"
            "<th>this run</th><th>reference</th><th>difference</th><th>relative</th></tr>"
            + "".join(rows) + "</table>")


def write_report(
    run_dir: Path,
    frames: Mapping[str, pd.DataFrame],
    kpis: Mapping[str, float],
    run_meta: Mapping[str, object],
    comfort_low_C: float = 20.0,
    comfort_high_C: float = 23.0,
    step_s: float = 60.0,
) -> Path:
    """Write ``run_dir/plots/*.png`` and ``run_dir/report.html``; return the HTML path.

    ``run_meta`` is the content of ``run.json`` (scenario, run_id, start, end, wall_time_s, ...);
    optional ``verdicts`` (name -> bool or dict with ``passed``) and ``reference_kpis`` (KPIs of a
    counterfactual run) add a verdicts section and a comparison table. ``step_s`` is the hold
    duration [s] of each entity's last sample.
    """
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s={step_s!r} is invalid; a finite duration > 0 s is required")
    if comfort_low_C >= comfort_high_C:
        raise ValueError(
            f"comfort_low_C={comfort_low_C} must be below comfort_high_C={comfort_high_C}"
        )
    run_dir = Path(run_dir)
    plot_dir = run_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    frames = {k: v for k, v in frames.items() if v is not None and len(v) > 0}
    lo, hi = _time_span_s(frames, step_s)
    bin_s = choose_bin_s(hi - lo, step_s) if math.isfinite(lo) else step_s

    written: list[tuple[str, Path]] = []
    for name, plotter in PLOTTERS.items():
        path = plot_dir / f"{name}.png"
        if name == "temperatures":
            out = plotter(frames, path, bin_s, step_s, comfort_low_C, comfort_high_C)
        else:
            out = plotter(frames, path, bin_s, step_s)
        if out is not None:
            written.append((name, out))
        elif path.exists():  # a stale plot from an earlier report in the same folder
            path.unlink()
    for name, plotter in EXTRA_PLOTTERS.items():
        out = plotter(frames, plot_dir / f"{name}.png", bin_s, step_s)
        if out is not None:
            written.append((name, out))

    meta = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in _meta_rows(frames, run_meta, step_s))
    scenario = html.escape(dict(_meta_rows(frames, run_meta, step_s))["scenario"])
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
        f"<title>heatflex report — {scenario}</title><style>{_CSS}</style></head><body>",
        f"<h1>heatflex run report — {scenario}</h1><table>{meta}</table>",
    ]
    verdicts = run_meta.get("verdicts")
    if isinstance(verdicts, Mapping) and verdicts:
        parts.append(_verdicts_html(verdicts))
    parts.append(_kpi_table_html(kpis))
    parts.append(f"<p>Comfort band {comfort_low_C:g}–{comfort_high_C:g} °C. "
                 "Definitions and sources: <code>docs/kpis.md</code>.</p>")
    reference = run_meta.get("reference_kpis")
    if isinstance(reference, Mapping) and reference:
        parts.append(_comparison_html(kpis, reference))
    parts.append(f"<h2>Plots</h2><p>Time-weighted means over {_bin_label(bin_s)} bins, UTC.</p>")
    for name, path in written:
        rel = path.relative_to(run_dir).as_posix()
        parts.append(f"<figure><img src='{html.escape(rel)}' alt='{name}'>"
                     f"<figcaption>{html.escape(PLOT_CAPTIONS[name])}</figcaption></figure>")
    skipped = [n for n in PLOTTERS if n not in dict(written)]
    if skipped:
        parts.append(f"<p>Not plotted (measurements missing): {', '.join(skipped)}.</p>")
    parts.append("</body></html>")
    out_path = run_dir / "report.html"
    out_path.write_text("\n".join(parts), encoding="utf-8")
    return out_path


# --------------------------------------------------------------------------------------------
# FCR prequalification report (``heatflex certify fcr``)
# --------------------------------------------------------------------------------------------


def plot_fcr_test(path: Path, test: str, rec: Mapping[str, np.ndarray], C_kW: float,
                  ideal_kW: np.ndarray, warmup_note: str = "") -> Path:
    """Applied and measured frequency (top) and the device's power against its setpoint, the
    baseline and the ideal response P_base − C·activation (bottom), over test time in s."""
    fig, axes = _new_figure(2, [1.0, 1.6], (11, 6.2))
    t = rec["t_s"]
    ax = axes[0]
    ax.plot(t, rec["f_Hz"], color="tab:blue", lw=1.0, label="applied f")
    if "f_meas_Hz" in rec:
        ax.plot(t, rec["f_meas_Hz"], color="tab:cyan", lw=0.9, ls="--",
                label="measured f (FME filter)")
    ax.set_title(f"FCR {test} test{warmup_note}")
    _finish(ax, "frequency [Hz]")
    ax = axes[1]
    ax.plot(t, ideal_kW, color="0.5", lw=1.0, ls=":", label="ideal P_base − C·a(f)")
    ax.plot(t, rec["P_base_kW"], color="tab:green", lw=0.9, ls="--", label="baseline")
    if "P_set_kW" in rec:
        ax.plot(t, rec["P_set_kW"], color="tab:orange", lw=0.9, label="setpoint")
    ax.plot(t, rec["P_kW"], color="tab:red", lw=1.2, label="device P_el")
    ax.set_xlabel("test time [s]")
    _finish(ax, f"electric power [kW] (C = {C_kW:.3g} kW)")
    return _save(fig, path)


def plot_fcr_bode(path: Path, rows: list[Mapping[str, float]]) -> Path | None:
    """Sine tests: measured gain |F| and phase per period, and each period's Req. 8 distance
    (> 0.43·0.95) and Req. 9 performance ratio (< 1) against their limits."""
    rows = [r for r in rows if "distance" in r]
    if not rows:
        return None
    T = np.array([r["period_s"] for r in rows])
    fig, axes = _new_figure(3, [1.0, 1.0, 1.0], (9, 8.5))
    axes[0].semilogx(T, [r["gain"] for r in rows], "o-", color="tab:blue", label="|F| measured")
    axes[0].axhline(1.0, color="0.5", ls=":", label="ideal (1)")
    axes[0].set_title("Sine tests: normalised response F = (P̂/f̂)·Δf_FCR/C")
    _finish(axes[0], "gain |F| [-]")
    axes[1].semilogx(T, [r["phase_deg"] for r in rows], "o-", color="tab:purple",
                     label="phase (negative: power lags)")
    axes[1].axhline(0.0, color="0.5", ls=":")
    _finish(axes[1], "phase [°]")
    axes[2].semilogx(T, [r["distance"] for r in rows], "o-", color="tab:green",
                     label="Req. 8: |F·G + 1| (stability case)")
    axes[2].axhline(0.43 * 0.95, color="tab:green", ls="--", lw=0.8, label="limit 0.43·0.95")
    axes[2].semilogx(T, [r["performance_ratio"] for r in rows], "s-", color="tab:red",
                     label="Req. 9: 0.95·|G/(1+FG)|·|D|")
    axes[2].axhline(1.0, color="tab:red", ls="--", lw=0.8, label="limit 1")
    axes[2].set_xlabel("period T [s]")
    _finish(axes[2], "criterion [-]")
    return _save(fig, path)


def plot_fcr_nyquist(path: Path, rows: list[Mapping[str, float]]) -> Path | None:
    """Nyquist curve of F·G (stability case) through the tested periods, with the circle of
    radius 0.43·0.95 around −1 that it must stay outside (Req. 8)."""
    rows = [r for r in rows if "nyquist_re" in r]
    if not rows:
        return None
    fig = Figure(figsize=(7, 6.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    phi = np.linspace(0, 2 * np.pi, 361)
    for rad, style, label in ((0.43 * 0.95, "-", "radius 0.43·0.95 (limit)"),
                              (0.43, ":", "radius 0.43")):
        ax.plot(-1 + rad * np.cos(phi), rad * np.sin(phi), color="tab:red", ls=style,
                label=label)
    x = [r["nyquist_re"] for r in rows]
    y = [r["nyquist_im"] for r in rows]
    ax.plot(x, y, "o-", color="tab:blue", label="F·G at the tested periods")
    for r in rows:
        ax.annotate(f"{r['period_s']:g} s", (r["nyquist_re"], r["nyquist_im"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.plot([-1], [0], "x", color="k", label="−1")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.axvline(0, color="0.7", lw=0.6)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title("Nyquist: open loop F·G, stability case (Req. 8)")
    ax.set_xlabel("Re")
    _finish(ax, "Im")
    return _save(fig, path)


def _requirements_html(name: str, v: Mapping[str, object]) -> str:
    reqs = v.get("requirements")
    if not isinstance(reqs, Mapping):
        return ""
    rows = []
    for rname, r in reqs.items():
        if not isinstance(r, Mapping):
            continue
        rows.append(f"<tr><td><code>{html.escape(str(rname))}</code></td>"
                    f"<td>{_verdict_badge(r.get('pass'))}</td>"
                    f"<td class=num>{format_value(r.get('value'))}</td>"
                    f"<td>{html.escape(str(r.get('comparison', '')))} "
                    f"{html.escape(json.dumps(r.get('limit')))}</td>"
                    f"<td>{html.escape(str(r.get('unit', '')))}</td>"
                    f"<td>{html.escape(str(r.get('detail', '')))}</td></tr>")
    return (f"<h3>{html.escape(name)} {_verdict_badge(v.get('pass'))}</h3><table><tr>"
            "<th>requirement</th><th>verdict</th><th>value</th><th>limit</th><th>unit</th>"
            "<th>detail</th></tr>" + "".join(rows) + "</table>")


def write_fcr_report(run_dir: Path, product: str, direction: str, C_kW: float,
                     P_base_kW: float, plan: list, records: Mapping[str, Mapping[str, np.ndarray]],
                     per_test: Mapping[str, Mapping[str, object]],
                     overall: Mapping[str, object], kpis: Mapping[str, float],
                     run_meta: Mapping[str, object]) -> Path:
    """``report.html`` of an FCR certification: overall verdict, every requirement of every
    test (value, limit, detail), KPIs, and per test the f/P time plot; sine tests add Bode and
    Nyquist plots. ``plan`` holds the scheduled tests (``name``, ``signal``, ``offset_s``)."""
    from simulators.fcr_programme import ideal_power_kW

    run_dir = Path(run_dir)
    plot_dir = run_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    for st in plan:
        rec = records[st.name]
        ideal = ideal_power_kW(product, rec["f_Hz"], P_base_kW, C_kW, direction)
        p = plot_fcr_test(plot_dir / f"fcr_{st.name}.png", st.name, rec, C_kW, ideal)
        figures.append((p.name, f"{st.name} test: applied frequency and the device's response "
                                "(setpoint, measured power, baseline, ideal response)."))
        sine = per_test[st.name].get("sine")
        if isinstance(sine, list) and sine:
            b = plot_fcr_bode(plot_dir / "fcr_bode.png", sine)
            if b is not None:
                figures.append((b.name, "Sine tests: gain and phase of F per period and the "
                                        "stability (Req. 8) and performance (Req. 9) criteria."))
            ny = plot_fcr_nyquist(plot_dir / "fcr_nyquist.png", sine)
            if ny is not None:
                figures.append((ny.name, "Nyquist curve of F·G (stability case) and the "
                                         "0.43·0.95 circle around −1 it must stay outside."))
    meta_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in run_meta.items() if isinstance(v, str | int | float | bool))
    failed = overall.get("failed") or []
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset='utf-8'><title>heatflex FCR "
        f"certification — {html.escape(product)}</title><style>{_CSS}</style></head><body>",
        f"<h1>FCR prequalification — {html.escape(product)} "
        f"{_verdict_badge(overall.get('pass'))}</h1>",
        "<p>Simulated test of the control concept and tuning; a TSO needs measurements of the "
        "real unit (see <code>docs/fcr.md</code>, limits).</p>",
        f"<table>{meta_rows}</table>",
    ]
    if failed:
        parts.append("<p>Failed: " + ", ".join(f"<code>{html.escape(str(f))}</code>"
                                              for f in failed) + "</p>")
    parts.append("<h2>Verdicts</h2>")
    for name, v in per_test.items():
        parts.append(_requirements_html(name, v))
    parts.append(_kpi_table_html(kpis))
    parts.append("<h2>Plots</h2>")
    for fname, caption in figures:
        parts.append(f"<figure><img src='plots/{html.escape(fname)}' alt='{html.escape(fname)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    out_path = run_dir / "report.html"
    out_path.write_text("\n".join(parts), encoding="utf-8")
    return out_path

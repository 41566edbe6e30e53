"""report.html + plots/*.png of a kickback run: aggregate power with and without the events
(event windows shaded), transformer loading, the voltage envelope of the house buses, and a
heat map of heat-pump state (houses × time)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from scenarios.kickback_world import VARIANT_ALT, VARIANT_CF, VARIANT_EVENT, _series
from scenarios.schema import Scenario


def _shade(ax: Any, sc: Scenario) -> None:
    for e in sc.events:
        a = (e.start - sc.start).total_seconds() / 3600.0
        ax.axvspan(a, a + e.duration / 3600.0, color="tab:orange", alpha=0.15,
                   label=e.name or e.kind)


def _fig(path: Path, draw: Any, size: tuple[float, float] = (10.0, 4.0)) -> Path:
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    draw(fig, ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_kickback_report(out: Path, frames: dict[str, pd.DataFrame], kpis: dict[str, Any],
                          meta: dict[str, Any], sc: Scenario) -> Path:
    """Write ``plots/*.png`` and ``report.html`` into the run folder ``out``."""
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    made: list[Path] = []
    st = sc.start
    xlabel = f"hours since {st:%Y-%m-%d %H:%M} UTC"

    has_alt = sc.feeder is not None and sc.feeder.alternative is not None
    variants = ((VARIANT_EVENT, "with events, mitigation A" if has_alt else "with events"),
                (VARIANT_ALT, "with events, mitigation B"), (VARIANT_CF, "counterfactual"))

    def two(meas: str, attr: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
        res = []
        for tag, label in variants:
            s = _series(frames, meas, tag, attr, st)
            if s is not None:
                res.append((label, s[0] / 3600.0, s[1]))
        return res

    def power(fig: Any, ax: Any) -> None:
        for label, t, v in two("fleet", "P_total_kW"):
            ax.step(t, v, where="post", label=f"heat pumps + base load, {label}")
        for _label, t, v in two("fleet", "P_base_kW")[:1]:
            ax.step(t, v, where="post", color="grey", lw=0.8, label="base load")
        _shade(ax, sc)
        ax.set_ylabel("aggregate power, kW")
        ax.set_xlabel(xlabel)
        ax.set_title("Aggregate feeder load")
        ax.legend(loc="upper left", fontsize=8)

    def trafo(fig: Any, ax: Any) -> None:
        for label, t, v in two("feeder", "trafo_loading_max_pct"):
            ax.step(t, v, where="post", label=label)
        ax.axhline(100.0, color="red", ls="--", lw=1, label="rating")
        _shade(ax, sc)
        ax.set_ylabel("transformer loading (max), %")
        ax.set_xlabel(xlabel)
        ax.set_title(f"Transformer loading ({sc.feeder.interval / 60:g}-min power flows)")
        ax.legend(loc="upper left", fontsize=8)

    def volt(fig: Any, ax: Any) -> None:
        for (label, t, v), c in zip(two("feeder_house", "v_house_pu"),
                                    ("tab:blue", "tab:orange", "tab:green"), strict=False):
            ax.fill_between(t, np.nanmin(v, axis=1), np.nanmax(v, axis=1), step="post",
                            alpha=0.3, color=c, label=f"house buses min–max, {label}")
        ax.axhline(0.9, color="red", ls="--", lw=1, label="EN 50160 −10 %")
        _shade(ax, sc)
        ax.set_ylabel("voltage, p.u.")
        ax.set_xlabel(xlabel)
        ax.set_title("Voltage envelope along the feeder")
        ax.legend(loc="lower left", fontsize=8)

    def heat(fig: Any, ax: Any) -> None:
        s = _series(frames, "heatpump", VARIANT_EVENT, "hp_state", st)
        if s is None:
            return
        t, v = s
        cmap = ListedColormap(["#f0f0f0", "#2b8cbe", "#d7301f", "#fdae61", "#7b3294"])
        im = ax.imshow(v.T, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5,
                       vmax=4.5, extent=(t[0] / 3600, (t[-1] + sc.step) / 3600, v.shape[1], 0))
        cb = fig.colorbar(im, ax=ax, ticks=range(5))
        cb.ax.set_yticklabels(["off", "running", "blocked", "limited", "forced"])
        for e in sc.events:  # nominal event windows (price events show as off/on cycling)
            a = (e.start - sc.start).total_seconds() / 3600.0
            for x in (a, a + e.duration / 3600.0):
                ax.axvline(x, color="black", ls="--", lw=1.0)
        ax.set_ylabel("house")
        ax.set_xlabel(xlabel)
        ax.set_title("Heat-pump state per house (with events)")

    skip = {"voltage": not two("feeder_house", "v_house_pu"),  # aggregate grid: no voltages
            "hp_state_heatmap": _series(frames, "heatpump", VARIANT_EVENT, "hp_state",
                                        st) is None}  # per-house records off
    for name, fn in (("power", power), ("trafo_loading", trafo), ("voltage", volt),
                     ("hp_state_heatmap", heat)):
        if skip.get(name):
            continue
        made.append(_fig(plots / f"{name}.png", fn, (11.0, 5.0 if name == "hp_state_heatmap"
                                                      else 4.0)))
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>"
                   for k, v in kpis.items() if isinstance(v, int | float))
    imgs = "".join(f'<p><img src="plots/{p.name}" alt="{p.stem}"></p>' for p in made)
    page = (f"<html><head><meta charset='utf-8'><title>{html.escape(sc.name)}</title></head>"
            f"<body><h1>{html.escape(sc.name)}</h1><p>{html.escape(sc.description)}</p>"
            f"<h2>Rebound KPIs</h2><table border=1>{rows}</table>{imgs}"
            f"<h2>Run</h2><pre>{html.escape(json.dumps(meta, indent=1, default=str))}</pre>"
            "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

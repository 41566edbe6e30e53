"""report.html and its plots from synthetic recordings."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from scenarios.kpi import KPI_DEFINITIONS, compute_kpis
from scenarios.report import DPI, PLOTTERS, choose_bin_s, write_report

T0 = pd.Timestamp("2024-01-15 00:00", tz="UTC")
N_LAYERS = 6


def _tags(entity: str) -> dict[str, str]:
    return {"entity": entity, "run_id": "r42", "scenario": "demo-flex", "source": "sim"}


def synthetic_frames(days: float = 2.0, n_houses: int = 2, step_s: float = 60.0):
    """A small but complete recording: weather, market (hourly), houses, heat pumps, tanks."""
    rng = np.random.default_rng(1)
    n = int(days * 86400 / step_s)
    t = T0 + pd.to_timedelta(np.arange(n) * step_s, unit="s")
    h = np.arange(n) * step_s / 3600.0
    t_out = -3.0 + 4.0 * np.sin(2 * np.pi * (h - 9) / 24)
    hours = np.arange(int(days * 24))
    spot = 600 + 400 * np.sin(2 * np.pi * (hours % 24 - 12) / 24)
    tariff = np.where((hours % 24 >= 17) & (hours % 24 < 21), 1100.0, 450.0)
    frames = {
        "weather": pd.DataFrame({"time": t, **_tags("weather"), "T_out_C": t_out,
                                 "T_out_24h_C": np.full(n, -3.0)}),
        "market": pd.DataFrame({
            "time": T0 + pd.to_timedelta(hours * 3600, unit="s"), **_tags("dk1"),
            "price_spot_DKK_per_MWh": spot, "tariff_DKK_per_MWh": tariff,
            "tax_DKK_per_MWh": 412.0, "price_total_DKK_per_MWh": spot + tariff + 412.0}),
    }
    b, hp, tk, ct = [], [], [], []
    for i in range(n_houses):
        e = f"house{i}"
        on = rng.random(n) < 0.7
        comp = np.where(on, 1.5 - 0.05 * t_out, 0.0)
        backup = np.where(on & (t_out < -5.5), 2.0, 0.0)
        cop = np.where(on, 3.0 + 0.08 * t_out, 0.0)
        q = comp * cop
        dhw = np.where((h % 24 > 5) & (h % 24 < 6), q, 0.0)
        hp.append(pd.DataFrame({
            "time": t, **_tags(e), "P_el_kW": comp + backup, "P_el_compressor_kW": comp,
            "P_backup_kW": backup, "Q_th_kW": q + backup, "Q_sh_kW": q + backup - dhw,
            "Q_dhw_kW": dhw, "Q_backup_kW": backup, "COP": cop, "T_supply_C": 40 - 0.5 * t_out,
            "on": on, "starts": np.cumsum(np.r_[0, np.diff(on.astype(int)) > 0])}))
        t_room = 21.5 + 1.8 * np.sin(2 * np.pi * h / 24 + i)
        b.append(pd.DataFrame({"time": t, **_tags(e), "T_room_C": t_room,
                               "T_structure_C": t_room - 0.2}))
        ct.append(pd.DataFrame({"time": t, **_tags(e), "T_set_C": np.where(h % 24 < 6, 22.5, 21)}))
        soc = 0.5 + 0.4 * np.sin(2 * np.pi * h / 24)
        layers = {f"T_layers_C_{j}": 55.0 - 6.0 * j * (1.2 - soc) for j in range(N_LAYERS)}
        tk.append(pd.DataFrame({"time": t, **_tags(e), **layers, "soc_frac": soc,
                                "T_top_C": layers["T_layers_C_0"], "Q_loss_kW": 0.05,
                                "Q_unmet_kW": 0.0}))
    for name, parts in (("heatpump", hp), ("building", b), ("controller", ct), ("tank", tk)):
        frames[name] = pd.concat(parts, ignore_index=True)
    return frames


RUN_META = {
    "run_id": "r42",
    "scenario": "demo-flex",
    "start": "2024-01-15T00:00:00+00:00",
    "end": "2024-01-17T00:00:00+00:00",
    "wall_time_s": 3.25,
    "seed": 7,
    "verdicts": {"comfort_ok": {"passed": True, "tdis_Kh": 0.4}, "fcr_n_step": False},
}


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    run_dir = tmp_path_factory.mktemp("run")
    frames = synthetic_frames()
    kpis = compute_kpis(frames)
    meta = {**RUN_META, "reference_kpis": {k: v * 1.1 for k, v in kpis.items()}}
    path = write_report(run_dir, frames, kpis, meta)
    return run_dir, kpis, path.read_text(encoding="utf-8")


def _img_sources(html_text: str) -> list[str]:
    return re.findall(r"<img src='([^']+)'", html_text)


def test_report_writes_every_plot_and_html_references_them(full_report) -> None:
    run_dir, _, text = full_report
    assert (run_dir / "report.html").is_file()
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == sorted(f"{name}.png" for name in PLOTTERS)
    sources = _img_sources(text)
    assert sorted(sources) == sorted(f"plots/{p}" for p in pngs)  # relative, every PNG
    for src in sources:
        img = mpimg.imread(run_dir / src)
        assert img.shape[1] == pytest.approx(11 * DPI, abs=2)  # 11-inch wide figures
        assert img.shape[0] > 300
        assert float(np.std(img[..., :3])) > 0.05  # something was drawn


def test_report_header_kpi_table_verdicts_and_comparison(full_report) -> None:
    _, kpis, text = full_report
    for s in ("demo-flex", "r42", "2024-01-15T00:00:00+00:00", "3.2 s", "seed"):
        assert s in text
    for name in kpis:
        d = KPI_DEFINITIONS[name]
        assert f"<code>{name}</code>" in text
        assert d.description.split(" (")[0].replace("'", "&#x27;") in text
    assert "<td>K·h</td>" in text and "<td>DKK/MWh</td>" in text
    assert "Verdicts" in text and "PASS" in text and "FAIL" in text
    assert "Comparison with the reference run" in text
    # reference = 1.1 × this run, so every relative difference is −9.1 %
    assert text.count("-9.1 %") == len(kpis) - sum(1 for v in kpis.values() if v == 0)


def test_missing_measurements_skip_plots(tmp_path: Path) -> None:
    full = synthetic_frames(days=0.5, n_houses=1)
    frames = {"building": full["building"]}
    path = write_report(tmp_path, frames, compute_kpis(frames), {"run_id": "x"})
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == ["temperatures.png"]
    text = path.read_text(encoding="utf-8")
    assert _img_sources(text) == ["plots/temperatures.png"]
    assert "Verdicts" not in text and "demo-flex" in text  # scenario name from the tags
    # tank with top/bottom lines but no layers -> line plot instead of a heat map
    tank = full["tank"][["time", "entity", "T_top_C", "soc_frac"]]
    write_report(tmp_path, {"tank": tank}, {}, {})
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == ["tank.png"]


def test_empty_run_gives_report_without_plots(tmp_path: Path) -> None:
    text = write_report(tmp_path, {}, {}, {"run_id": "empty"}).read_text(encoding="utf-8")
    assert _img_sources(text) == []
    assert "No KPI could be computed" in text


def test_bad_band_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="comfort_low_C"):
        write_report(tmp_path, {}, {}, {}, comfort_low_C=23.0, comfort_high_C=20.0)


@pytest.mark.parametrize(
    ("duration_s", "step_s", "expected_s"),
    [(7 * 86400, 60, 900), (30 * 86400, 60, 3600), (365 * 86400, 60, 86400), (600, 0.1, 1)],
)
def test_long_runs_are_downsampled(duration_s: float, step_s: float, expected_s: float) -> None:
    assert choose_bin_s(duration_s, step_s) == expected_s

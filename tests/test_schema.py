"""Scenario validation: each mistake -> one message with file, key path, value, what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scenarios import schema
from scenarios.catalog import LIBRARY, bundled_scenarios

BASE = """
name = "t"
start = "2026-01-12T00:00:00Z"
duration = "1d"
[controller]
type = "thermostat"
"""


def _errors(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "x.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(schema.ScenarioError) as ei:
        schema.load_scenario(f)
    return ei.value.messages


def test_bundled_scenarios_validate() -> None:
    names = [n for n, _ in bundled_scenarios()]
    assert {"residential_house", "residential_house_nonflex"} <= set(names)
    for f in LIBRARY.glob("*.toml"):
        sc, _ = schema.load_scenario(f)
        assert sc.duration_s > 0


def test_bad_category_names_file_key_value_and_choices(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, BASE + '[site.building]\ncategory = "RAD_4_C60"\n')
    assert len(msgs) == 1
    m = msgs[0]
    assert m.startswith(str(tmp_path / "x.toml") + ": site.building.category = 'RAD_4_C60'")
    assert "expected one of RAD_1_C60" in m and "FLO_3" in m


def test_unknown_key_is_an_error_listing_allowed_keys(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, BASE + "[site.tank]\nvolume_litres = 200\n")
    assert msgs == [
        f"{tmp_path / 'x.toml'}: site.tank.volume_litres — unknown key — allowed keys here: "
        "volume_l, n_layers, U_W_per_m2K, T0_C, heater_kW"
    ]


def test_unknown_top_level_and_controller_keys(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, "colour = 'red'\n"
                   + BASE.replace('type = "thermostat"', 'type = "thermostat"\nfoo = 1'))
    joined = "\n".join(msgs)
    assert "controller.foo — unknown key" in joined and "T_set_C" in joined
    assert "colour — unknown key" in joined


def test_several_mistakes_are_all_reported(tmp_path: Path) -> None:
    text = BASE.replace('duration = "1d"', 'duration = "ten days"') + (
        "[site.heatpump]\nsource = 'water'\ncompressor_share = 1.5\n")
    msgs = _errors(tmp_path, text)
    assert len(msgs) == 3
    joined = "\n".join(msgs)
    assert "duration = 'ten days' — expected a duration" in joined
    assert "site.heatpump.source = 'water' — expected one of ground, air" in joined
    assert ("site.heatpump.compressor_share = 1.5 — Input should be less than or equal to 1"
            in joined)


def test_controller_type_and_time_checks(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, BASE.replace('"thermostat"', '"mpc"'))
    assert "controller.type = 'mpc' — expected one of 'thermostat', 'price_rule'" in msgs[0]
    msgs = _errors(tmp_path, BASE.replace("2026-01-12T00:00:00Z", "2026-01-12T00:00:00"))
    assert "start" in msgs[0] and "UTC" in msgs[0]
    msgs = _errors(tmp_path, 'end = "2026-01-13T00:00:00Z"\n' + BASE)
    assert "exactly one of duration" in msgs[0]


def test_missing_required_and_toml_syntax(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, 'name = "t"\nduration = "1d"\n[controller]\ntype = "thermostat"\n')
    assert msgs == [f"{tmp_path / 'x.toml'}: start — required key is missing"]
    msgs = _errors(tmp_path, "name = \n")
    assert "not valid TOML" in msgs[0]


def test_csv_sources_need_a_path(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, BASE + "[weather]\nsource = 'csv'\n")
    assert msgs[0].endswith("x.toml: weather — source = 'csv' needs path = '<file.csv>'")


def test_durations() -> None:
    assert schema.parse_duration("15min") == 900
    assert schema.parse_duration("7d") == 7 * 86400
    assert schema.parse_duration("2 hours") == 7200
    assert schema.parse_duration(60) == 60
    with pytest.raises(ValueError):
        schema.parse_duration("fortnight")


def test_resolved_scenario_round_trips() -> None:
    sc, _ = schema.load_scenario(LIBRARY / "residential_house.toml")
    text = schema.dump_toml(schema.resolved_dict(sc))
    again = schema.validate_data(__import__("tomllib").loads(text))
    assert again == sc


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE + '[site.building]\ncategory = "RAD_4_C60"\n', encoding="utf-8")
    cmd = [sys.executable, "-m", "scenarios.cli", "validate"]
    ok = subprocess.run([*cmd, "residential_house"], capture_output=True, text=True)
    assert ok.returncode == 0 and "ok" in ok.stdout
    res = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "site.building.category = 'RAD_4_C60' — expected one of RAD_1_C60" in res.stderr


def test_fmu_keys(tmp_path: Path) -> None:
    msgs = _errors(tmp_path, BASE + '[site.heatpump]\nmodel = "fmu"\nfmu = "vendor.fmu"\n'
                   '[site.heatpump.fmu_outputs]\nP_el_kW = "PEle"\n')
    assert msgs[0].endswith("needs fmu_outputs for Q_sh_kW, Q_dhw_kW, T_supply_C; "
                            "see docs/fmu.md")
    msgs = _errors(tmp_path, BASE + '[site.heatpump.fmu_inputs]\nQ_req_kW = "q"\n')
    assert "are for model = 'fmu' with a vendor fmu" in msgs[0]
    msgs = _errors(tmp_path, BASE + '[site.heatpump]\nmodel = "fmu"\nfmu = "v.fmu"\n'
                   '[site.heatpump.fmu_inputs]\npower = "q"\n'
                   '[site.heatpump.fmu_outputs]\nP_el_kW = "a"\nQ_sh_kW = "b"\n'
                   'Q_dhw_kW = "c"\nT_supply_C = "d"\n')
    assert "fmu_inputs power — allowed attributes: Q_req_kW" in msgs[0]


def test_relative_paths_become_absolute(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text(BASE + '[weather]\nsource = "csv"\npath = "data/w.csv"\n', encoding="utf-8")
    sc, _ = schema.load_scenario(f)
    fixed = schema.absolutize_paths(sc, tmp_path)
    assert fixed.weather.path == str(tmp_path / "data" / "w.csv")
    assert schema.absolutize_paths(fixed, Path("/elsewhere")).weather.path == fixed.weather.path

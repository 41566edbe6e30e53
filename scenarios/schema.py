"""The scenario file (TOML) as pydantic models.

Every mistake in a scenario becomes one clear message that names the file, the key path, the bad
value and what is allowed, e.g.::

    scenarios/x.toml: site.building.category = 'RAD_4_C60' — expected one of RAD_1_C60, …

Unknown keys are errors (``extra="forbid"``), never silently ignored.  Durations are written as
numbers of seconds or strings such as ``"60s"``, ``"15min"``, ``"1h"``, ``"7d"``, ``"1w"``.
``docs/scenario-file.md`` describes every key.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from simulators.config_errors import ConfigError, read_toml, validate

BUILDING_CATEGORIES: tuple[str, ...] = (
    "RAD_1_C60", "RAD_1_C100", "RAD_1_C140",
    "RAD_2_C60", "RAD_2_C100", "RAD_2_C140",
    "RAD_3_C60", "RAD_3_C100", "RAD_3_C140",
    "FLO_3",
)  # fmt: skip
"""The iPower Thermal Building Module categories (reference §2.1, Table 3)."""

_DURATION_UNITS = {
    "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400,
    "w": 604800, "week": 604800,
}  # fmt: skip
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$")


class ScenarioError(ConfigError):
    """A scenario file is invalid; ``messages`` holds one line per mistake."""


def parse_duration(value: Any) -> float:
    """Parse a duration in seconds from a number or a string like ``"15min"`` or ``"7d"``.

    Raises ValueError naming the allowed forms for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration: seconds as a number or a string like '15min'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a non-negative duration")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value.lower())
        if m:
            number, unit = float(m.group(1)), m.group(2) or "s"
            if unit.endswith("s") and unit[:-1] in _DURATION_UNITS and unit != "s":
                unit = unit[:-1]
            if unit in _DURATION_UNITS:
                return number * _DURATION_UNITS[unit]
    raise ValueError(
        "expected a duration: seconds as a number or a string like '60s', '15min', '1h', '7d', '1w'"
    )


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[Duration, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuildingConfig(_Model):
    """The house: an iPower category with its Table 22 coefficients for ``year``."""

    category: Literal[BUILDING_CATEGORIES] = "RAD_2_C100"  # type: ignore[valid-type]
    year: int = Field(2020, ge=2020, le=2035)
    area_m2: float | None = Field(None, gt=0, description="None = the period's Table 20 size")
    T_room0_C: float = Field(21.5, ge=-10, le=40)
    internal_gains_W_per_m2: float = Field(5.0, ge=0, le=50)
    H_air_structure_W_per_m2K: float | None = Field(None, gt=0)


HEATPUMP_INPUT_ATTRS: tuple[str, ...] = (
    "Q_req_kW", "dhw_mode", "sg_ready_state", "T_out_C", "T_out_24h_C", "T_out_168h_C",
)  # fmt: skip
"""Testbed attributes a heat-pump simulator may take as inputs."""
VENDOR_FMU_REQUIRED_OUTPUTS: tuple[str, ...] = ("P_el_kW", "Q_sh_kW", "Q_dhw_kW", "T_supply_C")
"""Outputs the residential site needs from any heat-pump model."""


class HeatPumpConfig(_Model):
    """The heat pump: iPower COP model, sizing at −12 °C, 80/20 compressor/backup split."""

    model: Literal["native", "fmu"] = "native"
    fmu: str = "bundled"
    fmu_dynamics: bool = True
    fmu_step: PositiveDuration | None = None
    fmu_inputs: dict[str, str] | None = None
    fmu_outputs: dict[str, str] | None = None
    fmu_parameters: dict[str, float | int | bool] | None = None
    fmu_scale: dict[str, float] | None = None
    fmu_offset: dict[str, float] | None = None
    source: Literal["ground", "air"] = "ground"
    emitter: Literal["auto", "radiator", "floor"] = "auto"
    Q_rated_kW: float | Literal["auto"] = "auto"
    compressor_share: float = Field(0.8, gt=0, le=1)
    backup_efficiency: float = Field(0.99, gt=0, le=1)
    modulation_min_frac: float = Field(0.3, gt=0, le=1)
    min_on: Duration = 600.0
    min_off: Duration = 600.0
    cop_correction: float = Field(0.95, gt=0, le=1.5)
    T_dhw_supply_C: float = Field(55.0, ge=30, le=75)
    ramp_frac_per_s: float | None = Field(
        None, gt=0, description="compressor ramp limit, modulation fraction per s; None = none")

    @field_validator("Q_rated_kW")
    @classmethod
    def _positive(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and v <= 0:
            raise ValueError("expected a positive power in kW or 'auto'")
        return v

    @model_validator(mode="after")
    def _fmu_mapping(self) -> HeatPumpConfig:
        vendor = self.model == "fmu" and self.fmu != "bundled"
        if vendor:
            missing = [a for a in VENDOR_FMU_REQUIRED_OUTPUTS if a not in (self.fmu_outputs or {})]
            if missing:
                raise ValueError(
                    f"a vendor FMU (fmu = {self.fmu!r}) needs fmu_outputs for "
                    f"{', '.join(missing)}; see docs/fmu.md")
            unknown = sorted(set(self.fmu_inputs or {}) - set(HEATPUMP_INPUT_ATTRS))
            if unknown:
                raise ValueError(f"fmu_inputs {', '.join(unknown)} — allowed attributes: "
                                 f"{', '.join(HEATPUMP_INPUT_ATTRS)}")
        elif any(x is not None for x in (self.fmu_inputs, self.fmu_outputs, self.fmu_parameters,
                                          self.fmu_scale, self.fmu_offset)):
            raise ValueError("fmu_inputs/fmu_outputs/fmu_parameters/fmu_scale/fmu_offset are for "
                             "model = 'fmu' with a vendor fmu = '<path.fmu>'")
        return self


class TankConfig(_Model):
    """The domestic hot-water tank (stratified, N layers)."""

    volume_l: float = Field(200.0, gt=0)
    n_layers: int = Field(8, ge=1, le=200)
    U_W_per_m2K: float | None = Field(None, ge=0)
    T0_C: float = Field(50.0, ge=0, le=100)
    heater_kW: float = Field(0.0, ge=0)


class DhwConfig(_Model):
    """Hot-water draws at the tap (heat relative to cold water)."""

    kwh_per_day: float = Field(8.0, ge=0, le=100)
    T_cold_C: float = Field(10.0, ge=0, le=30)


class ComfortConfig(_Model):
    """The comfort band used by KPIs and flexible controllers (iPower: 21.5 ± 1.5 °C)."""

    T_low_C: float = 20.0
    T_high_C: float = 23.0

    @model_validator(mode="after")
    def _ordered(self) -> ComfortConfig:
        if self.T_low_C >= self.T_high_C:
            raise ValueError("T_low_C must be below T_high_C")
        return self


class SiteConfig(_Model):
    n_houses: int = Field(1, ge=1, le=100_000)
    size_spread_frac: float = Field(0.2, ge=0, lt=1)
    T_room0_spread_K: float = Field(0.5, ge=0, le=5)
    building: BuildingConfig = BuildingConfig()
    heatpump: HeatPumpConfig = HeatPumpConfig()
    tank: TankConfig = TankConfig()
    dhw: DhwConfig = DhwConfig()
    comfort: ComfortConfig = ComfortConfig()


class WeatherConfig(_Model):
    """Outdoor temperature: the bundled Danish reference year or a CSV file."""

    source: Literal["reference", "csv"] = "reference"
    path: str | None = None
    time_column: str = "time"
    temperature_column: str = "T_out_C"
    step: PositiveDuration = 3600.0

    @model_validator(mode="after")
    def _path_for_csv(self) -> WeatherConfig:
        if self.source == "csv" and not self.path:
            raise ValueError("source = 'csv' needs path = '<file.csv>'")
        return self


class TariffConfig(_Model):
    """Grid tariff: iPower's flat 244 DKK/MWh, Tarifmodel 3.0 time-of-use windows, or a DSO's
    hourly tariff from a CSV (columns hour, price_DKK_per_kWh, optional season)."""

    kind: Literal["flat", "tou", "csv"] = "flat"
    flat_DKK_per_MWh: float = 244.0
    tou_DKK_per_MWh: dict[str, dict[str, float]] | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _path_for_csv(self) -> TariffConfig:
        if self.kind == "csv" and not self.path:
            raise ValueError("kind = 'csv' needs path = '<tariff.csv>'")
        return self


class PricesConfig(_Model):
    """Day-ahead prices (synthetic DK-like, or Energi Data Service CSV), tariff and tax."""

    source: Literal["synthetic", "energidataservice"] = "synthetic"
    path: str | None = None
    price_area: str = "DK1"
    mean_DKK_per_MWh: float = 71.0 * 7.45
    tax_DKK_per_MWh: float = 412.0
    tariff: TariffConfig = TariffConfig()
    step: PositiveDuration = 3600.0

    @model_validator(mode="after")
    def _path_for_csv(self) -> PricesConfig:
        if self.source == "energidataservice" and not self.path:
            raise ValueError("source = 'energidataservice' needs path = '<file.csv>'")
        return self


class ThermostatConfig(_Model):
    """Non-flexible thermostat: holds a fixed room temperature (iPower: 21.5 °C)."""

    type: Literal["thermostat"]
    T_set_C: float = Field(21.5, ge=5, le=30)
    Kp_kW_per_K: float = Field(3.0, ge=0)
    Ti: PositiveDuration = 1800.0
    dhw_T_on_C: float = Field(45.0, ge=20, le=80)
    dhw_T_off_C: float = Field(50.0, ge=20, le=80)
    dhw_T_min_C: float = Field(40.0, ge=20, le=80)


class PriceRuleConfig(_Model):
    """Price-aware rule controller: moves the set point inside the comfort band and charges the
    tank in the cheapest hours of the published day-ahead horizon."""

    type: Literal["price_rule"]
    T_set_C: float = Field(21.5, ge=5, le=30)
    offset_K: float = Field(1.5, ge=0, le=5)
    Kp_kW_per_K: float = Field(3.0, ge=0)
    Ti: PositiveDuration = 1800.0
    dhw_T_on_C: float = Field(45.0, ge=20, le=80)
    dhw_T_off_C: float = Field(50.0, ge=20, le=80)
    dhw_T_boost_C: float = Field(50.0, ge=20, le=80)
    dhw_T_min_C: float = Field(40.0, ge=20, le=80)
    cheap_quantile: float = Field(0.33, gt=0, lt=1)
    expensive_quantile: float = Field(0.67, gt=0, lt=1)
    horizon: PositiveDuration = 86400.0


class ControlLoopConfig(_Model):
    """FlexHeat strategy 1 (the plant's own control loop): the heat pump runs at a fixed load
    between two tank limits — the real plant's sensor rule (start when the upper-limit sensor
    falls below 60 °C, stop when the lower-limit sensor rises above its stop temperature) or the
    report's annual energy model (start at 0.9 MWh, stop at 4.05 MWh). ``auto``: sensors with
    the stratified tank, level with the energy-balance tank."""

    type: Literal["control_loop"]
    load_frac: float = Field(0.88, ge=0.34, le=1.0)
    mode: Literal["auto", "sensors", "level"] = "auto"
    level_on_kWh: float = Field(900.0, ge=0, le=4500)
    level_off_kWh: float = Field(4050.0, ge=0, le=4500)

    @model_validator(mode="after")
    def _levels(self) -> ControlLoopConfig:
        if self.level_on_kWh >= self.level_off_kWh:
            raise ValueError("level_on_kWh must be below level_off_kWh")
        return self


class OptimisedConfig(_Model):
    """FlexHeat strategies 2 and 3: a rolling-horizon MILP (scipy/HiGHS) re-planned when the
    day-ahead prices are published (12:00 local) and executed hourly; ``optimised_fcr_n`` also
    offers FCR-N capacity in the D-1 auction and delivers it against the simulated frequency."""

    type: Literal["optimised", "optimised_fcr_n"]
    horizon: PositiveDuration = 172800.0
    replan: Literal["daily", "hourly"] = "daily"
    replan_deviation_kWh: float | None = Field(300.0, gt=0)
    mip_rel_gap: float = Field(1e-3, ge=0, le=0.5)
    time_limit_s: float = Field(10.0, gt=0, le=3600)
    fcr_max_kW: float | None = Field(None, ge=0, le=10_000)
    fcr_bid_price_DKK_per_MW_h: float = Field(0.0, ge=0)
    fcr_min_bid_kW: float = Field(0.0, ge=0)
    demand_forecast: Literal["perfect", "persistence"] = "perfect"
    """The heat demand the MILP plans with: ``perfect`` (the report's assumption) or
    ``persistence`` (each hour as it was 24 h before — the naive day-ahead forecast); the plant
    always meets the real demand, deviations trigger event re-plans."""


ControllerConfig = Annotated[
    ThermostatConfig | PriceRuleConfig | ControlLoopConfig | OptimisedConfig,
    Field(discriminator="type"),
]


class ParquetRecorderConfig(_Model):
    """The embedded Parquet sink (always written, listed or not)."""

    type: Literal["parquet"] = "parquet"
    flush_interval: PositiveDuration = 86400.0


class InfluxRecorderConfig(_Model):
    """An InfluxDB sink beside the Parquet one (v2 write API, or v1 ``/write`` for 1.x).

    The token comes only from the environment variable named by ``token_env``."""

    type: Literal["influx"]
    url: str = Field(pattern=r"^https?://")
    api: Literal["v2", "v1"] = "v2"
    org: str = "heatflex"  # the organisation grafana/docker-compose.yml creates
    bucket: str = "heatflex"
    token_env: str = "INFLUX_TOKEN"
    batch_size: int = Field(5000, ge=1)
    gzip: bool = True
    timeout: PositiveDuration = 5.0
    flush_interval: PositiveDuration = 600.0


RecorderConfig = Annotated[ParquetRecorderConfig | InfluxRecorderConfig,
                           Field(discriminator="type")]


class HilServeConfig(_Model):
    """The testbed serves its simulated heat pump over Modbus to an external controller.

    The controller's writes to the profile's writable points (``sg_ready_state``,
    ``P_limit_kW``, ...) become the heat pump's inputs in place of the scenario controller's."""

    profile: str = "sg_ready_heat_pump"
    host: str = "127.0.0.1"
    port: int = Field(5020, ge=0, le=65535, description="0 = any free port (logged in run.json)")
    allow: list[str] = Field(default_factory=list, description="client IPs; empty = any")
    rtu: str | None = Field(None, description="serve as a Modbus RTU slave on this serial port "
                            "(e.g. /dev/ttyUSB0) instead of TCP")
    baud: int = Field(19200, gt=0, le=4_000_000)
    parity: Literal["N", "E", "O"] = "N"

    @model_validator(mode="after")
    def _rtu_no_allow(self) -> HilServeConfig:
        if self.rtu and self.allow:
            raise ValueError("allow (client IPs) needs TCP; a serial line has no client "
                             "addresses — drop allow or rtu")
        return self


class HilDeviceConfig(_Model):
    """A device the testbed commands as Modbus master (a real heat pump or a virtual one)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    profile: str = "sg_ready_heat_pump"
    url: str = Field(pattern=r"^modbus(\+rtu)?://", description="modbus://HOST:PORT[/UNIT]")
    timeout: PositiveDuration = 0.5
    retries: int = Field(1, ge=0, le=10)
    on_not_answering: Literal["hold_last", "fail_safe", "abort"] = "hold_last"
    commands: list[str] = Field(default_factory=lambda: ["sg_ready_state"],
                                description="controller outputs written to the device")


class HilFaultConfig(_Model):
    """A fault injected from ``at`` for ``duration`` into the served device or a named device."""

    target: str = Field("serve", description="'serve' or the name of a [[hil.devices]] entry")
    at: Duration
    duration: PositiveDuration
    latency_s: float = Field(0.0, ge=0)
    timeout: bool = False
    exception_code: int | None = Field(None, ge=1, le=11)
    stale: bool = False
    swap_words: bool = False
    points: list[str] = Field(default_factory=list)


class HilConfig(_Model):
    """Hardware in the loop: real-time pacing, Modbus server/devices, faults."""

    realtime: bool = True
    speed: float = Field(1.0, gt=0, description="simulated seconds per wall second")
    allowed_lateness_ms: float = Field(50.0, gt=0)
    abort_on_lateness: bool = False
    stall_timeout: PositiveDuration = 5.0
    serve: HilServeConfig | None = None
    devices: list[HilDeviceConfig] = Field(default_factory=list)
    faults: list[HilFaultConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets(self) -> HilConfig:
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError(f"devices: names must be unique, got {names}")
        allowed = (["serve"] if self.serve else []) + names
        for f in self.faults:
            if f.target not in allowed:
                raise ValueError(f"faults: target {f.target!r} unknown; allowed: {allowed}")
        return self


class IncidentConfig(_Model):
    """A dimensioning incident of the dynamic frequency model: from ``at`` on, ``P_lost_MW`` of
    generation is missing (negative = loss of load)."""

    at: Duration
    P_lost_MW: float = Field(1450.0, ge=-5000, le=5000)


class FrequencyConfig(_Model):
    """The grid frequency the fleet sees: the dynamic Nordic swing model with the fleet's response
    fed back, or a recorded frequency CSV replayed (see docs/models/frequency.md)."""

    mode: Literal["dynamic", "profile"] = "dynamic"
    step: PositiveDuration = 1.0
    case: Literal["performance", "stability"] = "performance"
    noise: bool = True
    incidents: list[IncidentConfig] = []
    path: str | None = None
    format: Literal["auto", "fingrid", "generic"] = "auto"
    interpolation: Literal["linear", "step"] = "linear"
    offset: Duration = 0.0

    @model_validator(mode="after")
    def _path_for_profile(self) -> FrequencyConfig:
        if self.mode == "profile" and not self.path:
            raise ValueError("mode = 'profile' needs path = '<frequency.csv>'")
        if self.mode == "dynamic" and self.path:
            raise ValueError("path is for mode = 'profile'")
        return self


FCR_PRODUCTS: tuple[str, ...] = ("fcr-n", "fcr-d-up", "fcr-d-down", "fcr-d-static")


class FcrConfig(_Model):
    """FCR provision by the heat pump(s): the product, capacity, operating point and the
    measurement/controller settings used by ``heatflex certify fcr`` and by fleet runs."""

    product: Literal[FCR_PRODUCTS] = "fcr-n"  # type: ignore[valid-type]
    direction: Literal["up", "down"] = "up"
    capacity_kW: float | Literal["auto"] = "auto"
    capacity_share: float = Field(1.0, gt=0, le=1)
    baseline_frac: float | Literal["auto"] = "auto"
    may_stop: bool | Literal["auto"] = "auto"
    T_FME: Duration = 1.0
    deadband_Hz: float = Field(0.0, ge=0, le=0.01)
    T_out_C: float = Field(0.0, ge=-30, le=30)
    warmup: Duration = 300.0
    endurance: bool = False
    combined_fcr_n: bool = False
    mode_shifting: bool = False
    sine_periods: list[float] | None = None
    allow_reduction: bool = False
    ler: bool = False
    E_res_kWh: float | None = Field(None, gt=0)
    soc0_frac: float = Field(0.5, ge=0, le=1)
    resource: str = Field("heatflex", pattern=r"^[A-Za-z0-9-]+$")
    area: str = Field("DK2", pattern=r"^[A-Za-z0-9-]+$")
    timezone: Literal["UTC", "CET"] = "UTC"
    counterfactual: bool = True

    @field_validator("capacity_kW")
    @classmethod
    def _cap_positive(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and v <= 0:
            raise ValueError("expected a positive capacity in kW or 'auto'")
        return v

    @field_validator("baseline_frac")
    @classmethod
    def _frac(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and not 0.0 <= v <= 1.0:
            raise ValueError("expected 'auto' or a fraction 0..1 of the compressor power range")
        return v

    @model_validator(mode="after")
    def _ler_reservoir(self) -> FcrConfig:
        if self.ler and self.E_res_kWh is None:
            raise ValueError("ler = true needs E_res_kWh = <usable reservoir, electric kWh>")
        return self


KICKBACK_EVENT_KINDS: tuple[str, ...] = ("sg_block", "sg_increased", "sg_forced", "dimming_14a",
                                         "price_spike", "peak_tariff")
"""Event kinds a kickback fleet run applies. Price events act through the targeted houses' own
controller (set-back in the window, optional pre-heating; simulators/controllers/price_event.py).
"""
PRICE_EVENT_KINDS: tuple[str, ...] = ("price_spike", "peak_tariff")
PRICE_ADDER_DEFAULT_DKK_PER_MWH: dict[str, float] = {"price_spike": 2000.0, "peak_tariff": 540.0}
"""Default price adders, DKK/MWh: a spike of 2000 DKK/MWh (≈ 270 EUR/MWh, an ILLUSTRATIVE
scarcity hour on top of the day-ahead price; configurable) and the Tarifmodel 3.0 winter peak
step spidslast − højlast = 810 − 270 DKK/MWh of the bundled illustrative tariff levels
(simulators/prices.py DEFAULT_TOU_DKK_PER_MWH)."""


class MitigationConfig(_Model):
    """Release mitigations applied to every event of the ``alt`` variant of a mitigation
    comparison (``[feeder.alternative]``; an empty table = no mitigation). Fields as in
    ``[[events]]``."""

    restart_window: Duration = 0.0
    stagger_groups: int = Field(1, ge=1)
    stagger_interval: Duration = 0.0
    ramp_frac_per_s: float | None = Field(None, gt=0)
    ramp_window: PositiveDuration = 10.0
    recovery_factor: float = Field(0.0, ge=0)
    guaranteed_min_kW: float | None = Field(None, ge=0)


class FeederConfig(_Model):
    """The low-voltage grid of a kickback run (``simulators/feeder.py``): the bundled Danish
    0.4 kV net, a pandapower JSON file or a ``pandapower.networks`` name; one power flow every
    ``interval`` on the houses' mean loads (heat pump + base load) of the interval before.
    ``network = "aggregate"``: no power flow — the house loads summed per MV/LV transformer of
    ``houses_per_transformer`` houses (``simulators/feeder_aggregate.py``; voltages not
    computed), for fleets of many thousand houses."""

    network: str = "danish"
    house_bus: list[int] | None = None
    houses_per_transformer: int = Field(200, ge=1, le=10_000)
    interval: PositiveDuration = 300.0
    power_factor: float = Field(0.97, gt=0, le=1)
    numba: bool = False
    counterfactual: bool = False
    alternative: MitigationConfig | None = None
    """Mitigation B: a third variant ``alt`` runs the same events with these mitigations
    instead of each event's own (mitigation A), same seeds — ``heatflex compare`` and the KPIs
    put A and B side by side (each against the counterfactual when it runs)."""


class FleetConfig(_Model):
    """N houses sampled from the iPower categories (``simulators/fleet.py: sample_fleet``)."""

    n_houses: int = Field(150, ge=1, le=100_000)
    seed: int | None = Field(None, ge=0)
    year: Literal[2020, 2025, 2030, 2035] = 2020
    setpoints: Literal["sampled", "uniform"] = "sampled"
    """Room set points: ``sampled`` — one per house from the fleet sampling (N(21.5, 0.5) °C
    clipped to 20–23 °C, simulators/fleet.py FleetSpec); ``uniform`` — ``controller.T_set_C``
    for every house."""
    record_houses: bool = True
    """Record every house's heat pump and building at the heat step (the report's heat map, the
    comfort and heat-bookkeeping KPIs need them); false: only the fleet and feeder aggregates
    (10 000-house runs: 7 values × N × steps would dominate the run)."""


class EventConfig(MitigationConfig):
    """One demand-response event of a kickback run, with its release mitigation (the fields
    of :class:`MitigationConfig`)."""

    kind: Literal[KICKBACK_EVENT_KINDS]  # type: ignore[valid-type]
    start: datetime
    duration: PositiveDuration
    share: float = Field(1.0, gt=0, le=1)
    name: str = ""
    P_limit_kW: float = Field(4.2, ge=0)
    price_adder_DKK_per_MWh: float | None = Field(None, ge=-5000, le=50_000)
    setback_K: float = Field(1.5, ge=0, le=5)
    preheat: Duration = 0.0
    preheat_K: float = Field(1.0, ge=0, le=5)

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("expected a time with offset, e.g. 2026-02-03T17:00:00+01:00")
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _block_len(self) -> EventConfig:
        if self.kind == "sg_block" and self.duration > 7200.0:
            raise ValueError("an sg_block lasts at most 2h (SG Ready); split it or use "
                             "guaranteed_min_kW")
        if self.kind not in PRICE_EVENT_KINDS and (
                self.price_adder_DKK_per_MWh is not None or self.preheat > 0):
            raise ValueError("price_adder_DKK_per_MWh and preheat apply only to the kinds "
                             f"{', '.join(PRICE_EVENT_KINDS)}, not {self.kind!r}")
        return self

    @property
    def price_adder(self) -> float:
        """The event's price adder, DKK/MWh (the kind's default when not given)."""
        if self.price_adder_DKK_per_MWh is not None:
            return float(self.price_adder_DKK_per_MWh)
        return PRICE_ADDER_DEFAULT_DKK_PER_MWH.get(self.kind, 0.0)


class MfrrConfig(_Model):
    """``[market.mfrr]``: the Nordic mFRR energy activation market in a market fleet run
    (``scenarios/market_balancing.py``, docs/markets.md "The mFRR world"). Each 15-min MTU the
    system imbalance (a seeded AR(1) ``profile`` or a ``csv`` series) activates the merit order
    of the fleet's bids and a parametric background stack of other BSPs; the fleet follows its
    activation and every ISP is settled at the balancing price. Writing the table enables it;
    ``enabled = false`` keeps the keys but runs without mFRR."""

    enabled: bool = True
    imbalance_source: Literal["profile", "csv"] = "profile"
    imbalance_path: str | None = None
    imbalance_sigma_MW: float = Field(150.0, ge=0, le=10_000)
    imbalance_corr: float = Field(0.9, ge=0, lt=1)
    imbalance_mean_MW: float = Field(0.0, ge=-10_000, le=10_000)
    activation_threshold_MW: float = Field(100.0, ge=0, le=10_000)
    gate_closure: Duration = 2700.0
    volume_share: float = Field(0.5, gt=0, le=1)
    markup_up_EUR_per_MWh: float = Field(10.0, ge=0, le=4000)
    markup_down_EUR_per_MWh: float = Field(10.0, ge=0, le=4000)
    min_bid_MW: float = Field(1.0, gt=0, le=1000)
    background_markup_EUR_per_MWh: float = Field(1.0, ge=0, le=4000)
    background_scale_MW: float = Field(80.0, gt=0, le=10_000)
    background_capacity_MW: float = Field(1000.0, gt=0, le=100_000)
    background_step_MW: float = Field(10.0, gt=0, le=1000)

    @field_validator("gate_closure")
    @classmethod
    def _gate(cls, v: float) -> float:
        if not 0 <= v <= 86400:
            raise ValueError("expected a bid gate closure before the MTU between 0s and 1d "
                             "(Nordic mFRR EAM: '45min')")
        return v

    @model_validator(mode="after")
    def _source(self) -> MfrrConfig:
        if self.imbalance_source == "csv" and not self.imbalance_path:
            raise ValueError("imbalance_source = 'csv' needs imbalance_path = '<imbalance.csv>' "
                             "(columns time, imbalance_MW)")
        if self.imbalance_source == "profile" and self.imbalance_path:
            raise ValueError("imbalance_path is for imbalance_source = 'csv'; allowed sources: "
                             "'profile', 'csv'")
        if self.background_step_MW > self.background_capacity_MW:
            raise ValueError("background_step_MW must not exceed background_capacity_MW")
        return self


class MarketConfig(_Model):
    """Day-ahead market coupling of a residential heat-pump fleet (``market_coupled_fleet``): the
    fleet's aggregator bids a price-dependent demand curve at each gate closure (12:00 local,
    D-1); the market clears it against a background merit order fitted to the scenario's price
    series (``[prices]``) and publishes prices and the accepted schedule (see docs/markets.md).
    ``schedule_feedback``: the aggregator tracks schedule (+ mFRR activation) with a PI
    (``feedback_kp``, ``feedback_Ti``) on top of the feed-forward set-point move; false = the
    feed-forward dispatch alone. ``[market.mfrr]``: :class:`MfrrConfig`."""

    mode: Literal["coupled", "price_taker"] = "coupled"
    comparison: bool = True
    mtu: int = 900
    slope_EUR_per_MWh_per_MW: float = Field(0.05, gt=0, le=100)
    represents_houses: int | None = Field(None, ge=1, le=10_000_000)
    flex_share: float = Field(0.5, gt=0, le=1)
    cheap_quantile: float = Field(0.33, gt=0, lt=1)
    expensive_quantile: float = Field(0.67, gt=0, lt=1)
    offset_K: float = Field(1.0, ge=0, le=5)
    vat_frac: float = Field(0.25, ge=0, lt=1)
    tso_tariff_DKK_per_MWh: float = Field(69.0, ge=0)
    bid_capacity_frac: float = Field(1.0, gt=0, le=1)
    """The day-ahead bid's extra (cheap-hour) step is capped so that baseline + extra ≤ this
    share of the fleet's full-speed compressor power (1 = the physical limit only). On
    ``market_mfrr_fleet`` 0.85 cuts the imbalance from 14.9 % to 12.7 % of the scheduled energy
    but also the fleet's price impact (its cheap-hour extra shrinks on cold nights)."""
    schedule_feedback: bool = True
    feedback_kp: float = Field(0.3, ge=0, le=10)
    feedback_Ti: PositiveDuration = 600.0
    mfrr: MfrrConfig | None = None

    @field_validator("mtu", mode="before")
    @classmethod
    def _mtu(cls, v: Any) -> int:
        s = parse_duration(v)
        if s not in (900.0, 3600.0):
            raise ValueError("expected the market time unit '15min' or '1h'")
        return int(s)

    @model_validator(mode="after")
    def _quantiles(self) -> MarketConfig:
        if self.cheap_quantile >= self.expensive_quantile:
            raise ValueError("cheap_quantile must be below expensive_quantile")
        return self


class PlantConfig(_Model):
    """A district-heating plant instead of a house: ``type = "flexheat"`` is the EnergyLab
    Nordhavn FlexHeat unit (800 kW two-stage ammonia heat pump, 100 m³ tank, 200 kW electric
    boiler, oil backup) supplying the cruise terminals (docs/scenarios/flexheat.md). The tank is
    the 16-layer stratified model (``stratified``) or the report's own annual energy account
    (``energy_balance``: η = 0.9978/h, 0–4.5 MWh — what the published cost table used).
    Files default to the bundled 2018-like data; an Energi Data Service CSV (either dataset)
    replaces the spot series."""

    type: Literal["flexheat"] = "flexheat"
    tank_model: Literal["stratified", "energy_balance"] = "stratified"
    heatpump_model: Literal["native", "fmu"] = "native"
    T_hp_supply_C: float = Field(75.0, ge=60, le=84)
    level0_frac: float = Field(0.5, ge=0, le=1)
    demand_path: str | None = None
    prices_path: str | None = None
    price_area: str = "DK2"
    fcr_prices_path: str | None = None
    composition: Literal["report_2019", "report_2022"] = "report_2019"
    oil_price_DKK_per_MWh: float = Field(700.0, ge=0)
    frequency_substep_s: float = Field(1.0, gt=0, le=5)
    frequency_seed: int | None = None


class Scenario(_Model):
    """A complete scenario: what to run and how to judge it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    start: datetime
    duration: PositiveDuration | None = None
    end: datetime | None = None
    step: PositiveDuration = 60.0
    time_resolution: float = Field(1.0, gt=0)
    seed: int = 0
    site: SiteConfig = SiteConfig()
    weather: WeatherConfig = WeatherConfig()
    prices: PricesConfig = PricesConfig()
    controller: ControllerConfig
    frequency: FrequencyConfig | None = None
    fcr: FcrConfig | None = None
    market: MarketConfig | None = None
    recorders: list[RecorderConfig] = [ParquetRecorderConfig()]
    hil: HilConfig | None = None
    feeder: FeederConfig | None = None
    fleet: FleetConfig | None = None
    events: list[EventConfig] = []
    plant: PlantConfig | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        if v.tzinfo is None:
            raise ValueError("expected a UTC time with offset, e.g. 2026-01-12T00:00:00Z")
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _span(self) -> Scenario:
        if (self.duration is None) == (self.end is None):
            raise ValueError("give exactly one of duration = '7d' or end = <UTC time>")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.step / self.time_resolution != round(self.step / self.time_resolution):
            raise ValueError("step must be a whole number of time_resolution units")
        if self.market is not None:
            if self.frequency is not None or self.hil is not None or self.feeder is not None:
                raise ValueError("a [market] fleet run cannot have [frequency], [feeder] or "
                                 "[hil] sections")
            if self.site.heatpump.model != "native":
                raise ValueError("[market] fleet runs need site.heatpump.model = 'native' (the "
                                 "vectorised numpy model)")
            if self.step > 900 or 900 % self.step:
                raise ValueError("a [market] run needs a step that divides 15min (e.g. '60s')")
        plant_ctl = self.controller.type in ("control_loop", "optimised", "optimised_fcr_n")
        if self.plant is not None:
            if any(x is not None for x in (self.frequency, self.fcr, self.market, self.feeder,
                                           self.hil, self.fleet)) or self.events:
                raise ValueError("a [plant] run stands alone: no [frequency], [fcr], [market], "
                                 "[feeder], [fleet], [hil] or [[events]] sections")
            if not plant_ctl:
                raise ValueError(f"[plant] needs controller.type = 'control_loop', 'optimised' or "
                                 f"'optimised_fcr_n', not {self.controller.type!r}")
            if 3600 % self.step:
                raise ValueError("a [plant] run needs a step that divides 1h (e.g. '60s')")
        elif plant_ctl:
            raise ValueError(f"controller.type = {self.controller.type!r} is a plant strategy: "
                             "add a [plant] section (type = 'flexheat')")
        if self.site.n_houses > 1 and self.frequency is None and self.market is None:
            raise ValueError(f"site.n_houses = {self.site.n_houses} needs a [frequency] section "
                             "(FCR fleet) or a [market] section (market fleet); the "
                             "residential topology has one house")
        if self.frequency is not None:
            f_step = self.frequency.step
            if f_step / self.time_resolution != round(f_step / self.time_resolution):
                raise ValueError("frequency.step must be a whole number of time_resolution units")
            if self.step / f_step != round(self.step / f_step):
                raise ValueError("step must be a whole multiple of frequency.step")
            if self.fcr is None:
                raise ValueError("a [frequency] section needs an [fcr] section (the product the "
                                 "fleet delivers)")
            if self.site.heatpump.model != "native":
                raise ValueError("FCR fleet runs need site.heatpump.model = 'native' (the "
                                 "vectorised numpy model)")
            if self.fcr.product != "fcr-n":
                raise ValueError("fleet runs deliver fcr.product = 'fcr-n' (FCR-D fleets: not yet)")
        if (self.events or self.fleet is not None) and self.feeder is None:
            raise ValueError("[fleet] and [[events]] belong to a kickback run: add a [feeder] "
                             "section (network = 'danish')")
        if self.feeder is not None:
            if self.frequency is not None:
                raise ValueError("[feeder] (kickback run) and [frequency] (FCR fleet run) "
                                 "cannot be combined")
            if self.site.heatpump.model != "native":
                raise ValueError("kickback runs need site.heatpump.model = 'native'")
            if self.feeder.interval % self.step:
                raise ValueError("feeder.interval must be a whole multiple of step")
            end = self.start + timedelta(seconds=self.duration_s)
            for i, e in enumerate(self.events):
                if not self.start <= e.start < end:
                    raise ValueError(f"events[{i}].start {e.start.isoformat()} lies outside the "
                                     f"run [{self.start.isoformat()}, {end.isoformat()})")
        return self

    @property
    def duration_s(self) -> float:
        """Simulated span in seconds."""
        if self.duration is not None:
            return float(self.duration)
        assert self.end is not None
        return (self.end - self.start).total_seconds()


def validate_data(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a parsed TOML mapping; raise ScenarioError with one message per mistake."""
    unions = {"controller": {"thermostat": ThermostatConfig, "price_rule": PriceRuleConfig,
                             "control_loop": ControlLoopConfig, "optimised": OptimisedConfig,
                             "optimised_fcr_n": OptimisedConfig}}
    return validate(Scenario, data, source, unions, ScenarioError)


def load_scenario(path: str | Path) -> tuple[Scenario, dict[str, Any]]:
    """Read and validate a scenario file; return the model and the raw TOML mapping."""
    path = Path(path)
    data = read_toml(path, "scenario file", ScenarioError)
    return validate_data(data, str(path)), data


def absolutize_paths(sc: Scenario, base: Path) -> Scenario:
    """Make the scenario's file paths (CSV inputs, vendor FMU) absolute, relative to ``base`` (the
    scenario file's folder), so the resolved scenario in a run folder runs from anywhere."""

    def fix(p: str | None) -> str | None:
        if p is None or Path(p).is_absolute():
            return p
        return str((base / p).resolve())

    w = sc.weather.model_copy(update={"path": fix(sc.weather.path)})
    if sc.frequency is not None and sc.frequency.path is not None:
        freq = sc.frequency.model_copy(update={"path": fix(sc.frequency.path)})
        sc = sc.model_copy(update={"frequency": freq})
    if sc.feeder is not None and sc.feeder.network.lower().endswith((".json", ".xlsx", ".xls")):
        fd = sc.feeder.model_copy(update={"network": fix(sc.feeder.network)})
        sc = sc.model_copy(update={"feeder": fd})
    mk = sc.market
    if mk is not None and mk.mfrr is not None and mk.mfrr.imbalance_path:
        mf = mk.mfrr.model_copy(update={"imbalance_path": fix(mk.mfrr.imbalance_path)})
        sc = sc.model_copy(update={"market": mk.model_copy(update={"mfrr": mf})})
    if sc.plant is not None:
        pl = sc.plant.model_copy(update={k: fix(getattr(sc.plant, k)) for k in (
            "demand_path", "prices_path", "fcr_prices_path")})
        sc = sc.model_copy(update={"plant": pl})
    tariff = sc.prices.tariff.model_copy(update={"path": fix(sc.prices.tariff.path)})
    pr = sc.prices.model_copy(update={"path": fix(sc.prices.path), "tariff": tariff})
    hp = sc.site.heatpump
    if hp.model == "fmu" and hp.fmu != "bundled":
        hp = hp.model_copy(update={"fmu": fix(hp.fmu)})
    site = sc.site.model_copy(update={"heatpump": hp})
    return sc.model_copy(update={"weather": w, "prices": pr, "site": site})


def scenario_hash(data: dict[str, Any]) -> str:
    """A short stable hash of the resolved scenario (sha256 of its canonical TOML), hex."""
    return hashlib.sha256(dump_toml(data).encode()).hexdigest()[:16]


def resolved_dict(scenario: Scenario) -> dict[str, Any]:
    """The fully resolved scenario (all defaults filled in) as a TOML-ready mapping."""
    return scenario.model_dump(mode="json", exclude_none=True)


def dump_toml(data: dict[str, Any]) -> str:
    """Serialise a mapping of scalars, lists and tables to TOML (enough for scenario files)."""
    lines: list[str] = []
    _dump_table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v), ensure_ascii=False)  # JSON string escapes are TOML's


def _dump_table(data: dict[str, Any], prefix: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not _is_table(v) and not _is_table_list(v)}
    tables = {k: v for k, v in data.items() if _is_table(v)}
    table_lists = {k: v for k, v in data.items() if _is_table_list(v)}
    for k, v in scalars.items():
        lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        lines.append("")
        lines.append(f"[{'.'.join([*prefix, k])}]")
        _dump_table(v, [*prefix, k], lines)
    for k, items in table_lists.items():
        for item in items:
            lines.append("")
            lines.append(f"[[{'.'.join([*prefix, k])}]]")
            _dump_table(item, [*prefix, k], lines)


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def utc_now() -> datetime:
    """Current UTC time (wall clock)."""
    return datetime.now(UTC)

"""``heatflex serve`` (virtual devices) and ``heatflex certify sg-ready|14a`` (device tests).

``certify`` drives any device reachable over Modbus — the virtual SG-Ready heat pump, a scenario's
simulated heat pump served by the testbed, or real hardware — through a test sequence and writes a
run folder like ``heatflex run``: ``run.json``, ``summary.json`` (``kpis`` + ``verdicts``),
``timeseries/heatpump.parquet`` (tag ``source = hw``), ``plots/sequence.png`` and ``report.html``.
Whatever happens, the device is left in its profile's fail-safe state.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd


def _site_for_device(scenario: str, seed: int | None, Q_rated_kW: float | None = None) -> Any:
    from scenarios import schema
    from scenarios.catalog import resolve_scenario_path
    from scenarios.world import build_site

    path = resolve_scenario_path(scenario)
    _, data = schema.load_scenario(path)
    # a device runs one house in real time: the numpy twin of the heat-pump FMU
    hp = data.setdefault("site", {}).setdefault("heatpump", {})
    hp["model"] = "native"
    if Q_rated_kW is not None:
        hp["Q_rated_kW"] = Q_rated_kW
    sc = schema.absolutize_paths(schema.validate_data(data, str(path)), path.parent)
    return build_site(sc, seed=seed)


def _cmd_serve(args: argparse.Namespace) -> int:
    from adapters.modbus import ModbusServerEndpoint, SerialLine
    from hil.devices.sg_ready_heat_pump import SgReadyOptions, VirtualSgReadyHeatPump
    from hil.profile import ProfileError, load_profile
    from hil.watchdog import Interrupted, terminate_as_exception
    from scenarios import schema

    if args.device != "sg_ready_heat_pump":
        print(f"heatflex serve: device {args.device!r} unknown; available: sg_ready_heat_pump",
              file=sys.stderr)
        return 2
    try:
        profile = load_profile(args.profile or "sg_ready_heat_pump")
        opts = SgReadyOptions(variant=args.variant, T_out_C=args.T_out,
                              faults=frozenset(args.fault or ()))
        serial = (SerialLine(args.rtu, baudrate=args.baud, parity=args.parity)
                  if args.rtu else None)
        if serial is not None and args.allow:
            raise ValueError("--allow needs TCP; a serial line (--rtu) has no client addresses")
    except (ProfileError, ValueError) as exc:
        print(f"heatflex serve: {exc}", file=sys.stderr)
        return 2
    try:
        site = _site_for_device(args.scenario, args.seed, args.Q_rated_kW)
    except schema.ScenarioError as exc:
        print("\n".join(exc.messages), file=sys.stderr)
        return 2
    endpoint = ModbusServerEndpoint(profile, host=args.host, port=args.port,
                                    allow=args.allow or None, serial=serial)
    dev = VirtualSgReadyHeatPump(profile, site.building, site.heatpump, site.tank,
                                 site.controller, endpoint, dt_s=args.step, speed=args.speed,
                                 options=opts, heartbeat_timeout_s=args.heartbeat_timeout)
    try:
        port = endpoint.start()
    except RuntimeError as exc:
        print(f"heatflex serve: {exc}", file=sys.stderr)
        return 1
    where: dict[str, Any] = ({"rtu": serial.port, "baud": serial.baudrate,
                              "parity": serial.parity} if serial is not None
                             else {"host": args.host, "port": port})
    print(json.dumps({"serving": profile.name, **where, "url": endpoint.url,
                      "speed": args.speed, "step_s": args.step}), flush=True)
    try:
        with terminate_as_exception():
            dev.run(until_s=args.until)
    except (KeyboardInterrupt, Interrupted):
        pass
    finally:
        endpoint.stop()
    return 0


def _write_folder(out: Path, kind: str, url: str, df: pd.DataFrame,
                  verdicts: dict[str, Any], kpis: dict[str, Any], t_wall: float,
                  started: datetime, events: list[tuple[float, str]]) -> None:
    from scenarios.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "timeseries").mkdir(exist_ok=True)
    run_id = f"certify-{kind}-{uuid.uuid4().hex[:8]}"
    time_col = pd.Timestamp(started) + pd.to_timedelta(df["t_s"], unit="s")
    ts = df.drop(columns=["hold"]).assign(time=time_col, entity="dut", run_id=run_id,
                                          scenario=f"certify-{kind}", source="hw",
                                          hold=df["hold"])
    ts.to_parquet(out / "timeseries" / "heatpump.parquet", index=False)
    passed = all(bool(v["pass"]) for v in verdicts.values())
    run = {"run_id": run_id, "scenario": f"certify-{kind}", "device": url,
           "start": started.isoformat(), "wall_time_s": t_wall, "polls": int(len(df)),
           "events": [{"wall_time_s": t, "event": e} for t, e in events]}
    (out / "run.json").write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")
    summary = {"kpis": kpis, "verdicts": {kind: {"pass": passed, "requirements": verdicts}}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str),
                                      encoding="utf-8")
    _plot_sequence(df, out / "plots" / "sequence.png", kind)
    frames = {"heatpump": ts[["time", "entity", "P_el_kW"] + [c for c in ("on", "T_supply_C")
                                                               if c in ts]],
              "building": ts[["time", "entity", "T_room_C"]]}
    write_report(out, frames, kpis, {**run, "verdicts": verdicts},
                 step_s=max(1.0, float(df["t_s"].diff().median() or 1.0)))


def _plot_sequence(df: pd.DataFrame, path: Path, kind: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    t_h = df["t_s"] / 3600.0
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1.4, 1.4]})
    ax = axes[0]
    if "cmd_sg_ready_state" in df:
        ax.step(t_h, df["cmd_sg_ready_state"], where="post", label="commanded", color="0.5")
    if "sg_ready_state_active" in df:
        ax.step(t_h, df["sg_ready_state_active"], where="post", label="in force", color="C3")
    ax.set_ylabel("SG-Ready state")
    ax.set_yticks([1, 2, 3, 4])
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    ax.plot(t_h, df["P_el_kW"], label="P_el (device)", color="C0")
    if "cmd_P_limit_kW" in df:
        lim = df["cmd_P_limit_kW"].where(df["cmd_P_limit_kW"] > 0)
        ax.step(t_h, lim.clip(lower=4.2), where="post", color="C3", ls="--",
                label="§14a limit in force")
    if "on" in df:
        ax.fill_between(t_h, 0, df["on"] * float(df["P_el_kW"].max() or 1) * 0.1, step="post",
                        color="C2", alpha=0.3, label="compressor on")
    ax.set_ylabel("kW")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    ax.plot(t_h, df["T_room_C"], label="room", color="C1")
    ax.set_ylabel("room °C")
    if "T_dhw_C" in df:
        ax2 = ax.twinx()
        ax2.plot(t_h, df["T_dhw_C"], label="DHW top", color="C4", alpha=0.7)
        ax2.set_ylabel("DHW °C")
    ax.set_xlabel("device time, h")
    for a in axes:
        a.grid(alpha=0.3)
    # shade and label the holds
    bounds = df.groupby("hold", sort=False)["t_s"].agg(["min", "max"]) / 3600.0
    for i, (name, row) in enumerate(bounds.iterrows()):
        for a in axes:
            a.axvspan(row["min"], row["max"], color="0.9" if i % 2 else "white", zorder=0)
        axes[0].text((row["min"] + row["max"]) / 2, 4.3, str(name), ha="center", fontsize=7,
                     rotation=20)
    axes[0].set_ylim(0.5, 4.9)
    fig.suptitle(f"heatflex certify {kind}: commands and device response")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _cmd_certify(args: argparse.Namespace) -> int:
    from adapters.modbus import ModbusDeviceClient, ModbusDeviceError
    from hil.profile import ProfileError, load_profile
    from hil.watchdog import Interrupted, terminate_as_exception
    from scenarios.verdicts import sg_ready as sg
    from scenarios.verdicts.session import play

    kind = args.kind
    try:
        profile = load_profile(args.profile)
        client = ModbusDeviceClient(profile, args.device, timeout_s=args.timeout)
    except (ProfileError, ValueError) as exc:
        print(f"heatflex certify {kind}: {exc}", file=sys.stderr)
        return 2
    test: Any = (sg.SgReadyTest(poll_s=args.poll) if kind == "sg-ready"
                 else sg.Dimming14aTest(limit_kW=args.limit_kW, reaction_s=args.reaction,
                                        poll_s=args.poll))
    if kind == "sg-ready" and args.max_block is not None:
        test.max_block_s = args.max_block
    started = datetime.now(UTC)
    t0 = time.monotonic()
    events: list[tuple[float, str]] = []
    try:
        with terminate_as_exception():
            df = play(client, test.holds(), poll_s=args.poll, speed=args.speed,
                      progress=None if args.quiet else
                      (lambda h: print(f"  hold: {h}", file=sys.stderr, flush=True)))
    except ModbusDeviceError as exc:
        print(f"heatflex certify {kind}: device error — {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print(f"heatflex certify {kind}: interrupted", file=sys.stderr)
        return 130
    finally:
        written = client.fail_safe()
        events.append((time.time(), f"fail-safe applied: {', '.join(written) or 'none'}"))
        client.close()
    verdicts = (sg.evaluate_sg_ready(df, test) if kind == "sg-ready"
                else sg.evaluate_14a(df, test))
    kpis = {**sg.summarise(df), **client.stats.summary()}
    out = args.out or Path("runs") / f"certify-{kind}-{started:%Y%m%dT%H%M%S}"
    _write_folder(Path(out), kind, args.device, df, verdicts, kpis, time.monotonic() - t0,
                  started, events)
    passed = sg.overall(verdicts)
    for name, v in verdicts.items():
        mark = "PASS" if v["pass"] else "FAIL"
        print(f"{mark}  {name}: {v['value']} (limit {v['limit']} {v['unit']}) — {v['detail']}")
    print(f"run folder: {out}\nverdict: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def _cmd_ems(args: argparse.Namespace) -> int:
    from hil.devices.reference_ems import run_ems
    from hil.profile import ProfileError, load_profile
    from hil.watchdog import Interrupted, terminate_as_exception

    try:
        profile = load_profile(args.profile)
        with terminate_as_exception():
            errors = run_ems(profile, args.device, args.T_low, args.T_high, args.period,
                             args.steps)
    except (ProfileError, ValueError) as exc:
        print(f"heatflex ems: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        return 0
    return 1 if errors else 0


def add_hil_commands(sub: Any) -> None:
    """Add ``serve`` and ``certify`` to the ``heatflex`` sub-command parser."""
    s = sub.add_parser("serve", help="run a virtual device as a Modbus server (real time)")
    s.add_argument("device", help="virtual device: sg_ready_heat_pump")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5020, help="TCP port (0 = any free port)")
    s.add_argument("--allow", action="append", metavar="IP",
                   help="allow only these client addresses (repeatable; TCP only)")
    s.add_argument("--rtu", default=None, metavar="PORT",
                   help="serve Modbus RTU on this serial port (e.g. /dev/ttyUSB0) instead of TCP")
    s.add_argument("--baud", type=int, default=19200, help="RTU line speed, bit/s (default 19200)")
    s.add_argument("--parity", choices=["N", "E", "O"], default="N",
                   help="RTU parity (default N: 8N1)")
    s.add_argument("--profile", default=None, help="register map (bundled name or TOML path)")
    s.add_argument("--scenario", default="residential_house",
                   help="scenario whose house, heat pump and tank the device simulates")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--Q-rated-kW", dest="Q_rated_kW", type=float, default=None,
                   help="heat-pump size, kW heat (default: the scenario's, sized to the house)")
    s.add_argument("--step", type=float, default=1.0, help="device step, s")
    s.add_argument("--speed", type=float, default=1.0,
                   help="device seconds per wall second (1 = real time; >1 for tests)")
    s.add_argument("--until", type=float, default=None, help="stop after this many device s")
    s.add_argument("--variant", choices=["a", "b"], default="a",
                   help="SG-Ready state 4: a = compressor on, b = compressor + backup heater")
    s.add_argument("--T-out", dest="T_out", type=float, default=0.0,
                   help="outdoor temperature, °C")
    s.add_argument("--heartbeat-timeout", type=float, default=None, metavar="S",
                   help="wall seconds without controller heartbeat before fail-safe "
                        "(default: the profile's)")
    s.add_argument("--fault", action="append",
                   choices=["ignore_blocking", "ignore_limit", "no_block_limits"],
                   help="make the device deliberately wrong (for testing certify)")
    s.set_defaults(func=_cmd_serve)

    e = sub.add_parser("ems", help="run the reference EMS (comfort-band SG-Ready controller) "
                                   "against a Modbus device")
    e.add_argument("--device", required=True, metavar="URL",
                   help="modbus://HOST:PORT[/UNIT] or modbus+rtu:///dev/ttyX?baud=N[&unit=ID]")
    e.add_argument("--profile", default="sg_ready_heat_pump")
    e.add_argument("--T-low", dest="T_low", type=float, default=21.0, help="°C")
    e.add_argument("--T-high", dest="T_high", type=float, default=22.0, help="°C")
    e.add_argument("--period", type=float, default=1.0, help="decision period, wall s")
    e.add_argument("--steps", type=int, default=None, help="stop after N decisions")
    e.set_defaults(func=_cmd_ems)

    c = sub.add_parser("certify", help="run a certification test programme against a device")
    csub = c.add_subparsers(dest="kind", required=True)
    for kind, hlp in (("sg-ready", "SG-Ready state sequence with utility-lock rules"),
                      ("14a", "§14a EnWG dimming to a power limit")):
        k = csub.add_parser(kind, help=hlp)
        k.add_argument("--device", required=True, metavar="URL",
                       help="modbus://HOST:PORT[/UNIT] or modbus+rtu:///dev/ttyX?baud=N")
        k.add_argument("--profile", default="sg_ready_heat_pump")
        k.add_argument("--out", type=Path, default=None, help="run folder")
        k.add_argument("--poll", type=float, default=10.0, help="poll period, device s")
        k.add_argument("--speed", type=float, default=1.0,
                       help="device seconds per wall second (virtual devices run faster)")
        k.add_argument("--timeout", type=float, default=1.0, help="Modbus timeout, s")
        k.add_argument("--quiet", action="store_true")
        if kind == "sg-ready":
            k.add_argument("--max-block", type=float, default=None,
                           help="longest allowed block, s (default 7200)")
        else:
            k.add_argument("--limit-kW", dest="limit_kW", type=float, default=4.2)
            k.add_argument("--reaction", type=float, default=60.0, help="reaction time, s")
        k.set_defaults(func=_cmd_certify)
    from scenarios.fcr_certify import add_fcr_command
    add_fcr_command(csub)

"""``heatflex influx check URL`` and ``heatflex influx replay RUN_DIR``.

The token is read from the environment variable named by ``--token-env`` (default
``INFLUX_TOKEN``); it is never accepted on the command line and never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from adapters.influx import check_server

    try:
        problems = check_server(args.url, api=args.api, org=args.org, bucket=args.bucket,
                                token_env=args.token_env, timeout_s=args.timeout,
                                write_probe=not args.no_write)
    except ValueError as exc:
        print(f"heatflex influx check: {exc}", file=sys.stderr)
        return 2
    if problems:
        for p in problems:
            print(f"FAILED: {p}", file=sys.stderr)
        return 1
    what = "reachable" if args.no_write else "reachable, test write accepted"
    kind = "bucket" if args.api == "v2" else "database"
    print(f"OK: {args.url} ({args.api} API) {what}; {kind} {args.bucket!r}"
          + (f", org {args.org!r}" if args.org else ""))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from adapters.influx import replay_spool

    try:
        stats = replay_spool(args.run_dir, url=args.url, api=args.api, org=args.org,
                             bucket=args.bucket, token_env=args.token_env,
                             timeout_s=args.timeout, batch_size=args.batch_size)
    except (FileNotFoundError, ValueError) as exc:
        print(f"heatflex influx replay: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2))
    if stats["points_pending"]:
        print(f"heatflex influx replay: {stats['points_pending']} points still spooled in "
              f"{stats['spool_dir']} ({stats['last_error']}); run replay again later",
              file=sys.stderr)
        return 1
    return 0


def add_influx_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``influx check`` and ``influx replay`` to the ``heatflex`` parser."""
    p = sub.add_parser("influx", help="InfluxDB: check a server, replay a run's spool")
    isub = p.add_subparsers(dest="influx_command", required=True)

    def common(q: argparse.ArgumentParser, defaults: bool) -> None:
        q.add_argument("--api", choices=("v1", "v2"), default="v2" if defaults else None,
                       help="v2 write API (InfluxDB 2/3, 1.8+) or v1 /write (InfluxDB 1.x)")
        q.add_argument("--org", default="" if defaults else None, help="organisation (v2)")
        q.add_argument("--bucket", default="heatflex" if defaults else None,
                       help="bucket (v2) or database (v1)")
        q.add_argument("--token-env", default="INFLUX_TOKEN",
                       help="environment variable holding the token (default INFLUX_TOKEN)")
        q.add_argument("--timeout", type=float, default=5.0, help="HTTP timeout, seconds")

    c = isub.add_parser("check", help="verify connectivity, authentication and write permission")
    c.add_argument("url", help="server URL, e.g. http://localhost:8086")
    common(c, defaults=True)
    c.add_argument("--no-write", action="store_true",
                   help="do not write the probe point heatflex_check ok=1")
    c.set_defaults(func=_cmd_check)

    r = isub.add_parser("replay", help="send a run's InfluxDB spool (in order)")
    r.add_argument("run_dir", type=Path, help="run folder (or its influx_spool folder)")
    r.add_argument("--url", default=None, help="server URL (default: the one the run used)")
    common(r, defaults=False)
    r.add_argument("--batch-size", type=int, default=5000)
    r.set_defaults(func=_cmd_replay)

"""InfluxDB recorder: recorded frames -> line protocol -> InfluxDB, with a disk spool on outage.

- ``api = "v2"``: ``influxdb-client`` over the v2 write API (InfluxDB 2.x, 3.x, 1.8+ through its
  v2 compatibility endpoint, VictoriaMetrics); ``api = "v1"``: the ``/write`` endpoint of
  InfluxDB 1.x.  Both send the same line protocol (:mod:`adapters.lineprotocol`), gzip-compressed,
  in batches of ``batch_size`` lines; writes are synchronous (natural back-pressure), or — the
  mosaik recorder's default, ``background=True`` — made in order by one sender thread fed through
  a bounded queue (serializing the next flush overlaps the server's work; a full queue blocks).
- The token comes only from the environment variable named by ``token_env`` (default
  ``INFLUX_TOKEN``); it is never put in a message, a log or the spool. For v1 a token of the form
  ``user:password`` is sent as HTTP basic auth, anything else as ``Authorization: Token ...``.
- Nothing is lost: a batch the server does not take (unreachable, timeout, 5xx, 401/403/404 —
  anything that is not the data's fault) is appended to the spool, ``<run>/influx_spool/``, one
  numbered file of line protocol per batch.  While the spool is non-empty new batches are appended
  behind it (order is kept) and the spool is replayed oldest first once the back-off has elapsed.
  While the server is down a flush costs one bounded attempt per back-off interval, then only a
  file write.  A run that ends with the server still down leaves the spool for
  :func:`replay_spool` (``heatflex influx replay RUN_DIR``).
- A batch the server rejects as bad data (HTTP 400/422, e.g. a field type conflict) is not
  retried: the server's partial-write count is taken as rejected, the offending line is reported
  (``lines_rejected``) and the batch is kept in ``influx_spool/rejected/`` for inspection.

Statistics (:meth:`InfluxSink.stats`): ``points_written`` (taken on first send),
``points_spooled`` (ever put in the spool), ``points_replayed`` (sent from the spool),
``points_pending`` (still in the spool), ``points_rejected``, ``points_lost`` (must be 0: only a
failing disk can make it non-zero), ``lines_dropped`` (rows without any finite field),
``lines_rejected`` (the first few offending lines with the server's message), ``last_error``.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adapters.lineprotocol import PRECISIONS, LineProtocol, frames_to_line_protocol
from adapters.recorder_base import BufferedRecorder
from adapters.records import RecordBuffer, SourceInfo

log = logging.getLogger(__name__)

SPOOL_DIR = "influx_spool"
"""Name of the spool folder inside a run folder."""
TARGET_FILE = "target.json"
"""Where the spool remembers its target (url, api, org, bucket; never the token)."""
MAX_REPORTED_REJECTIONS = 10
CONFIG_ERRORS = (401, 403, 404)
"""HTTP statuses that retrying for a few seconds will not fix: ``close`` stops waiting (the
spool stays for ``heatflex influx replay``)."""
QUEUE_BATCHES = 4
"""Batches a background sender may have queued before the recorder waits (back-pressure)."""
APIS = ("v1", "v2")


@dataclass
class WriteResult:
    """Outcome of one HTTP write: ``ok``; else ``retry`` (not the data's fault) or rejected."""

    ok: bool
    retry: bool = False
    status: int | None = None
    message: str = ""
    dropped: int | None = None


def _token(token_env: str | None) -> str | None:
    return os.environ.get(token_env) if token_env else None


def _redact(text: str, secret: str | None) -> str:
    """Remove the token from a message (belt and braces: we never format it in)."""
    if secret:
        text = text.replace(secret, "***")
    return text


class _Transport:
    """Sends one line-protocol body; never raises for network or HTTP errors."""

    def __init__(self, url: str, api: str, org: str, bucket: str, token_env: str | None,
                 timeout_s: float, gzip_body: bool):
        if api not in APIS:
            raise ValueError(f"api={api!r}: expected one of {APIS}")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url={url!r}: expected http://host:port or https://host:port")
        if not bucket:
            raise ValueError("bucket/database: expected a non-empty name")
        self.url = url.rstrip("/")
        self.api = api
        self.org = org
        self.bucket = bucket
        self.timeout_s = float(timeout_s)
        self.gzip = bool(gzip_body)
        self._secret = _token(token_env)
        self._client: Any = None
        self._write_service: Any = None
        self._http: Any = None

    # -- v2 through influxdb-client -------------------------------------------------------
    def _v2(self) -> Any:
        """influxdb-client's write service (gzip is applied here, at level 1: the client's own
        gzip uses level 9, which halves throughput — see bench/influx_write.py)."""
        if self._write_service is None:
            from influxdb_client import InfluxDBClient
            from influxdb_client.service.write_service import WriteService

            self._client = InfluxDBClient(
                url=self.url, token=self._secret or "", org=self.org or None,
                timeout=int(self.timeout_s * 1000), enable_gzip=False, retries=False)
            self._write_service = WriteService(self._client.api_client)
        return self._write_service

    def _pool(self) -> Any:
        if self._http is None:
            import urllib3

            self._http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout_s, read=self.timeout_s),
                retries=False)
        return self._http

    def auth_headers(self) -> dict[str, str]:
        """HTTP auth for the raw (v1 / check) requests."""
        if not self._secret:
            return {}
        if self.api == "v1" and ":" in self._secret:
            import base64

            return {"Authorization": "Basic " + base64.b64encode(self._secret.encode()).decode()}
        return {"Authorization": "Token " + self._secret}

    def send(self, body: bytes, precision: str) -> WriteResult:
        """Write one body; classify the outcome."""
        try:
            if self.api == "v2":
                return self._send_v2(body, precision)
            return self._send_v1(body, precision)
        except Exception as exc:  # noqa: BLE001 — any transport failure means "spool, retry"
            return WriteResult(False, retry=True, message=self.redact(_describe(exc)))

    def _send_v2(self, body: bytes, precision: str) -> WriteResult:
        from influxdb_client.rest import ApiException

        extra: dict[str, str] = {}
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
            extra["content_encoding"] = "gzip"
        try:
            self._v2().post_write(org=self.org or "-", bucket=self.bucket, body=body,
                                  precision=precision,
                                  content_type="text/plain; charset=utf-8", **extra)
        except ApiException as exc:
            return _classify(exc.status, self.redact(str(exc.body or exc.reason or "")))
        return WriteResult(True)

    def _send_v1(self, body: bytes, precision: str) -> WriteResult:
        headers = {"Content-Type": "text/plain; charset=utf-8", **self.auth_headers()}
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        r = self._pool().request(
            "POST", f"{self.url}/write?{_qs(db=self.bucket, precision=precision)}", body=body,
            headers=headers, redirect=False)
        if r.status in (200, 204):
            return WriteResult(True)
        return _classify(r.status, self.redact(r.data.decode("utf-8", "replace")))

    def redact(self, text: str) -> str:
        return _redact(text, self._secret)

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001
                pass
            self._client = self._write_service = None
        if self._http is not None:
            self._http.clear()
            self._http = None


def _qs(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in params.items() if v})


def _describe(exc: BaseException) -> str:
    """A one-line description of a transport error (no headers, no token)."""
    import urllib3.exceptions as ue

    root: BaseException = exc
    if isinstance(exc, ue.MaxRetryError) and exc.reason is not None:
        root = exc.reason
    if isinstance(root, ue.NewConnectionError | ConnectionRefusedError):
        return "connection refused (server unreachable)"
    if isinstance(root, ue.TimeoutError | TimeoutError):
        return f"timeout ({type(root).__name__})"
    return f"{type(root).__name__}: {root}"


_DROPPED = re.compile(r"dropped=(\d+)")


def _classify(status: int | None, message: str) -> WriteResult:
    """HTTP status -> retry (spool) or rejected (the data's fault)."""
    message = message.strip()
    if status in (400, 422):
        m = _DROPPED.search(message)
        return WriteResult(False, retry=False, status=status, message=message,
                           dropped=int(m.group(1)) if m else None)
    if status == 413:  # too large: a configuration problem, not the data's fault
        message = f"request too large (reduce batch_size): {message}"
    elif status == 401:
        message = f"authentication failed (unauthorized; check the token): {message}"
    elif status == 403:
        message = f"permission denied (forbidden; the token lacks write access): {message}"
    return WriteResult(False, retry=True, status=status, message=f"HTTP {status}: {message}")


_FIELD_CONFLICT = re.compile(r'field "?([^"\s]+)"? on measurement "?([^"\s]+)"?')
_UNPARSABLE = re.compile(r"unable to parse '([^']*)'")


def offending_line(body: bytes, message: str) -> str:
    """The first line of ``body`` the server's message points at (field conflict: the first line
    of that measurement carrying that field; parse error: the quoted line)."""
    m = _UNPARSABLE.search(message)
    if m:
        return m.group(1)
    text = body.decode("utf-8", "replace")
    m = _FIELD_CONFLICT.search(message)
    if m:
        field, meas = m.group(1), m.group(2)
        for line in text.splitlines():
            head, _, rest = line.partition(" ")
            if (head.split(",", 1)[0] == meas
                    and re.search(rf"(^|,){re.escape(field)}=", rest.rsplit(" ", 1)[0])):
                return line
    return text.split("\n", 1)[0]


class Spool:
    """Append-only numbered files of line protocol: ``<seq:08d>-<precision>.lp``."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._seq = max((self._seq_of(p) for p in self.files()), default=0)

    @staticmethod
    def _seq_of(p: Path) -> int:
        return int(p.name.split("-", 1)[0])

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("*.lp"), key=self._seq_of)

    def append(self, body: bytes, precision: str) -> Path:
        """Store one batch atomically (write + rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = self.dir / f"{self._seq:08d}-{precision}.lp"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        return path

    @staticmethod
    def precision_of(path: Path) -> str:
        return path.stem.split("-", 1)[1]

    def pending_points(self) -> int:
        return sum(p.read_bytes().count(b"\n") for p in self.files())


class InfluxSink:
    """Writes recorded frames to InfluxDB; spools to disk when it cannot (no mosaik here)."""

    def __init__(
        self,
        url: str,
        api: str = "v2",
        org: str = "",
        bucket: str = "heatflex",
        token_env: str | None = "INFLUX_TOKEN",
        spool_dir: str | Path = SPOOL_DIR,
        batch_size: int = 5000,
        gzip: bool = True,
        precision: str = "s",
        timeout_s: float = 5.0,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        replay_budget_s: float = 5.0,
        close_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ):
        """``background``: compress and send from one sender thread, so that serializing the
        next flush overlaps the server's work on this one (order is kept: one FIFO queue of at
        most ``QUEUE_BATCHES`` batches, which blocks the caller when full = back-pressure).
        Counters are final after :meth:`wait` / :meth:`close`, which wait for the queue."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected >= 1")
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: expected one of {sorted(PRECISIONS)}")
        for name, v in (("timeout_s", timeout_s), ("backoff_s", backoff_s),
                        ("backoff_max_s", backoff_max_s)):
            if v <= 0:
                raise ValueError(f"{name}={v}: expected > 0 seconds")
        self.transport = _Transport(url, api, org, bucket, token_env, timeout_s, gzip)
        self.spool = Spool(Path(spool_dir))
        self.batch_size = int(batch_size)
        self.precision = precision
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self.replay_budget_s = float(replay_budget_s)
        self.close_timeout_s = float(close_timeout_s)
        self._clock = clock
        self._next_try = 0.0
        self._delay = self.backoff_s
        self._last_status: int | None = None
        self.points_written = 0
        self.points_spooled = 0
        self.points_replayed = 0
        self.points_rejected = 0
        self.points_lost = 0
        self.lines_dropped = 0
        self.lines_rejected: list[dict[str, Any]] = []
        self.last_error: str | None = None
        self.closed = False
        self._write_target()
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] | None = None
        self._worker: threading.Thread | None = None
        self._worker_error: Exception | None = None
        if background:
            self._queue = queue.Queue(maxsize=QUEUE_BATCHES)
            self._worker = threading.Thread(target=self._work, name="influx-sender",
                                            daemon=True)
            self._worker.start()

    def _write_target(self) -> None:
        t = self.transport
        self.spool.dir.mkdir(parents=True, exist_ok=True)
        (self.spool.dir / TARGET_FILE).write_text(json.dumps(
            {"url": t.url, "api": t.api, "org": t.org, "bucket": t.bucket,
             "precision": self.precision}, indent=2) + "\n", encoding="utf-8")

    # -- public API ------------------------------------------------------------------------
    def write(self, frames: dict[str, pd.DataFrame]) -> None:
        """Serialize ``{measurement: frame}`` and send (or spool) it in batches."""
        for lp in frames_to_line_protocol(frames, self.precision):
            self.write_lines(lp)

    def write_lines(self, lp: LineProtocol) -> None:
        """Send (or spool) already serialized lines."""
        self.lines_dropped += lp.n_dropped
        for body, n in lp.chunks(self.batch_size):
            self._do("submit", body, n, lp.precision)

    def flush(self) -> None:
        """Replay the spool if the back-off has elapsed (bounded by ``replay_budget_s``)."""
        self._do("drain", self.replay_budget_s)

    def wait(self) -> None:
        """Wait until the sender thread (if any) has handled everything queued."""
        if self._queue is not None:
            self._queue.join()
        self._raise_worker_error()

    def close(self) -> dict[str, Any]:
        """Replay what can be replayed within ``close_timeout_s``; return the statistics."""
        if self._queue is not None and self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = self._worker = None
            self._raise_worker_error()
        if not self.closed:
            deadline = self._clock() + self.close_timeout_s
            while self.spool.files() and self._clock() < deadline:
                if self._last_status in CONFIG_ERRORS:
                    break  # wrong token / permissions / bucket: waiting will not fix it
                wait = self._next_try - self._clock()
                if wait > 0:
                    if self._clock() + wait > deadline:
                        break
                    time.sleep(wait)
                self._drain(max(0.0, deadline - self._clock()))
            self.transport.close()
            self.closed = True
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """Counts of points written, spooled, replayed, pending, rejected and lost."""
        self.wait()
        pending = self.spool.pending_points()
        return {
            "url": self.transport.url, "api": self.transport.api,
            "bucket": self.transport.bucket,
            "points_written": self.points_written, "points_spooled": self.points_spooled,
            "points_replayed": self.points_replayed, "points_pending": pending,
            "points_rejected": self.points_rejected, "points_lost": self.points_lost,
            "lines_dropped": self.lines_dropped, "lines_rejected": list(self.lines_rejected),
            "spool_dir": str(self.spool.dir) if pending else None,
            "last_error": self.last_error,
        }

    # -- internals -------------------------------------------------------------------------
    def _do(self, what: str, *args: Any) -> None:
        """Run ``_submit``/``_drain`` here, or queue it for the sender thread."""
        self._raise_worker_error()
        if self._queue is not None:
            self._queue.put((what, args))
        elif what == "submit":
            self._submit(*args)
        else:
            self._drain(*args)

    def _work(self) -> None:
        """Sender thread: handle queued batches in order until the ``None`` sentinel."""
        assert self._queue is not None
        q = self._queue
        while True:
            item = q.get()
            try:
                if item is None:
                    return
                what, args = item
                if what == "submit":
                    try:
                        self._submit(*args)
                    except Exception as exc:  # noqa: BLE001 — keep the batch, report in caller
                        self._worker_error = self._worker_error or exc
                        self._to_spool(*args)
                else:
                    self._drain(*args)
            except Exception as exc:  # noqa: BLE001
                self._worker_error = self._worker_error or exc
            finally:
                q.task_done()

    def _raise_worker_error(self) -> None:
        if self._worker_error is not None:
            exc, self._worker_error = self._worker_error, None
            raise RuntimeError(f"InfluxDB sender thread failed: {exc!r}") from exc

    def _submit(self, body: bytes, n: int, precision: str) -> None:
        if self.spool.files():  # keep order: behind what is already waiting
            self._to_spool(body, n, precision)
            self._drain(self.replay_budget_s)
            return
        if self._clock() < self._next_try:
            self._to_spool(body, n, precision)
            return
        res = self.transport.send(body, precision)
        if res.ok:
            self.points_written += n
            self._reset_backoff()
        elif res.retry:
            self._failed(res)
            self._to_spool(body, n, precision)
        else:
            self.points_written += self._rejected(body, n, res)

    def _drain(self, budget_s: float) -> None:
        """Send spooled batches oldest first until empty, a failure or the budget is spent."""
        t_end = self._clock() + budget_s
        for path in self.spool.files():
            if self._clock() < self._next_try or self._clock() > t_end:
                return
            body = path.read_bytes()
            n = body.count(b"\n")
            res = self.transport.send(body, Spool.precision_of(path))
            if res.ok:
                self.points_replayed += n
                self._reset_backoff()
            elif res.retry:
                self._failed(res)
                return
            else:
                self.points_replayed += self._rejected(body, n, res)
            path.unlink()

    def _to_spool(self, body: bytes, n: int, precision: str) -> None:
        try:
            self.spool.append(body, precision)
            self.points_spooled += n
        except OSError as exc:
            self.points_lost += n
            self.last_error = f"spool write failed, {n} points lost: {exc}"
            log.error(self.last_error)

    def _failed(self, res: WriteResult) -> None:
        first = self.last_error is None or self._delay == self.backoff_s
        self.last_error = res.message
        self._last_status = res.status
        if first:
            log.warning("InfluxDB %s: write failed (%s); spooling to %s and retrying",
                        self.transport.url, res.message, self.spool.dir)
        self._next_try = self._clock() + self._delay
        self._delay = min(self.backoff_max_s, self._delay * 2.0)

    def _reset_backoff(self) -> None:
        self._last_status = None
        self._next_try = 0.0
        self._delay = self.backoff_s

    def _rejected(self, body: bytes, n: int, res: WriteResult) -> int:
        """Record a rejected batch; return how many of its points the server still took."""
        dropped = n if res.dropped is None else min(n, res.dropped)
        self.points_rejected += dropped
        self.last_error = f"HTTP {res.status}: {res.message}"
        line = offending_line(body, res.message)
        if len(self.lines_rejected) < MAX_REPORTED_REJECTIONS:
            self.lines_rejected.append({"line": line[:1000], "status": res.status,
                                        "error": res.message[:1000], "dropped": dropped})
        log.error("InfluxDB %s rejected %d of %d points (HTTP %s: %s); offending line: %s",
                  self.transport.url, dropped, n, res.status, res.message, line[:300])
        rej = self.spool.dir / "rejected"
        try:
            rej.mkdir(parents=True, exist_ok=True)
            k = len(list(rej.glob("*.lp"))) + 1
            (rej / f"{k:06d}.lp").write_bytes(body)
            (rej / f"{k:06d}.txt").write_text(f"HTTP {res.status}: {res.message}\n")
        except OSError:
            pass
        return n - dropped


def replay_spool(
    run_dir: str | Path,
    url: str | None = None,
    api: str | None = None,
    org: str | None = None,
    bucket: str | None = None,
    token_env: str | None = "INFLUX_TOKEN",
    **sink_options: Any,
) -> dict[str, Any]:
    """Send a run folder's spool (``RUN_DIR/influx_spool``, or a spool folder itself) in order.

    Target settings default to those the run used (``influx_spool/target.json``)."""
    run_dir = Path(run_dir)
    spool_dir = run_dir if (run_dir / TARGET_FILE).is_file() else run_dir / SPOOL_DIR
    if not spool_dir.is_dir():
        raise FileNotFoundError(f"{spool_dir}: no InfluxDB spool here")
    target: dict[str, Any] = {}
    if (spool_dir / TARGET_FILE).is_file():
        target = json.loads((spool_dir / TARGET_FILE).read_text(encoding="utf-8"))
    url = url or target.get("url")
    if not url:
        raise ValueError(f"{spool_dir}: no target recorded; give the server URL")
    sink_options.setdefault("close_timeout_s", 30.0)
    sink = InfluxSink(url, api=api or target.get("api", "v2"), org=org or target.get("org", ""),
                      bucket=bucket or target.get("bucket", "heatflex"), token_env=token_env,
                      spool_dir=spool_dir, precision=target.get("precision", "s"),
                      **sink_options)
    return sink.close()


def check_server(
    url: str, api: str = "v2", org: str = "", bucket: str = "heatflex",
    token_env: str | None = "INFLUX_TOKEN", timeout_s: float = 5.0, write_probe: bool = True,
) -> list[str]:
    """Check connectivity, authentication and write permission; return the problems found
    (empty = all good).  With ``write_probe`` one point ``heatflex_check ok=1`` is written."""
    t = _Transport(url, api, org, bucket, token_env, timeout_s, gzip_body=False)
    problems: list[str] = []
    try:
        http = t._pool()
        try:
            r = http.request("GET", f"{t.url}/ping", headers=t.auth_headers(), retries=False)
        except Exception as exc:  # noqa: BLE001
            return [f"{t.url}: unreachable — {t.redact(_describe(exc))}. Is the server running "
                    "and the URL (scheme, host, port) right?"]
        if r.status not in (200, 204):
            return [f"{t.url}/ping answered HTTP {r.status}: not an InfluxDB-compatible server?"]
        if api == "v1":
            q = http.request("GET", f"{t.url}/query?{_qs(q='SHOW DATABASES')}",
                             headers=t.auth_headers(), retries=False)
            text = t.redact(q.data.decode("utf-8", "replace"))
            if q.status in (401, 403):
                return [_auth_message(t, q.status, token_env, text)]
            if q.status == 200:
                try:
                    series = json.loads(text)["results"][0].get("series", [])
                    names = {v[0] for s in series for v in s.get("values", [])}
                except (ValueError, KeyError, IndexError):
                    names = None
                if names is not None and bucket not in names:
                    problems.append(f"database {bucket!r} does not exist on {t.url} "
                                    f"(create it: CREATE DATABASE \"{bucket}\")")
                    return problems
        if write_probe:
            body = f"heatflex_check ok=1 {time.time_ns()}\n".encode()
            res = t.send(body, "ns")
            if not res.ok:
                problems.append(_write_message(t, res, token_env))
    finally:
        t.close()
    return problems


def _auth_message(t: _Transport, status: int, token_env: str | None, text: str) -> str:
    have = "is set" if _token(token_env) else "is NOT set"
    form = "user:password for InfluxDB 1.x" if t.api == "v1" else "an API token"
    return (f"{t.url}: authentication failed (HTTP {status} unauthorized) — check the token in "
            f"${token_env} (the variable {have}; expected {form}); server said: "
            f"{text.strip()[:200]}")


def _write_message(t: _Transport, res: WriteResult, token_env: str | None) -> str:
    msg = res.message
    kind = "bucket" if t.api == "v2" else "database"
    if res.status == 401:
        return _auth_message(t, 401, token_env, msg)
    if res.status == 403:
        return (f"{t.url}: write to {kind} {t.bucket!r} forbidden (HTTP 403) — the token in "
                f"${token_env} lacks write permission; server said: {msg[:200]}")
    if res.status == 404:
        return (f"{t.url}: {kind} {t.bucket!r} not found (HTTP 404; org {t.org!r}) — create it "
                f"or fix --bucket/--org; server said: {msg[:200]}")
    if res.status is None:
        return f"{t.url}: write failed — {msg}"
    return f"{t.url}: test write to {kind} {t.bucket!r} failed: {msg[:300]}"


# --------------------------------------------------------------------------------------------
# mosaik recorder

ACTIVE: list[InfluxRecorder] = []
"""Recorders alive in this process; the runner closes them even when a run fails."""
CLOSED_STATS: list[dict[str, Any]] = []
"""Statistics of recorders closed since the last :func:`close_all` (for run.json)."""


def close_all() -> list[dict[str, Any]]:
    """Close every active recorder; return (and forget) the stats of all recorders closed since
    the last call — the runner puts them in ``run.json`` under ``"influx"``."""
    for rec in list(ACTIVE):
        rec.close()
    out = list(CLOSED_STATS)
    CLOSED_STATS.clear()
    return out


class InfluxRecorder(BufferedRecorder):
    """mosaik recorder: any inputs, one entity, sends to InfluxDB every flush interval."""

    def __init__(self) -> None:
        super().__init__(["out_dir", "run_id", "scenario", "start", "sources",
                          "flush_interval_s", "url", "api", "org", "bucket", "token_env",
                          "batch_size", "gzip", "precision", "timeout_s", "background"])
        self.sink: InfluxSink | None = None
        self.flush_every = 3600.0
        self.result: dict[str, Any] | None = None

    def create(
        self,
        num: int,
        model: str,
        out_dir: str,
        run_id: str,
        scenario: str,
        start: datetime,
        sources: dict[str, SourceInfo],
        url: str,
        flush_interval_s: float = 3600.0,
        api: str = "v2",
        org: str = "",
        bucket: str = "heatflex",
        token_env: str = "INFLUX_TOKEN",
        batch_size: int = 5000,
        gzip: bool = True,
        precision: str | None = None,
        timeout_s: float = 5.0,
        background: bool = True,
    ) -> list[dict[str, str]]:
        """Create the single recorder entity; the spool goes to ``out_dir/influx_spool``
        (``out_dir`` = the run folder). ``precision`` defaults to the coarsest of s/ms/us/ns
        that represents every mosaik time step exactly."""
        if num != 1 or self.buffer is not None:
            raise ValueError("one Recorder entity per simulator")
        self.buffer = RecordBuffer(run_id, scenario, start, sources)
        self.sink = InfluxSink(
            url, api=api, org=org, bucket=bucket, token_env=token_env,
            spool_dir=Path(out_dir) / SPOOL_DIR, batch_size=batch_size, gzip=gzip,
            precision=precision or precision_for(self.time_resolution), timeout_s=timeout_s,
            background=background)
        self.flush_every = float(flush_interval_s)
        ACTIVE.append(self)
        return [{"eid": "influx_recorder", "type": model}]

    def flush(self) -> None:
        """Send what is buffered (and replay the spool when due)."""
        if self.buffer is None or self.sink is None:
            return
        if len(self.buffer):
            self.sink.write(self.buffer.take_frames())
        else:
            self.sink.flush()

    def close(self) -> dict[str, Any]:
        """Flush, replay what can be replayed, return the stats; safe to call more than once."""
        if self.result is None and self.sink is not None:
            try:
                self.flush()
            finally:
                self.result = self.sink.close()
                CLOSED_STATS.append(self.result)
        if self in ACTIVE:
            ACTIVE.remove(self)
        return dict(self.result or {})


def precision_for(time_resolution_s: float) -> str:
    """Coarsest line-protocol precision representing multiples of ``time_resolution_s``."""
    for name, ns in PRECISIONS.items():
        k = time_resolution_s * 1e9 / ns
        if k >= 1 and abs(k - round(k)) < 1e-9:
            return name
    return "ns"

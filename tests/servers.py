"""Real time-series servers for tests: victoria-metrics and influxd 1.x on 127.0.0.1.

Each server runs from its Debian package's binary, on a random free port, with its data in a
temporary folder; :meth:`stop` terminates it (the process we started, by pid) and the folder
goes with pytest's tmp_path. A missing binary FAILS the test with the package to install —
nothing is skipped silently.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

BINARIES = {
    "victoria-metrics": ("victoria-metrics", "apt-get install victoria-metrics"),
    "influxd": ("influxdb", "apt-get install influxdb  (InfluxDB 1.x, binary /usr/bin/influxd)"),
}


def require_binary(name: str) -> str:
    """Path of ``name`` or a test failure naming the Debian package that provides it."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                  else None)
    if path is None:
        pkg, how = BINARIES[name]
        pytest.fail(f"{name} not found: install the Debian package {pkg!r} ({how})",
                    pytrace=False)
    return path


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, data: bytes | None = None, timeout: float = 5.0,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP request: (status, body); connection errors raise OSError."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """A server process on 127.0.0.1:<port> with its data in ``workdir``."""

    name = ""
    ready_path = "/ping"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout_s: float = 20.0) -> Server:
        """Start (again, on the same port) and wait until it answers."""
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 — closed with the process
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        log.close()
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   + self.log_path.read_text(errors="replace")[-3000:])
            try:
                status, _ = http("GET", self.url + self.ready_path, timeout=1.0)
                if status in (200, 204):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready on {self.url} within {timeout_s} s:\n"
                           + self.log_path.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        """Terminate the process we started (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


class VictoriaMetrics(Server):
    """victoria-metrics: InfluxDB v2 write API at ``/api/v2/write``; read via ``/api/v1/export``.

    ``-retentionPeriod=100y`` because simulated time lies in the past; ``-search.latencyOffset=0s``
    because it hides samples newer than 30 s by default."""

    name = "victoria-metrics"
    ready_path = "/health"

    def command(self) -> list[str]:
        return [require_binary("victoria-metrics"),
                f"-storageDataPath={self.workdir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y", "-search.latencyOffset=0s",
                "-loggerLevel=ERROR", "-search.disableCache"]

    def export(self, match: str) -> list[dict[str, Any]]:
        """All samples of the series matching a selector, as export JSON lines."""
        http("GET", self.url + "/internal/force_flush")
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        status, body = http("GET", f"{self.url}/api/v1/export?{q}", timeout=30)
        assert status == 200, body[:500]
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


class InfluxDB1(Server):
    """influxd 1.x: ``/write`` (line protocol) and ``/query`` (InfluxQL).

    ``auth=("user", "password")`` starts it with ``[http] auth-enabled = true`` and creates that
    admin user on first start (influxd 1.x accepts the first ``CREATE USER ... WITH ALL
    PRIVILEGES`` unauthenticated); :meth:`query` then authenticates as that user."""

    name = "influxd"

    def __init__(self, workdir: Path, auth: tuple[str, str] | None = None):
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.auth = auth

    def start(self, timeout_s: float = 20.0) -> InfluxDB1:
        """Start; with ``auth``, create the admin user if it does not exist yet."""
        super().start(timeout_s)
        if self.auth is not None:
            user, password = self.auth
            status, body = http("POST", f"{self.url}/query", data=urllib.parse.urlencode(
                {"q": f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"}
            ).encode(), headers={"Content-Type": "application/x-www-form-urlencoded",
                                 **self.auth_headers()})
            assert status == 200 and b'"error"' not in body, body[:500]
        return self

    def auth_headers(self) -> dict[str, str]:
        """Basic-auth header of the admin user (empty without ``auth``)."""
        if self.auth is None:
            return {}
        import base64

        return {"Authorization": "Basic "
                + base64.b64encode(":".join(self.auth).encode()).decode()}

    def command(self) -> list[str]:
        w = self.workdir
        conf = w / "influxdb.conf"
        conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{w / 'meta'}"
  logging-enabled = false
[data]
  dir = "{w / 'data'}"
  wal-dir = "{w / 'wal'}"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
  log-queries-after = "0s"
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = {"true" if self.auth else "false"}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "error"
""", encoding="utf-8")
        return [require_binary("influxd"), "run", "-config", str(conf)]

    def query(self, q: str, db: str | None = None, epoch: str = "s") -> dict[str, Any]:
        """Run InfluxQL; return the JSON answer (asserting HTTP 200)."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        status, body = http("POST", f"{self.url}/query",
                            data=urllib.parse.urlencode(params).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                     **self.auth_headers()})
        assert status == 200, body[:500]
        return json.loads(body)

    def create_database(self, db: str) -> None:
        self.query(f'CREATE DATABASE "{db}"')

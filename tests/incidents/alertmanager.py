"""A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1 for acceptance tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

BINARY = "/usr/bin/prometheus-alertmanager"

CONFIG = """\
route:
  receiver: portal
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4s
receivers:
  - name: portal
    webhook_configs:
      - url: {url}
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; generous limits for a loaded box."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, workdir: Path, receiver_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_file = workdir / "portal-token"
        self.token_file.write_text("unset")
        self.token_file.chmod(0o600)
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(CONFIG.format(url=receiver_url, token_file=self.token_file))
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "alertmanager.log"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={self.config}", f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, timeout=60, what="alertmanager ready")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"alertmanager exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def post_alerts(self, alerts: list[dict]) -> None:
        resp = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert resp.status_code == 200, resp.text

    def fire(self, labels: dict, *, summary: str = "") -> dict:
        now = datetime.now(UTC)
        alert = {"labels": labels, "annotations": {"summary": summary or labels.get("alertname", "")},
                 "startsAt": iso(now - timedelta(seconds=5)), "endsAt": iso(now + timedelta(hours=1)),
                 "generatorURL": "http://prometheus.test/graph"}
        self.post_alerts([alert])
        return alert

    def resolve(self, alert: dict) -> None:
        self.post_alerts([{**alert, "endsAt": iso(datetime.now(UTC) - timedelta(seconds=1))}])

    def silences(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v2/silences", timeout=10).json()


@contextlib.contextmanager
def running(workdir: Path, receiver_url: str):
    am = Alertmanager(workdir, receiver_url)
    am.start()
    try:
        yield am
    finally:
        am.stop()

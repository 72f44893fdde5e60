"""The embedded runner (`manage.py serve`), seed_demo and the production guards, as subprocesses.

The served portal runs on SQLite with the in-memory broker and channel layer, exactly as
`make run` does: DATABASE_URL/REDIS_URL are removed from the child's environment.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_PASSWORD = "serve-test-Operator-1"
_DROP = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "OPSPORTAL_ENV",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
}


def embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings",
        OPSPORTAL_VAR_DIR=str(var_dir),
        LOG_FORMAT="console",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Portal:
    def __init__(self, proc: subprocess.Popen, port: int, var_dir: Path, log: Path):
        self.proc = proc
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.db_path = var_dir / "opsportal.sqlite3"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("serve-var")
    env = embedded_env(var_dir)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    made = manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Group; "
        f"u = get_user_model().objects.create_user('olivia', password='{OPERATOR_PASSWORD}', is_staff=True); "
        "u.groups.add(Group.objects.get(name='operator'))",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    log = var_dir / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGINT reaches only the server
        )
    portal = Portal(proc, port, var_dir, log)

    def live():
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{portal.output()}")
        try:
            return httpx.get(f"{portal.base}/health/live", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(live, timeout=60, what="/health/live")
    yield portal
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def login(portal: Portal, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=portal.base, timeout=10)
    page = client.get("/admin/login/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/admin/login/?next=/admin/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
    )
    assert answer.status_code == 302, answer.text[:500]
    assert answer.headers["location"] == "/admin/"
    assert client.cookies.get("sessionid")
    return client


def open_socket(portal: Portal, client: httpx.Client):
    return ws_connect(
        f"ws://127.0.0.1:{portal.port}/ws/ops/",
        additional_headers={"Cookie": f"sessionid={client.cookies['sessionid']}", "Origin": portal.base},
        open_timeout=10,
    )


def test_serves_health_and_admin_login(portal):
    live = httpx.get(f"{portal.base}/health/live", timeout=5)
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = httpx.get(f"{portal.base}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["broker"]["detail"] == "in-memory"
    assert httpx.get(f"{portal.base}/admin/login/", timeout=5).status_code == 200
    assert f"opsportal serving on http://127.0.0.1:{portal.port}/" in portal.output()


def test_logged_in_operator_gets_websocket_hello(portal):
    client = login(portal, "olivia", OPERATOR_PASSWORD)
    with open_socket(portal, client) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "hello"
    assert "incident" in hello["domains"]
    assert "audit" not in hello["domains"]  # operators do not see the audit stream


def test_websocket_without_session_is_refused(portal):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        with ws_connect(
            f"ws://127.0.0.1:{portal.port}/ws/ops/", additional_headers={"Origin": portal.base}, open_timeout=10
        ) as ws:
            ws.recv(timeout=5)


def test_beat_sweep_publishes_an_unpublished_outbox_row(portal):
    """A row the on-commit relay never saw is published by the beat-scheduled events.sweep_outbox."""
    client = login(portal, "olivia", OPERATOR_PASSWORD)
    event_id = uuid.uuid4()
    # old enough for the sweep, young enough for a live push (OUTBOX_BROADCAST_MAX_AGE_SECONDS)
    old = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with open_socket(portal, client) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        db = sqlite3.connect(portal.db_path, timeout=20)
        try:
            with db:
                db.execute(
                    "INSERT INTO events_outboxevent (uuid, type, aggregate_type, aggregate_id, data, created_at, published_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (event_id.hex, "catalog.service_created", "catalog.service", "999", json.dumps({"name": "swept"}), old),
                )

            def published():
                row = db.execute("SELECT published_at FROM events_outboxevent WHERE uuid = ?", (event_id.hex,)).fetchone()
                return row[0]

            assert wait_until(published, timeout=30, what="the sweep to set published_at")
        finally:
            db.close()

        # ...and the sweep's worker thread reached the websocket through the in-memory layer.
        def event_arrived():
            message = json.loads(ws.recv(timeout=10))
            return message.get("type") == "event" and message["event"]["id"] == str(event_id)

        wait_until(event_arrived, timeout=20, interval=0, what="the swept event on the socket")


@pytest.fixture(scope="module")
def migrated_env(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite database of its own, for the tests that start and stop servers."""
    env = embedded_env(tmp_path_factory.mktemp("serve-stop"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_everything_and_the_process_exits_zero(migrated_env, sig):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=migrated_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def live():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                return False

        wait_until(live, timeout=60, what="/health/live")
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=12)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"serve did not stop within 12 s after {sig.name}:\n{proc.communicate()[0]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert f"{sig.name} received" in out
    assert "opsportal: stopped" in out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)


def test_serve_fails_clearly_when_the_port_is_taken(migrated_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = manage("serve", "--port", str(taken.getsockname()[1]), env=migrated_env, timeout=60)
    assert result.returncode != 0
    assert "is the port in use?" in result.stderr


# --- production guards ----------------------------------------------------------------------


def test_production_refuses_the_default_secret_key(tmp_path):
    result = manage("check", env=embedded_env(tmp_path, OPSPORTAL_ENV="production", ALLOWED_HOSTS="ops.example.com"))
    assert result.returncode != 0
    assert "OPSPORTAL_ENV=production needs a SECRET_KEY" in result.stderr


def test_production_refuses_debug(tmp_path):
    env = embedded_env(
        tmp_path, OPSPORTAL_ENV="production", SECRET_KEY=secrets.token_urlsafe(64), DEBUG="true", ALLOWED_HOSTS="ops.example.com"
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "OPSPORTAL_ENV=production refuses DEBUG=true" in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    env = embedded_env(tmp_path, OPSPORTAL_ENV="production", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="ops.example.com")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


# --- metrics in multiprocess mode (gunicorn workers) ---------------------------------------------


def test_metrics_aggregate_across_processes_when_multiproc_dir_is_set(tmp_path):
    """Two processes each serve one request; a third process's /metrics reports both."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = embedded_env(tmp_path / "var", PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    assert manage("migrate", "--noinput", env=env).returncode == 0
    hit = "from django.test import Client; assert Client().get('/health/live').status_code == 200"
    for _ in range(2):
        result = manage("shell", "-c", hit, env=env)
        assert result.returncode == 0, result.stderr
    scrape = manage("shell", "-c", "from django.test import Client; print(Client().get('/metrics').content.decode())", env=env)
    assert scrape.returncode == 0, scrape.stderr
    line = next(
        (
            line
            for line in scrape.stdout.splitlines()
            if line.startswith("django_http_requests_total_by_view_transport_method_total{") and 'view="health-live"' in line
        ),
        None,
    )
    assert line is not None, scrape.stdout[-3000:]
    assert float(line.rsplit(" ", 1)[1]) == 2.0

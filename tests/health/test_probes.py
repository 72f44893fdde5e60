"""/health/live and /health/ready against real PostgreSQL and Redis (DESIGN §6)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from reliability.health import checks

pytestmark = pytest.mark.django_db  # the checks open (and close) their own connections


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def registered():
    names = []

    def register(name, fn):
        checks.register_check(name, fn)
        names.append(name)

    yield register
    for name in names:
        checks.unregister_check(name)


def test_live_is_ok(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_with_real_postgres_and_redis(client, settings):
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and settings.REDIS_URL
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) >= {"database", "redis", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"] == "postgresql"
    assert body["checks"]["redis"]["detail"] == "pong"


def test_ready_is_503_naming_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1.0
    start = time.monotonic()
    response = client.get("/health/ready")
    elapsed = time.monotonic() - start

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"]
    body = response.json()
    assert body["failing"] == ["redis"]
    assert "redis" in body["detail"]
    assert body["checks"]["redis"]["ok"] is False and "Connection" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True
    assert elapsed < 10  # bounded by the check timeout, not by a TCP default


def test_a_hanging_check_is_reported_failed_within_the_timeout(client, settings, registered):
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.3
    release = threading.Event()
    registered("stuck_dependency", lambda: release.wait(30) and "late")
    try:
        start = time.monotonic()
        response = client.get("/health/ready")
        elapsed = time.monotonic() - start
    finally:
        release.set()

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["stuck_dependency"]
    assert "no answer within 0.3s" in body["checks"]["stuck_dependency"]["detail"]
    assert elapsed < 5  # the 30 s hang did not hold the probe


def test_a_raising_check_is_reported_with_its_error(client, registered):
    def broken():
        raise RuntimeError("disk on fire")

    registered("disk", broken)
    body = client.get("/health/ready").json()
    assert body["failing"] == ["disk"]
    assert body["checks"]["disk"]["detail"] == "RuntimeError: disk on fire"


def test_a_registered_check_that_passes_is_listed(client, registered):
    registered("breaker_store", lambda: "ok")
    body = client.get("/health/ready").json()
    assert body["checks"]["breaker_store"]["ok"] is True


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_only_get_is_allowed(client, path, method):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response["Content-Type"] == "application/problem+json"


def test_unknown_health_path_is_problem_404(client):
    response = client.get("/health/nope")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"

"""/health/ready answers within 1 s naming the failing check, whatever the dependency does (#11 acceptance).

The bound asserted is a generous 1.5 s (the readiness deadline is 0.8 s): the one place the issue
asks for a time bound. Dependencies are pointed at a closed port (refused at once) and at a
listening socket that never answers (the hang a firewall or a wedged server gives).
"""

from __future__ import annotations

import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from reliability.health import checks
from tests.health.conftest import closed_port, wait_for

pytestmark = pytest.mark.django_db
BOUND = 1.5


@pytest.fixture(autouse=True)
def _warm(client):
    """A serving process is warm: the first request of a test process imports half the project."""
    client.get("/health/ready")
    client.get("/health/detailed")
    checks.clear_cache()


def timed_get(client, path="/health/ready"):
    start = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - start


@pytest.fixture
def database_port(monkeypatch):
    """Point the process's database settings (what a new connection uses) at another port."""

    def point(port: int) -> None:
        monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "PORT", str(port))
        checks.clear_cache()

    return point


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_ready_is_503_naming_the_database_within_a_second_and_200_when_back(client, monkeypatch, database_port,
                                                                           silent_port, kind):
    real_port = connections.settings[DEFAULT_DB_ALIAS].get("PORT") or "5432"
    database_port(closed_port() if kind == "closed" else silent_port)

    response, elapsed = timed_get(client)
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["failing"] == ["database"]
    assert "database" in body["detail"]
    assert body["checks"]["redis"]["ok"] is True and body["checks"]["broker"]["ok"] is True
    assert elapsed < BOUND, f"took {elapsed:.2f}s"
    assert client.get("/health/live").status_code == 200  # liveness never depends on the database

    database_port(int(real_port))
    # A hung attempt still in flight is joined until its own connect timeout ends: wait for "back".
    wait_for(lambda: checks.clear_cache() or client.get("/health/ready").status_code == 200, 30, "ready again")
    assert client.get("/health/ready").json()["checks"]["database"]["ok"] is True


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_ready_is_503_naming_redis_within_a_second_and_200_when_back(client, settings, silent_port, kind):
    real = settings.REDIS_URL
    port = closed_port() if kind == "closed" else silent_port
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"  # the broker stays on the real Redis

    response, elapsed = timed_get(client)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"]["ok"] is True
    assert elapsed < BOUND, f"took {elapsed:.2f}s"
    assert client.get("/health/live").status_code == 200

    settings.REDIS_URL = real
    wait_for(lambda: checks.clear_cache() or client.get("/health/ready").status_code == 200, 30, "ready again")


def test_a_broker_at_a_closed_port_is_named_within_a_second(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response, elapsed = timed_get(client)
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert elapsed < BOUND


def test_an_amqp_broker_at_a_closed_port_fails_at_once_without_kombus_retry_sleep(settings):
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    start = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - whatever kombu raises for a refused connection
        checks.check_broker()
    assert time.monotonic() - start < BOUND  # kombu's default ensure_connection sleeps 2 s before its retry


def test_everything_down_at_once_still_answers_within_a_second(client, settings, database_port, silent_port):
    database_port(silent_port)
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_port}/0"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_port}/1"
    response, elapsed = timed_get(client)
    assert response.status_code == 503
    assert set(response.json()["failing"]) == {"database", "redis", "broker"}
    assert elapsed < BOUND


def test_results_are_cached_briefly_so_probes_cannot_overload_dependencies(client, settings, monkeypatch):
    settings.HEALTH_READY_CACHE_SECONDS = 60
    calls = []
    real = checks.check_redis
    monkeypatch.setattr(checks, "check_redis", lambda: calls.append(1) or real())
    checks.clear_cache()
    first = client.get("/health/ready").json()
    for _ in range(20):
        assert client.get("/health/ready").json()["cached"] is True
    assert first["cached"] is False and len(calls) == 1


def test_a_hung_check_holds_one_thread_not_one_per_request(client, settings, registered_hang):
    settings.HEALTH_READY_CACHE_SECONDS = 0
    for _ in range(10):
        response = client.get("/health/ready")
        assert response.status_code == 503 and response.json()["failing"] == ["stuck"]
    assert registered_hang.started == 1  # later requests joined the first call instead of starting their own


@pytest.fixture
def registered_hang():
    import threading

    class Hang:
        started = 0
        release = threading.Event()

        def __call__(self):
            Hang.started += 1
            self.release.wait(30)
            return "late"

    hang = Hang()
    checks.register_check("stuck", hang)
    yield hang
    hang.release.set()
    checks.unregister_check("stuck")

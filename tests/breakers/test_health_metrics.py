"""Readiness reports the breaker store; Prometheus metrics come from the runtime."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from reliability.breakers import BreakerConfig, CircuitOpenError

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_store(settings, process_registry):
    process_registry.configure(redis_url="redis://127.0.0.1:1/0", background=False)
    yield process_registry
    process_registry.configure(redis_url=settings.REDIS_URL, background=True)


def test_ready_reports_shared_store(client):
    body = client.get("/health/ready").json()
    assert body["checks"]["breaker_store"]["ok"] is True
    assert body["checks"]["breaker_store"]["detail"] == "shared (redis)"


def test_ready_reports_degraded_store_and_calls_stay_protected(client, unreachable_store):
    from reliability.breakers import breaker

    b = breaker("pay", config=BreakerConfig(minimum_calls=3, window_size=10))
    assert b.call(lambda: "ok") == "ok"
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):  # only the callee's own error reaches the caller
            b.call(lambda: 1 / 0)
    with pytest.raises(CircuitOpenError):
        b.call(lambda: "ok")
    response = client.get("/health/ready")
    assert response.status_code == 503
    check = response.json()["checks"]["breaker_store"]
    assert check["ok"] is False
    assert "per process" in check["detail"]
    assert "breaker_store" in response.json()["failing"]


def test_metrics_expose_state_requests_failures_transitions_and_durations(process_registry, client):
    from reliability.breakers import breaker

    b = breaker("metered", config=BreakerConfig(minimum_calls=3, window_size=10))
    b.call(lambda: "ok")
    for _ in range(2):
        with pytest.raises(ValueError):
            b.call(lambda: (_ for _ in ()).throw(ValueError("x")))
    with pytest.raises(CircuitOpenError):
        b.call(lambda: "ok")
    text = generate_latest(REGISTRY).decode()
    assert 'circuit_breaker_state{breaker="metered"} 1.0' in text
    assert 'circuit_breaker_requests_total{breaker="metered",result="success"} 1.0' in text
    assert 'circuit_breaker_requests_total{breaker="metered",result="failure"} 2.0' in text
    assert 'circuit_breaker_requests_total{breaker="metered",result="rejected"} 1.0' in text
    assert 'circuit_breaker_failures_total{breaker="metered"} 2.0' in text
    assert 'circuit_breaker_transitions_total{breaker="metered",to="open"} 1.0' in text
    assert 'circuit_breaker_call_duration_seconds_count{breaker="metered"} 3.0' in text
    assert 'circuit_breaker_call_duration_seconds_bucket{breaker="metered",le="+Inf"} 3.0' in text
    assert b'circuit_breaker_state{breaker="metered"}' in client.get("/metrics").content


def test_circuit_breakers_health_view(process_registry, support_user, token_client):
    from rest_framework.test import APIRequestFactory, force_authenticate

    from reliability.breakers.health import BreakersHealthView
    from reliability.breakers.models import CircuitBreaker

    CircuitBreaker.objects.create(name="pay", state="open")
    CircuitBreaker.objects.create(name="slack")
    request = APIRequestFactory().get("/health/circuit-breakers")
    force_authenticate(request, user=support_user)
    body = BreakersHealthView.as_view()(request).data
    assert body["status"] == "degraded"
    assert body["refusing_calls"] == ["pay"]
    assert body["store"]["mode"] == "shared"
    assert [b["name"] for b in body["breakers"]] == ["pay", "slack"]
    anonymous = APIRequestFactory().get("/health/circuit-breakers")
    assert BreakersHealthView.as_view()(anonymous).status_code in (401, 403)


def test_multiprocess_exporter_copies_deltas_into_prometheus_metrics(registry):
    from prometheus_client import CollectorRegistry

    from reliability.breakers.metrics import MultiprocessExporter

    target = CollectorRegistry()
    exporter = MultiprocessExporter(registry, prometheus_registry=target)
    b = registry.get("exported", config=BreakerConfig(minimum_calls=3, window_size=10))
    b.call(lambda: "ok")
    exporter.push()
    for _ in range(2):
        with pytest.raises(ValueError):
            b.call(lambda: (_ for _ in ()).throw(ValueError("x")))
    exporter.push()
    exporter.push()  # nothing new: nothing added twice

    def value(name, **labels):
        return target.get_sample_value(name, {"breaker": "exported", **labels})

    assert value("circuit_breaker_requests_total", result="success") == 1
    assert value("circuit_breaker_requests_total", result="failure") == 2
    assert value("circuit_breaker_failures_total") == 2
    assert value("circuit_breaker_transitions_total", to="open") == 1
    assert value("circuit_breaker_state") == 1
    assert value("circuit_breaker_call_duration_seconds_count") == 3
    assert value("circuit_breaker_call_duration_seconds_bucket", le="0.005") == 3


def test_circuit_breakers_health_is_routed_for_staff_and_read_tokens(process_registry, operator, token_client, client):
    from reliability.breakers.models import CircuitBreaker

    CircuitBreaker.objects.create(name="pay", state="forced_open")
    body = token_client("read").get("/health/circuit-breakers").json()
    assert body["refusing_calls"] == ["pay"] and body["status"] == "degraded"
    client.force_login(operator)
    assert client.get("/health/circuit-breakers").json()["breakers"][0]["name"] == "pay"
    anonymous = client.__class__().get("/health/circuit-breakers")
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == "application/problem+json"


def test_circuit_breakers_health_says_the_breakers_run_locally_while_redis_is_gone(unreachable_store, token_client):
    """Issue 11 item 5: Redis down, the breakers keep protecting calls in-process and health says so."""
    from reliability.breakers import breaker

    b = breaker("pay", config=BreakerConfig(minimum_calls=2, window_size=10))
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            b.call(lambda: 1 / 0)
    with pytest.raises(CircuitOpenError):  # tripped locally: Redis could not be asked
        b.call(lambda: "ok")
    unreachable_store.drain()
    body = token_client("read").get("/health/circuit-breakers").json()
    assert body["status"] == "degraded"
    assert body["store"]["mode"] == "degraded"
    assert "breakers run per process" in body["store"]["detail"]
    assert body["refusing_calls"] == ["pay"]

"""Delivery attempts a chaos fault produced are flagged ``chaos`` (issue #14), and the internal SLI skips them.

Real deliveries through the outbound seam to a receiver on 127.0.0.1, with the fault set the way a
drill sets it (``reliability.faults``, keyed by the destination's breaker name); both write paths
of the recorder (the PostgreSQL statement and the portable ORM path).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reliability import faults
from reliability.slos.models import SLO
from reliability.slos.services.internal import internal_sli_counts
from reliability.webhooks.engine import delivery_attempt
from reliability.webhooks.engine import record as record_module
from reliability.webhooks.models import Delivery, DeliveryAttempt
from tests.webhooks.receiver import DEST_SECRET, Receiver
from tests.webhooks.test_delivery import ingest_event


@pytest.fixture(autouse=True)
def _no_faults(no_faults):
    """Every test here starts and ends without an injected fault (tests/conftest.py)."""


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


@pytest.fixture(params=["postgresql", "portable"])
def writer(request, monkeypatch):
    """Run each test through both recorders: the set-based statement and the ORM path (SQLite's)."""
    if request.param == "portable":
        monkeypatch.setattr(record_module, "_write_postgresql", record_module._write_portable)
    return request.param


def _attempt_once(source) -> DeliveryAttempt:
    event = ingest_event(source)
    delivery = delivery_attempt(delivery_id=Delivery.objects.get(event=event).pk)
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    return attempt


def _in_a_minute():
    return timezone.now() + timedelta(minutes=1)


@pytest.mark.parametrize("error", [503, "timeout", "connect"])
def test_an_attempt_an_injected_fault_answered_is_flagged_chaos(writer, error, make_destination, make_source, receiver):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2)
    source = make_source("shop", destinations=[destination])
    faults.fault_set(destination.breaker_name, error=error, expires_at=_in_a_minute(), tag="chaos-run:1")

    attempt = _attempt_once(source)

    assert attempt.chaos is True
    assert attempt.result != DeliveryAttempt.Result.SUCCESS and "injected fault" in attempt.error
    assert receiver.count() == 0, "the fault answered: the receiver was never called"


def test_real_failures_and_successes_are_not_flagged(writer, make_destination, make_source, receiver):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2)
    source = make_source("shop", destinations=[destination])
    receiver.respond(503, body=b"really down")
    failed = _attempt_once(source)
    receiver.respond(200)
    delivered = _attempt_once(source)

    assert (failed.result, failed.status_code, failed.chaos) == (DeliveryAttempt.Result.HTTP_ERROR, 503, False)
    assert "injected" not in failed.error
    assert (delivered.result, delivered.chaos) == (DeliveryAttempt.Result.SUCCESS, False)


def test_a_latency_only_fault_leaves_a_real_failure_unflagged(writer, make_destination, make_source):
    """The fault fired (1 ms of latency), but the connection error came from the far side."""
    destination = make_destination("nowhere", url="http://127.0.0.1:9/hook", signing_secret=DEST_SECRET)
    source = make_source("shop", destinations=[destination])
    faults.fault_set(destination.breaker_name, latency_ms=1, expires_at=_in_a_minute())

    attempt = _attempt_once(source)

    assert attempt.result == DeliveryAttempt.Result.NETWORK_ERROR and attempt.chaos is False


def test_the_internal_delivery_sli_leaves_drill_attempts_out(make_destination, make_source, receiver):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2)
    source = make_source("shop", destinations=[destination])
    receiver.respond(200)
    assert _attempt_once(source).chaos is False  # one real success
    faults.fault_set(destination.breaker_name, error=500, expires_at=_in_a_minute(), tag="chaos-run:1")
    assert _attempt_once(source).chaos is True  # one drill failure
    faults.fault_clear()
    receiver.respond(500)
    assert _attempt_once(source).chaos is False  # one real failure

    slo = SLO(slug="orders-delivery", sli_source=SLO.Source.INTERNAL, internal_sli="webhook-delivery:orders")
    now = timezone.now()
    counts = internal_sli_counts(slo, now - timedelta(minutes=5), now + timedelta(minutes=1))

    good = sum(g for g, _ in counts.values())
    total = sum(t for _, t in counts.values())
    assert (good, total) == (1, 2), "the drill's injected failure must not burn the SLO's budget"
    assert DeliveryAttempt.objects.filter(delivery__destination=destination).count() == 3

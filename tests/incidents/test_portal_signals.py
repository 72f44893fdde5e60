"""The portal's own incidents: breaker and DLQ alarms, through the outbox relay, a task, and the same intake."""

from __future__ import annotations

import json
import time

import pytest
import redis
from django.db import transaction

from opsportal.events.models import OutboxEvent
from opsportal.events.services import emit
from reliability.breakers.runtime import TransitionEvent
from reliability.breakers.services import breaker_transition_record
from reliability.incidents.models import Alert, Incident
from reliability.incidents.portal_signals import SIGNALS, portal_signal_apply
from reliability.incidents.tasks import portal_signal

pytestmark = pytest.mark.django_db


def _transition(name: str, to_state: str, from_state: str):
    breaker_transition_record(event=TransitionEvent(name=name, from_state=from_state, to_state=to_state,
                                                    cause="failure_rate", failure_rate=0.9, at=time.time()))


def _work_off(since_id: int = 0) -> None:
    """What the worker does with the queued signals (no worker runs in tests)."""
    for pk in OutboxEvent.objects.filter(type__in=list(SIGNALS), pk__gt=since_id).order_by("pk").values_list(
            "pk", flat=True):
        portal_signal(pk)


def test_the_relay_hands_signals_to_a_worker_and_nothing_else(settings, django_capture_on_commit_callbacks):
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with django_capture_on_commit_callbacks(execute=True):
        _transition("stripe-api", "open", "closed")
        with transaction.atomic():
            emit("incident.commented", ("x", "1"), {})  # not a signal
    messages = [json.loads(m) for m in queue.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["incidents.portal_signal"]
    assert Incident.objects.count() == 0  # opened by the worker, not inside the relay


def test_breaker_opened_opens_an_incident_and_closed_resolves_it(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _transition("stripe-api", "open", "closed")
    _work_off()
    incident = Incident.objects.get()
    assert incident.source == "portal" and incident.group_key == "portal:breaker:stripe-api"
    assert incident.severity == "P1" and "stripe-api" in incident.title
    assert Alert.objects.get().fingerprint == "breaker:stripe-api"
    last = OutboxEvent.objects.order_by("-pk").first().pk
    with django_capture_on_commit_callbacks(execute=True):
        _transition("stripe-api", "half_open", "open")
        _transition("stripe-api", "closed", "half_open")
    _work_off(last)
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_signals_handled_late_or_twice_apply_the_current_state(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _transition("a", "open", "closed")
        _transition("b", "open", "closed")
        _transition("a", "half_open", "open")
        _transition("a", "closed", "half_open")
    opened_a = OutboxEvent.objects.filter(type="breaker.opened", data__name="a").get()
    portal_signal_apply(event_id=opened_a.pk)  # late: breaker a is closed again by now
    assert not Incident.objects.filter(group_key="portal:breaker:a").exists()
    _work_off()
    _work_off()  # at-least-once: a second delivery changes nothing
    assert list(Incident.objects.exclude(status="resolved").values_list("group_key", flat=True)) == [
        "portal:breaker:b"]


@pytest.mark.parametrize("cleared", ["dlq.threshold_cleared", "dlq.recovered"])
def test_dlq_threshold_raises_and_clears_an_incident(cleared):
    with transaction.atomic():
        emit("dlq.threshold_exceeded", ("webhooks.webhookfailure", "depth"), {"depth": 120, "threshold": 100})
    _work_off()
    incident = Incident.objects.get()
    assert incident.group_key == "portal:dlq" and "120" in incident.title and incident.severity == "P2"
    with transaction.atomic():
        emit(cleared, ("webhooks.webhookfailure", "depth"), {"depth": 3, "threshold": 100})
    _work_off()
    incident.refresh_from_db()
    assert incident.status == "resolved"

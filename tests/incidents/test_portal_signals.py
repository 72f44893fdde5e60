"""The portal's own incidents: breaker and DLQ alarms, through the outbox relay and the same intake."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from opsportal.events.services import emit
from reliability.breakers.runtime import TransitionEvent
from reliability.breakers.services import breaker_transition_record
from reliability.incidents.models import Alert, Incident

pytestmark = pytest.mark.django_db


def _transition(name: str, to_state: str, from_state: str):
    breaker_transition_record(event=TransitionEvent(name=name, from_state=from_state, to_state=to_state,
                                                    cause="failure_rate", failure_rate=0.9, at=time.time()))


def test_breaker_opened_opens_an_incident_and_closed_resolves_it(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _transition("stripe-api", "open", "closed")
    incident = Incident.objects.get()
    assert incident.source == "portal" and incident.group_key == "portal:breaker:stripe-api"
    assert incident.severity == "P1" and "stripe-api" in incident.title
    assert Alert.objects.get().fingerprint == "breaker:stripe-api"
    with django_capture_on_commit_callbacks(execute=True):
        _transition("stripe-api", "half_open", "open")
        _transition("stripe-api", "closed", "half_open")
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_one_incident_per_breaker_and_redelivery_is_harmless(django_capture_on_commit_callbacks):
    from opsportal.events.models import OutboxEvent
    from reliability.incidents.portal_signals import portal_signal_relay

    with django_capture_on_commit_callbacks(execute=True):
        _transition("a", "open", "closed")
        _transition("b", "open", "closed")
    for event in OutboxEvent.objects.filter(type="breaker.opened"):
        with transaction.atomic():
            portal_signal_relay(event)  # at-least-once relay: a second delivery
    assert sorted(Incident.objects.values_list("group_key", flat=True)) == ["portal:breaker:a", "portal:breaker:b"]


@pytest.mark.parametrize("cleared", ["dlq.threshold_cleared", "dlq.recovered"])
def test_dlq_threshold_raises_and_clears_an_incident(django_capture_on_commit_callbacks, cleared):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit("dlq.threshold_exceeded", ("webhooks.webhookfailure", "depth"), {"depth": 120, "threshold": 100})
    incident = Incident.objects.get()
    assert incident.group_key == "portal:dlq" and "120" in incident.title and incident.severity == "P2"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit(cleared, ("webhooks.webhookfailure", "depth"), {"depth": 3, "threshold": 100})
    incident.refresh_from_db()
    assert incident.status == "resolved"

"""seed_demo's incidents step is idempotent and covers every state; metrics reflect the rows."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from reliability.incidents.models import EscalationPolicy, Incident, NotificationChannel, OnCallRotation
from tests.incidents.conftest import real_payload

pytestmark = pytest.mark.django_db


def test_seed_demo_incidents_in_every_state_and_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = Incident.objects.count()
    assert set(Incident.objects.values_list("status", flat=True)) == {"triggered", "acknowledged", "resolved"}
    assert EscalationPolicy.objects.filter(name="demo-default", steps__isnull=False).exists()
    assert NotificationChannel.objects.get(name="demo-slack").fallback.name == "demo-email"
    assert OnCallRotation.objects.get(name="demo-primary").members.exists()
    call_command("seed_demo", stdout=StringIO())
    assert Incident.objects.count() == counts


def _value(name, labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_alerts_and_incidents(post_am, operator, user_client, django_capture_on_commit_callbacks):
    received = _value("alerts_received_total", {"source": "alertmanager", "result": "accepted"})
    malformed = _value("alerts_received_total", {"source": "alertmanager", "result": "malformed"})
    opened = _value("incidents_total", {"severity": "P1", "source": "alertmanager"})
    acks = _value("incident_ack_seconds_count", {"severity": "P1"})
    with django_capture_on_commit_callbacks(execute=True):  # counted once committed
        post_am(real_payload())
    post_am({"version": "4"})
    assert _value("alerts_received_total", {"source": "alertmanager", "result": "accepted"}) == received + 2
    assert _value("alerts_received_total", {"source": "alertmanager", "result": "malformed"}) == malformed + 1
    assert _value("incidents_total", {"severity": "P1", "source": "alertmanager"}) == opened + 1
    assert _value("incidents_open", {"severity": "P1"}) == 1
    incident = Incident.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        user_client(operator).post(f"/api/v1/incidents/{incident.pk}/acknowledge/", {}, format="json")
    assert _value("incident_ack_seconds_count", {"severity": "P1"}) == acks + 1

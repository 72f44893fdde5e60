"""Silence bookkeeping without Alertmanager reachable: pending, retried, failed, expired on resolve."""

from __future__ import annotations

import pytest

from audit.actors import Actor
from reliability.incidents.models import IncidentEvent, Silence
from reliability.incidents.services import (
    incident_acknowledge,
    incident_open,
    incident_resolve,
    silences_push,
)
from tests.incidents.alertmanager import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident():
    return incident_open(title="Disk", severity="P1", group_key="g", actor=Actor.for_system("t"), source="test",
                         group_labels={"alertname": "DiskFull", "service": "db"})


def test_ack_with_silence_stores_a_pending_silence_with_the_groups_exact_matchers(incident, operator,
                                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api", silence_minutes=30)
    silence = Silence.objects.get()
    assert silence.state == "pending" and silence.created_by == "olivia"
    assert silence.matchers == [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
                                {"name": "service", "value": "db", "isRegex": False, "isEqual": True}]
    assert round((silence.ends_at - silence.starts_at).total_seconds()) == 1800
    assert len(callbacks) >= 2  # the outbox relay and the silence task


def test_alertmanager_down_keeps_it_pending_and_retries(incident, operator, settings):
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    settings.INCIDENT_SILENCE_RETRY_SECONDS = 0
    incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api", silence_minutes=30)
    assert silences_push()["retry"] == 1
    silence = Silence.objects.get()
    assert silence.state == "pending" and silence.attempts == 1 and silence.last_error
    assert silences_push()["retry"] == 1
    assert Silence.objects.get().attempts == 2


def test_a_lease_keeps_a_second_sweeper_off_a_claimed_silence(incident, operator, settings):
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{free_port()}"
    settings.INCIDENT_SILENCE_RETRY_SECONDS = 300
    incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api", silence_minutes=30)
    silences_push()
    assert silences_push() == {"ok": 0, "gone": 0, "retry": 0, "fail": 0}  # not due again yet


def test_without_alertmanager_url_the_silence_fails_visibly(incident, operator, settings):
    settings.ALERTMANAGER_URL = ""
    incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api", silence_minutes=5)
    silences_push()
    assert Silence.objects.get().state == "failed"
    assert IncidentEvent.objects.filter(kind="silence_failed", data__error="ALERTMANAGER_URL is not set").exists()


def test_resolve_drops_a_silence_never_created(incident, operator):
    incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api", silence_minutes=5)
    incident_resolve(incident_id=incident.pk, actor=Actor(user=operator), source="api")
    assert Silence.objects.get().state == "expired"

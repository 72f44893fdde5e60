"""Acceptance against a real Alertmanager whose webhook receiver is a live portal with a bearer token file.

The test plays the beat (``incidents.sweep_silences``) itself: it is the same
function the beat runs, so the silence path is the production one.
"""

from __future__ import annotations

import shutil

import pytest
from django.test import Client

from reliability.incidents.models import Alert, Incident, Silence
from reliability.incidents.tasks import sweep_silences
from tests.incidents.alertmanager import BINARY, running, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which(BINARY) is None, reason="prometheus-alertmanager is not installed"),
]


@pytest.fixture(scope="module")
def am(live_server, tmp_path_factory):
    with running(tmp_path_factory.mktemp("am"), f"{live_server.url}/api/v1/alerts/alertmanager/") as am:
        yield am


@pytest.fixture
def wired(am, issue_token, settings):
    am.token_file.write_text(issue_token("alerts:write"))
    settings.ALERTMANAGER_URL = am.url
    return am


def _group(alertname: str) -> Incident | None:
    return Incident.objects.filter(group_labels__alertname=alertname).exclude(status="resolved").first()


def _am_silence(am, silence_id: str) -> dict | None:
    return next((s for s in am.silences() if s["id"] == silence_id), None)


def _operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def test_alertmanager_groups_open_incidents_ack_silences_and_resolve(wired, operator):
    am = wired
    disk = [am.fire({"alertname": "DiskFull", "service": "db", "instance": f"db-{i}", "severity": "critical"})
            for i in (1, 2)]
    latency = am.fire({"alertname": "HighLatency", "service": "api", "instance": "api-1", "severity": "warning"})

    wait_for(lambda: _group("DiskFull") and _group("HighLatency")
             and Alert.objects.filter(status="firing").count() == 3, timeout=90, what="two incidents, three alerts")
    disk_incident, latency_incident = _group("DiskFull"), _group("HighLatency")
    assert disk_incident.severity == "P1" and latency_incident.severity == "P2"
    assert disk_incident.alerts.count() == 2 and latency_incident.alerts.count() == 1
    assert disk_incident.group_labels == {"alertname": "DiskFull", "service": "db"}

    # Alertmanager repeats the notification (repeat_interval 4s): nothing new opens.
    seen = Alert.objects.get(labels__instance="api-1").last_received_at
    wait_for(lambda: Alert.objects.get(labels__instance="api-1").last_received_at > seen, timeout=90,
             what="a repeated notification")
    assert Incident.objects.count() == 2 and Alert.objects.count() == 3

    # Resolving at the source resolves the incident.
    am.resolve(latency)
    wait_for(lambda: Incident.objects.get(pk=latency_incident.pk).status == "resolved", timeout=90,
             what="incident resolved by Alertmanager")
    assert Alert.objects.get(labels__instance="api-1").status == "resolved"

    # Acknowledge with a silence: Alertmanager lists it active, with the group's matchers and createdBy.
    resp = _operator_client(operator).post(f"/api/v1/incidents/{disk_incident.pk}/acknowledge/",
                                           {"silence_minutes": 30}, content_type="application/json")
    assert resp.status_code == 200, resp.content
    sweep_silences()
    silence = Silence.objects.get(incident=disk_incident)
    assert silence.state == "active" and silence.alertmanager_id
    listed = _am_silence(am, silence.alertmanager_id)
    assert listed["status"]["state"] == "active"
    assert listed["createdBy"] == "olivia"
    assert sorted((m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in listed["matchers"]) == [
        ("alertname", "DiskFull", False, True), ("service", "db", False, True)]
    assert f"#{disk_incident.number}" in listed["comment"]

    # Resolving the incident expires the silence.
    resp = _operator_client(operator).post(f"/api/v1/incidents/{disk_incident.pk}/resolve/", {"note": "disk grown"},
                                           content_type="application/json")
    assert resp.status_code == 200
    sweep_silences()
    assert Silence.objects.get(pk=silence.pk).state == "expired"
    assert _am_silence(am, silence.alertmanager_id)["status"]["state"] == "expired"
    for alert in disk:
        am.resolve(alert)


def test_acknowledge_succeeds_while_alertmanager_is_down_and_the_silence_follows(wired, operator, settings):
    am = wired
    settings.INCIDENT_SILENCE_RETRY_SECONDS = 0  # each sweep retries at once
    am.fire({"alertname": "QueueBacklog", "service": "worker", "instance": "w-1", "severity": "error"})
    incident = wait_for(lambda: _group("QueueBacklog"), timeout=90, what="incident opened")

    am.stop()
    try:
        resp = _operator_client(operator).post(f"/api/v1/incidents/{incident.pk}/acknowledge/",
                                               {"silence_minutes": 15}, content_type="application/json")
        assert resp.status_code == 200 and resp.json()["status"] == "acknowledged"
        sweep_silences()
        silence = Silence.objects.get(incident=incident)
        assert silence.state == "pending" and silence.attempts == 1 and silence.last_error
    finally:
        am.start()

    def created():
        sweep_silences()
        return Silence.objects.get(pk=silence.pk).state == "active"

    # the outbound breaker may have opened while Alertmanager was away: wait out its open duration
    wait_for(created, timeout=180, interval=1.0, what="the pending silence created")
    silence.refresh_from_db()
    listed = _am_silence(am, silence.alertmanager_id)
    assert listed["status"]["state"] == "active" and listed["createdBy"] == "olivia"
    assert {m["name"]: m["value"] for m in listed["matchers"]} == {"alertname": "QueueBacklog", "service": "worker"}

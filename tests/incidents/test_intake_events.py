"""PagerDuty Events API v2: trigger/acknowledge/resolve by dedup_key."""

from __future__ import annotations

import pytest

from reliability.incidents.models import Alert, Incident

pytestmark = pytest.mark.django_db
URL = "/api/v1/alerts/events/"


def _trigger(dedup="db-disk-full", **payload):
    body = {"routing_key": "x" * 32, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": "Disk 95% on db-1", "severity": "critical", "source": "db-1",
                        "component": "postgres", "group": "storage", "class": "disk",
                        "custom_details": {"free_gb": 2}, **payload},
            "links": [{"href": "https://grafana.example/d/db", "text": "dashboard"}]}
    if dedup is None:
        del body["dedup_key"]
    return body


@pytest.fixture
def post(alerts_client):
    return lambda body: alerts_client.post(URL, body, format="json")


def test_trigger_opens_an_incident_and_answers_202_with_the_dedup_key(post):
    resp = post(_trigger())
    assert resp.status_code == 202
    assert resp.json() == {"status": "success", "message": "Event processed", "dedup_key": "db-disk-full"}
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.dedup_key, incident.source) == (
        "Disk 95% on db-1", "P1", "db-disk-full", "events")
    alert = Alert.objects.get()
    assert alert.labels["component"] == "postgres" and alert.labels["class"] == "disk"
    assert alert.annotations["custom_details"] == {"free_gb": 2}
    assert alert.annotations["links"][0]["href"] == "https://grafana.example/d/db"


def test_repeated_trigger_is_deduplicated(post):
    for _ in range(3):
        assert post(_trigger()).status_code == 202
    assert Incident.objects.count() == 1 and Alert.objects.count() == 1


def test_trigger_without_dedup_key_gets_one(post):
    resp = post(_trigger(dedup=None))
    key = resp.json()["dedup_key"]
    assert resp.status_code == 202 and len(key) == 32
    assert Incident.objects.get().dedup_key == key


def test_acknowledge_then_resolve_by_dedup_key(post):
    post(_trigger())
    assert post({"event_action": "acknowledge", "dedup_key": "db-disk-full"}).status_code == 202
    incident = Incident.objects.get()
    assert incident.status == "acknowledged" and incident.acknowledged_by.startswith("token:")
    assert post({"event_action": "resolve", "dedup_key": "db-disk-full"}).status_code == 202
    incident.refresh_from_db()
    assert incident.status == "resolved"
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.labels["component"] == "postgres"  # the resolve keeps them


def test_trigger_after_resolve_opens_a_new_incident(post):
    post(_trigger())
    post({"event_action": "resolve", "dedup_key": "db-disk-full"})
    post(_trigger())
    old, new = Incident.objects.order_by("pk")
    assert old.status == "resolved" and new.status == "triggered" and new.previous_id == old.pk
    assert new.dedup_key == old.dedup_key == "db-disk-full"


def test_acknowledge_or_resolve_of_an_unknown_key_is_accepted_and_changes_nothing(post):
    assert post({"event_action": "acknowledge", "dedup_key": "nope"}).status_code == 202
    assert post({"event_action": "resolve", "dedup_key": "nope"}).status_code == 202
    assert Incident.objects.count() == 0 and Alert.objects.count() == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"event_action": "page"}, "event_action"),
    ({"dedup_key": "x"}, "event_action"),
    ({"event_action": "resolve"}, "dedup_key"),
    ({"event_action": "acknowledge", "dedup_key": ""}, "dedup_key"),
    (_trigger(dedup="k" * 256), "dedup_key"),
    ({"event_action": "trigger", "dedup_key": 5, "payload": {}}, "dedup_key"),
    ({"event_action": "trigger"}, "payload"),
    (_trigger(summary=""), "payload.summary"),
    (_trigger(summary="s" * 1025), "payload.summary"),
    (_trigger(severity="high"), "payload.severity"),
    (_trigger(source=None), "payload.source"),
    (_trigger(component=7), "payload.component"),
    (_trigger(timestamp="noon"), "payload.timestamp"),
    ({**_trigger(), "links": [{"text": "no href"}]}, "links"),
])
def test_malformed_bodies_are_400_problem_json_naming_the_field(post, body, field):
    resp = post(body)
    assert resp.status_code == 400 and resp["Content-Type"].startswith("application/problem+json")
    assert field in resp.json()["errors"], resp.json()
    assert Incident.objects.count() == 0


def test_events_need_alerts_write(token_client):
    assert token_client("read").post(URL, _trigger(), format="json").status_code == 403

"""Lifecycle services and their API: one audit entry, one outbox event, one timeline row per transition."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents import selectors
from reliability.incidents.models import EscalationPolicy, Incident, IncidentEvent
from reliability.incidents.services import (
    IncidentClosed,
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_merge,
    incident_open,
    incident_reopen,
    incident_resolve,
    incident_unacknowledge,
)

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")


def _open(key: str = "g", **kw) -> Incident:
    return incident_open(title="Checkout slow", severity="P1", group_key=key, actor=SYS, source="test", **kw)


def _counts(incident):
    return (AuditEntry.objects.filter(target_type="incidents.incident", target_id=str(incident.pk)).count(),
            OutboxEvent.objects.filter(aggregate_type="incidents.incident", aggregate_id=str(incident.pk)).count(),
            IncidentEvent.objects.filter(incident=incident).count())


@pytest.mark.parametrize(("name", "call", "action", "event", "kind"), [
    ("ack", lambda i, a: incident_acknowledge(incident_id=i.pk, actor=a, source="api"),
     "incident.acknowledge", "incident.acknowledged", "acknowledged"),
    ("resolve", lambda i, a: incident_resolve(incident_id=i.pk, actor=a, source="api", note="done"),
     "incident.resolve", "incident.resolved", "resolved"),
    ("assign", lambda i, a: incident_assign(incident_id=i.pk, actor=a, source="api", assignee_id=a.user.pk),
     "incident.assign", "incident.assigned", "assigned"),
    ("comment", lambda i, a: incident_comment(incident_id=i.pk, actor=a, source="api", body="looking"),
     "incident.comment", "incident.commented", "comment"),
])
def test_each_transition_writes_one_audit_one_event_one_timeline_row(operator, django_capture_on_commit_callbacks,
                                                                     name, call, action, event, kind):
    incident = _open()
    before = _counts(incident)
    with django_capture_on_commit_callbacks(execute=False):
        call(incident, Actor(user=operator))
    after = _counts(incident)
    assert tuple(b - a for a, b in zip(before, after, strict=True)) == (1, 1, 1), name
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.action == action and entry.actor_label == "olivia" and entry.source == "api"
    assert OutboxEvent.objects.order_by("-id").first().type == event
    assert IncidentEvent.objects.filter(incident=incident).order_by("-id").first().kind == kind


def test_acknowledge_then_unacknowledge_restarts_escalation(operator):
    policy = EscalationPolicy.objects.create(name="default", ack_timeout_minutes=20)
    incident = _open(escalation_policy=policy)
    assert incident.next_escalation_at is not None
    esc = incident.escalation_id
    with time_machine.travel(incident.started_at + timedelta(minutes=3), tick=False):
        incident = incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        assert incident.status == "acknowledged" and incident.acknowledged_by == "olivia"
        assert incident.ack_expires_at == timezone.now() + timedelta(minutes=20)
        assert incident.next_escalation_at is None and incident.escalation_id != esc
    incident = incident_unacknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
    assert incident.status == "triggered" and incident.acknowledged_at is None
    assert incident.escalation_step == 0 and incident.next_escalation_at is not None


def test_acting_on_a_resolved_incident_is_refused_but_comments_are_kept(operator):
    incident = _open()
    incident_resolve(incident_id=incident.pk, actor=SYS, source="api")
    actor = Actor(user=operator)
    for call in (lambda: incident_acknowledge(incident_id=incident.pk, actor=actor, source="api"),
                 lambda: incident_resolve(incident_id=incident.pk, actor=actor, source="api"),
                 lambda: incident_assign(incident_id=incident.pk, actor=actor, source="api", assignee_id=None),
                 lambda: incident_unacknowledge(incident_id=incident.pk, actor=actor, source="api")):
        with pytest.raises(IncidentClosed, match="is resolved"):
            call()
    incident_comment(incident_id=incident.pk, actor=actor, source="api", body="post-mortem on Friday")


def test_reopen_by_a_person(operator):
    incident = _open()
    incident_resolve(incident_id=incident.pk, actor=SYS, source="api")
    incident = incident_reopen(incident_id=incident.pk, actor=Actor(user=operator), source="api", reason="not fixed")
    assert incident.status == "triggered" and incident.reopened_count == 1 and incident.resolved_at is None


def test_merge_moves_alerts_and_resolves_the_merged_one(operator):
    from reliability.incidents.models import Alert

    a, b = _open("a"), _open("b")
    now = timezone.now()
    Alert.objects.create(fingerprint="f1", incident=a, group_key="a", first_received_at=now, last_received_at=now)
    into = incident_merge(incident_id=a.pk, into_id=b.pk, actor=Actor(user=operator), source="api")
    a.refresh_from_db()
    assert a.status == "resolved" and a.merged_into_id == b.pk
    assert Alert.objects.get().incident_id == into.pk == b.pk
    assert AuditEntry.objects.filter(action="incident.merge", target_id=str(a.pk)).count() == 1


def test_mtta_and_mttr_from_timestamps(operator):
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        incident = _open()
    with time_machine.travel(t0 + timedelta(minutes=2), tick=False):
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        incident_resolve(incident_id=incident.pk, actor=Actor(user=operator), source="api")
    [row] = selectors.response_times()
    assert row["mtta_seconds"] == 120 and row["mttr_seconds"] == 600 and row["incidents"] == 1


# --- API ------------------------------------------------------------------------------------

def test_api_list_fields_and_filters(operator, user_client):
    _open("a")
    b = _open("b")
    incident_resolve(incident_id=b.pk, actor=SYS, source="api")
    client = user_client(operator)
    body = client.get("/api/v1/incidents/").json()
    assert set(body["results"][0]) == {"id", "number", "title", "status", "severity", "service", "group_key",
                                       "dedup_key", "started_at", "acknowledged_at", "resolved_at"}
    assert [r["group_key"] for r in client.get("/api/v1/incidents/?status=resolved").json()["results"]] == ["b"]
    assert client.get("/api/v1/incidents/?severity=P3").json()["results"] == []
    assert len(client.get("/api/v1/incidents/?search=checkout").json()["results"]) == 2


def test_api_acknowledge_resolve_assign_comment(operator, user_client):
    incident = _open()
    client = user_client(operator)
    url = f"/api/v1/incidents/{incident.pk}/"
    resp = client.post(url + "acknowledge/", {}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "acknowledged"
    assert client.post(url + "assign/", {"assignee": "olivia"}, format="json").json()["assignee"] == "olivia"
    assert client.post(url + "comment/", {"body": "on it"}, format="json").status_code == 200
    resp = client.post(url + "resolve/", {"note": "rolled back"}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "resolved"
    resp = client.post(url + "acknowledge/", {}, format="json")
    assert resp.status_code == 409 and resp["Content-Type"].startswith("application/problem+json")
    assert "resolved" in resp.json()["detail"]
    assert client.post(url + "acknowledge/", {"silence_minutes": -1}, format="json").status_code == 400
    assert client.post("/api/v1/incidents/999999/resolve/", {}, format="json").status_code == 404


def test_api_create_and_permissions(operator, support_user, user_client, token_client):
    resp = user_client(operator).post("/api/v1/incidents/", {"title": "Manual", "severity": "P0"}, format="json")
    assert resp.status_code == 201 and resp.json()["severity"] == "P0"
    assert user_client(support_user).post("/api/v1/incidents/", {"title": "x"}, format="json").status_code == 403
    assert user_client(support_user).get("/api/v1/incidents/").status_code == 200
    assert token_client("read").get("/api/v1/incidents/").status_code == 200
    pk = resp.json()["id"]
    assert token_client("read").post(f"/api/v1/incidents/{pk}/resolve/", {}, format="json").status_code == 403
    assert token_client("incidents:write").post(f"/api/v1/incidents/{pk}/resolve/", {}, format="json").status_code == 200

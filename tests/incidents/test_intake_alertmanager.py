"""Alertmanager receiver: upsert by fingerprint, one open incident per group, resolve, reopen, reject."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from opsportal.catalog.models import Service
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import Alert, Incident, IncidentEvent
from tests.incidents.conftest import group_payload, real_payload, with_status

pytestmark = pytest.mark.django_db
URL = "/api/v1/alerts/alertmanager/"


def test_real_payload_opens_one_incident_with_both_alerts(post_am):
    Service.objects.create(name="payments-webhook")
    resp = post_am(real_payload())
    assert resp.status_code == 200, resp.content
    incident = Incident.objects.get()
    assert incident.status == "triggered" and incident.severity == "P1"  # critical → P1
    assert incident.service.name == "payments-webhook"
    assert incident.group_key == '{}:{alertname="CircuitBreakerOpen", service="payments-webhook"}'
    assert incident.group_labels == {"alertname": "CircuitBreakerOpen", "service": "payments-webhook"}
    assert incident.title == "CircuitBreakerOpen service=payments-webhook"
    assert incident.number == incident.pk
    assert incident.runbook_url.endswith("/circuit-breaker-open")
    alerts = {a.fingerprint: a for a in Alert.objects.all()}
    assert set(alerts) == {"38bc0e5ad007986d", "8ffd38b957daa73f"}
    assert all(a.incident_id == incident.pk and a.status == "firing" for a in alerts.values())
    assert alerts["38bc0e5ad007986d"].labels["breaker"] == "adyen-api"
    assert alerts["38bc0e5ad007986d"].starts_at.isoformat() == "2026-11-22T04:05:07+00:00"
    assert alerts["38bc0e5ad007986d"].ends_at is None
    assert AuditEntry.objects.filter(action="incident.open").count() == 1
    assert OutboxEvent.objects.filter(type="incident.opened").count() == 1


def test_repeated_notification_changes_nothing(post_am):
    post_am(real_payload())
    audits, events = AuditEntry.objects.count(), OutboxEvent.objects.count()
    timeline = IncidentEvent.objects.count()
    for _ in range(3):
        assert post_am(real_payload()).status_code == 200
    assert Incident.objects.count() == 1 and Alert.objects.count() == 2
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count(), IncidentEvent.objects.count()) == (
        audits, events, timeline)


def test_resolved_alerts_resolve_their_alert_then_the_incident(post_am):
    post_am(real_payload())
    post_am(with_status(real_payload(), "resolved", "38bc0e5ad007986d"))
    incident = Incident.objects.get()
    assert incident.status == "triggered"
    assert Alert.objects.get(fingerprint="38bc0e5ad007986d").status == "resolved"
    assert Alert.objects.get(fingerprint="38bc0e5ad007986d").ends_at is not None
    post_am(with_status(real_payload(), "resolved"))
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    assert incident.resolved_by.startswith("token:integration/")
    assert IncidentEvent.objects.filter(incident=incident, kind="resolved", data__auto="all alerts resolved").exists()
    assert AuditEntry.objects.filter(action="incident.resolve").count() == 1


def test_firing_again_inside_reopen_window_reopens(post_am):
    post_am(real_payload())
    post_am(with_status(real_payload(), "resolved"))
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        post_am(real_payload())
    incident = Incident.objects.get()
    assert incident.status == "triggered" and incident.reopened_count == 1 and incident.resolved_at is None
    assert AuditEntry.objects.filter(action="incident.reopen").count() == 1
    assert OutboxEvent.objects.filter(type="incident.reopened").count() == 1


def test_firing_again_after_the_window_opens_a_new_linked_incident(post_am, settings):
    settings.INCIDENT_REOPEN_WINDOW_SECONDS = 300
    post_am(real_payload())
    post_am(with_status(real_payload(), "resolved"))
    old = Incident.objects.get()
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        post_am(real_payload())
    new = Incident.objects.exclude(pk=old.pk).get()
    old.refresh_from_db()
    assert old.status == "resolved" and old.reopened_count == 0
    assert new.status == "triggered" and new.previous_id == old.pk
    assert set(Alert.objects.values_list("incident_id", flat=True)) == {new.pk}


def test_a_resolved_incident_never_absorbs_new_alerts(post_am, operator, user_client):
    post_am(real_payload())
    old = Incident.objects.get()
    user_client(operator).post(f"/api/v1/incidents/{old.pk}/resolve/", {"note": "fixed"}, format="json")
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        post_am(group_payload("Other", 1) | {"groupKey": old.group_key, "groupLabels": old.group_labels})
    old.refresh_from_db()
    assert old.status == "resolved" and old.alerts.count() == 2
    assert Incident.objects.filter(group_key=old.group_key, status="triggered").get().previous_id == old.pk


def test_resolved_only_notification_for_unknown_alerts_stores_nothing(post_am):
    assert post_am(with_status(real_payload(), "resolved")).status_code == 200
    assert Incident.objects.count() == 0 and Alert.objects.count() == 0


def test_severity_is_the_highest_of_the_firing_alerts(post_am):
    p = group_payload("Mixed", 2, severity="warning")
    p["alerts"][1]["labels"]["severity"] = "page"
    post_am(p)
    assert Incident.objects.get().severity == "P0"


def test_unknown_or_missing_severity_maps_to_p2(post_am):
    p = group_payload("NoSev", 1)
    del p["alerts"][0]["labels"]["severity"]
    post_am(p)
    assert Incident.objects.get().severity == "P2"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.pop("groupKey"), "groupKey"),
    (lambda p: p.update(alerts=[]), "alerts"),
    (lambda p: p.update(status="maybe"), "status"),
    (lambda p: p["alerts"][0].update(status="on"), "alerts[0].status"),
    (lambda p: p["alerts"][1].update(labels={"a": 1}), "alerts[1].labels.a"),
    (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    (lambda p: p["alerts"][0].update(fingerprint="x" * 300), "alerts[0].fingerprint"),
    (lambda p: p["alerts"].append("nope"), "alerts[2]"),
])
def test_bad_payloads_are_400_naming_the_field_and_store_nothing(post_am, mutate, field):
    p = real_payload()
    mutate(p)
    resp = post_am(p)
    assert resp.status_code == 400
    assert resp["Content-Type"].startswith("application/problem+json")
    assert field in resp.json()["errors"], resp.json()
    assert Incident.objects.count() == 0 and Alert.objects.count() == 0


def test_non_json_and_non_object_bodies_are_400(alerts_client):
    resp = alerts_client.post(URL, b"{not json", content_type="application/json")
    assert resp.status_code == 400 and resp["Content-Type"].startswith("application/problem+json")
    resp = alerts_client.post(URL, [1, 2], format="json")
    assert resp.status_code == 400 and "body" in resp.json()["errors"]


def test_nul_bytes_in_labels_are_stored_safely(post_am):
    p = real_payload()
    p["alerts"][0]["labels"]["breaker"] = "adyen\x00api"
    p["alerts"][0]["annotations"]["summary"] = "x\x00y"
    assert post_am(p).status_code == 200
    assert Alert.objects.get(fingerprint="38bc0e5ad007986d").labels["breaker"] == "adyen\ufffdapi"


def test_token_needs_alerts_write(token_client, api_client):
    assert api_client.post(URL, real_payload(), format="json").status_code in (401, 403)
    resp = token_client("read").post(URL, real_payload(), format="json")
    assert resp.status_code == 403 and "alerts:write" in resp.json()["detail"]
    assert Incident.objects.count() == 0


def test_a_transient_database_fault_is_503_so_alertmanager_retries(post_am, monkeypatch):
    from django.db import OperationalError

    from reliability.incidents.services import intake

    def down(group_key):
        raise OperationalError("connection refused")

    monkeypatch.setattr(intake, "lock_group", down)
    resp = post_am(real_payload())
    assert resp.status_code == 503 and resp["Content-Type"].startswith("application/problem+json")
    assert resp["Retry-After"] == "5"

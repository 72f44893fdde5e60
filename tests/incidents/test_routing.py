"""Routing rules (first match wins), thresholds over firing alerts only, maintenance windows, matchers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from opsportal.catalog.models import Service
from reliability.incidents.matching import MatcherError, matches, validate_matchers, window_active
from reliability.incidents.models import (
    Alert,
    EscalationPolicy,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    RoutingRule,
    SeverityMapping,
)
from tests.incidents.conftest import group_payload, with_status


def test_matchers_follow_prometheus_semantics():
    labels = {"team": "payments", "env": "prod"}
    assert matches([{"label": "team", "op": "=", "value": "payments"}], labels)
    assert not matches([{"label": "team", "op": "!=", "value": "payments"}], labels)
    assert matches([{"label": "team", "op": "=~", "value": "pay.*"}], labels)
    assert not matches([{"label": "team", "op": "=~", "value": "pay"}], labels)  # anchored
    assert matches([{"label": "env", "op": "!~", "value": "stag.*"}], labels)
    assert matches([{"label": "missing", "op": "=", "value": ""}], labels)
    assert matches([], labels)
    with pytest.raises(MatcherError):
        validate_matchers([{"label": "a", "op": "=~", "value": "("}])
    with pytest.raises(MatcherError):
        validate_matchers([{"label": "a", "op": "~"}])


def test_recurring_window_is_active_only_during_its_occurrence():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    kw = {"starts_at": start, "ends_at": end, "cron": "0 2 * * 0", "timezone": "UTC", "duration_minutes": 60}
    sunday = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)  # a Sunday
    assert window_active(now=sunday, **kw)
    assert not window_active(now=sunday + timedelta(hours=1), **kw)
    assert not window_active(now=sunday + timedelta(days=1), **kw)
    assert window_active(now=sunday, **{**kw, "cron": ""})


pytestmark = pytest.mark.django_db


def test_first_matching_rule_sets_service_severity_and_policy(post_am):
    svc = Service.objects.create(name="checkout")
    policy = EscalationPolicy.objects.create(name="checkout-oncall")
    RoutingRule.objects.create(name="later", order=20, matchers=[{"label": "alertname", "op": "=~", "value": ".*"}],
                               severity="P3")
    RoutingRule.objects.create(name="first", order=10, matchers=[{"label": "team", "op": "=", "value": "shop"}],
                               service=svc, severity="P0", escalation_policy=policy)
    post_am(group_payload("CartErrors", 1, extra={"team": "shop"}))
    incident = Incident.objects.get()
    assert (incident.service, incident.severity, incident.escalation_policy) == (svc, "P0", policy)
    assert incident.next_escalation_at is not None  # a policy, not suppressed, not P3: it pages


def test_severity_mapping_is_configurable(post_am):
    SeverityMapping.objects.update_or_create(value="warning", defaults={"severity": "P1"})
    post_am(group_payload("Warn", 1, severity="WARNING"))
    assert Incident.objects.get().severity == "P1"


def test_default_policy_by_severity(post_am):
    p0 = EscalationPolicy.objects.create(name="p0-everyone", severities=["P0"])
    post_am(group_payload("Outage", 1, severity="page"))
    assert Incident.objects.get().escalation_policy == p0


def test_threshold_holds_the_incident_until_enough_alerts_fire_inside_the_window(post_am):
    RoutingRule.objects.create(name="flappy", order=1, matchers=[{"label": "alertname", "op": "=", "value": "Flap"}],
                               threshold_count=3, threshold_window_seconds=600)
    now = timezone.now().isoformat()
    p = group_payload("Flap", 2)
    for a in p["alerts"]:
        a["startsAt"] = now
    assert post_am(p).json()["held_by_threshold"] is True
    assert Incident.objects.count() == 0 and Alert.objects.filter(incident__isnull=True).count() == 2
    p3 = group_payload("Flap", 3)
    for a in p3["alerts"]:
        a["startsAt"] = now
    post_am(p3)
    incident = Incident.objects.get()
    assert incident.alerts.count() == 3


def test_threshold_never_counts_resolved_or_old_alerts(post_am):
    RoutingRule.objects.create(name="t", order=1, matchers=[], threshold_count=3, threshold_window_seconds=600)
    now = timezone.now()
    p = group_payload("Noisy", 4)
    for a in p["alerts"]:
        a["startsAt"] = now.isoformat()
    p["alerts"][3]["startsAt"] = (now - timedelta(hours=2)).isoformat()  # firing, but began outside the window
    p = with_status(p, "resolved", "Noisy-0")  # resolved alerts never count
    post_am(p)
    assert Incident.objects.count() == 0  # 2 in-window firing alerts < 3


def test_maintenance_window_records_without_paging_and_honours_resolves(post_am):
    EscalationPolicy.objects.create(name="all", severities=["P0", "P1", "P2"])
    now = timezone.now()
    MaintenanceWindow.objects.create(name="db upgrade", matchers=[{"label": "alertname", "op": "=", "value": "DbDown"}],
                                     starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1))
    p = group_payload("DbDown", 1, severity="critical")
    post_am(p)
    incident = Incident.objects.get()
    assert incident.suppressed and incident.next_escalation_at is None
    assert Alert.objects.get().suppressed
    assert IncidentEvent.objects.filter(incident=incident, kind="maintenance").exists()
    post_am(with_status(p, "resolved"))
    incident.refresh_from_db()
    assert incident.status == "resolved"

"""Maintenance windows: recorded, never paged; resolves honoured; start and end on the timeline; preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.escalation.windows import current_occurrence
from reliability.incidents.models import (
    EscalationPolicy,
    EscalationStep,
    Incident,
    IncidentEvent,
    Notification,
    NotificationChannel,
)
from reliability.incidents.services.escalation import escalation_sweep
from reliability.incidents.services.maintenance import (
    maintenance_preview,
    maintenance_sweep,
    maintenance_window_create,
    maintenance_window_update,
)
from tests.incidents.conftest import group_payload, with_status
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def slack(settings):
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"
    with Receiver.running() as r:
        chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": r.url})
        policy = EscalationPolicy.objects.create(name="default", severities=["P2"], loops=0)
        EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(chat)
        yield r


def _window(**kw):
    values = {"name": "db upgrade", "matchers": [{"label": "alertname", "op": "=", "value": "DiskFull"}],
              "starts_at": T0, "ends_at": T0 + timedelta(hours=1), **kw}
    return maintenance_window_create(actor=SYS, source="test", **values)


def test_alerts_under_a_window_are_recorded_but_do_not_page_and_resolves_are_honoured(slack, post_am):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        _window()
        payload = group_payload("DiskFull", 2)
        assert post_am(payload).status_code == 200
        incident = Incident.objects.get()
        assert incident.suppressed and incident.next_escalation_at is None
        escalation_sweep()
        assert slack.count() == 0 and Notification.objects.count() == 0
        assert incident.alerts.count() == 2
        assert post_am(with_status(payload, "resolved")).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_window_starting_over_an_open_incident_holds_its_pages_until_it_ends(slack, post_am):
    with time_machine.travel(T0 - timedelta(minutes=1), tick=False) as clock:
        EscalationStep.objects.create(policy=EscalationPolicy.objects.get(), order=2, wait_minutes=5).channels.add(
            NotificationChannel.objects.get(name="chat"))
        post_am(group_payload("DiskFull", 1))
        incident = Incident.objects.get()
        escalation_sweep()
        assert slack.count() == 1  # step 1 before the window
        window = _window()
        clock.move_to(T0 + timedelta(minutes=10))
        assert maintenance_sweep() == {"started": 1, "ended": 0}
        assert maintenance_sweep() == {"started": 0, "ended": 0}  # announced once
        escalation_sweep()
        assert slack.count() == 1  # step 2 held
        clock.move_to(T0 + timedelta(minutes=61))
        assert maintenance_sweep() == {"started": 0, "ended": 1}
        escalation_sweep()
        assert slack.count() == 2  # the window is over: paging resumes
    phases = list(IncidentEvent.objects.filter(incident=incident, kind="maintenance").values_list("data", flat=True))
    assert [p.get("phase") or p.get("effect") for p in phases] == ["started", "paging held", "ended"]
    assert AuditEntry.objects.filter(action="maintenance.start", target_id=str(window.pk)).count() == 1
    assert AuditEntry.objects.filter(action="maintenance.end", target_id=str(window.pk)).count() == 1
    assert OutboxEvent.objects.filter(type="incident.maintenance_started").count() == 1
    assert OutboxEvent.objects.filter(type="incident.maintenance_ended").count() == 1


def test_create_and_update_write_one_audit_entry_and_one_event_each_and_validate():
    window = _window()
    assert AuditEntry.objects.filter(action="maintenance.create").count() == 1
    maintenance_window_update(window_id=window.pk, actor=SYS, source="test", name="db upgrade v2")
    assert AuditEntry.objects.filter(action="maintenance.update").count() == 1
    assert OutboxEvent.objects.filter(type="incident.maintenance_changed").count() == 2
    with pytest.raises(ValidationError):
        _window(matchers=[])
    with pytest.raises(ValidationError):
        _window(cron="61 * * * *", duration_minutes=10)
    with pytest.raises(ValidationError):
        _window(ends_at=T0 - timedelta(hours=1))


def test_preview_lists_the_open_alerts_a_window_would_match(post_am):
    post_am(group_payload("DiskFull", 3, extra={"team": "db"}))
    post_am(group_payload("HighLatency", 2, extra={"team": "web"}))
    found = maintenance_preview([{"label": "team", "op": "=", "value": "db"}])
    assert sorted(a.fingerprint for a in found) == ["DiskFull-0", "DiskFull-1", "DiskFull-2"]
    assert len(maintenance_preview([{"label": "team", "op": "=~", "value": ".+"}])) == 5


def test_cron_occurrence_bounds():
    kw = {"starts_at": T0, "ends_at": T0 + timedelta(days=30), "cron": "0 2 * * *", "timezone": "UTC",
          "duration_minutes": 120}
    at = datetime(2026, 12, 3, 3, 15, tzinfo=UTC)
    start, end = current_occurrence(now=at, **kw)
    assert start == datetime(2026, 12, 3, 2, 0, tzinfo=UTC) and end == datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    assert current_occurrence(now=datetime(2026, 12, 3, 4, 0, tzinfo=UTC), **kw) is None

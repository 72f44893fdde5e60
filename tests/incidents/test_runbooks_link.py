"""Runbooks beside the incident (issue #10 items 3, 4): matching, the annotation, the checklist, notifications."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Group

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import EscalationPolicy, EscalationStep, IncidentEvent, NotificationChannel
from reliability.incidents.names import Source
from reliability.incidents.services import AlertIn, GroupIn, IncidentActionRefused, alerts_ingest
from reliability.incidents.services.checklist import incident_checklist_tick
from reliability.incidents.services.escalation import escalation_sweep
from reliability.incidents.services.notifications import linked_runbook_url, page_for
from runbooks.services import runbook_create
from tests.runbooks.conftest import body
from tests.webhooks.receiver import DEST_SECRET, Receiver

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")
LABELS = {"alertname": "QueueBacklog", "service": "notifications", "severity": "critical", "instance": "q-1"}


@pytest.fixture(autouse=True)
def _base(settings):
    settings.OPSPORTAL_BASE_URL = "https://ops.example.test/"
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"


def _runbook(slug, matchers, *, status="published", resolution="1. Restart the worker.\n2. Check the queue drains."):
    return runbook_create(title=slug.replace("-", " ").title(), slug=slug, body=body(resolution=resolution),
                          actor=SYS, source="test", status=status, matchers=matchers)


def _incident(labels=LABELS, annotations=None, key="g-queue"):
    alert = AlertIn(fingerprint=f"fp-{key}", status="firing", labels=labels, annotations=annotations or {})
    result = alerts_ingest(group=GroupIn(source="alertmanager", group_key=key, alerts=[alert], common_labels=labels,
                                         common_annotations=annotations or {}, title="queue backlog"),
                           actor=SYS, source=Source.ALERTMANAGER)
    return result.incident_id


def _shown(html: str) -> list[str]:
    block = html.split('data-testid="runbooks"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-runbook="([^"]+)"', block)


def test_the_page_shows_matching_published_runbooks_most_specific_first(client, operator):
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    _runbook("queue-notifications", [{"label": "alertname", "op": "=", "value": "QueueBacklog"},
                                     {"label": "service", "op": "=~", "value": "notif.*"}])
    _runbook("not-notifications", [{"label": "service", "op": "!=", "value": "notifications"}])
    _runbook("queue-draft", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}], status="draft")
    pk = _incident()
    client.force_login(operator)
    html = client.get(f"/ops/incidents/{pk}/").content.decode()
    assert _shown(html) == ["queue-notifications", "queue-generic"]
    assert 'data-testid="checklist"' in html and "Restart the worker." in html
    assert 'data-testid="tick-1"' in html and 'data-testid="tick-2"' in html


def test_a_runbook_url_annotation_pointing_at_the_portal_is_attached_first(client, operator):
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    _runbook("circuit-breaker-open", [], resolution="1. Check the provider's status page.")
    pk = _incident(annotations={"runbook_url": "https://proxy.example.test/ops/runbooks/circuit-breaker-open/"})
    client.force_login(operator)
    html = client.get(f"/ops/incidents/{pk}/").content.decode()
    assert _shown(html) == ["circuit-breaker-open", "queue-generic"]
    assert "provider&#x27;s status page" in html or "provider's status page" in html


def test_an_incident_without_a_match_says_so_and_has_no_checklist(client, operator):
    _runbook("other", [{"label": "alertname", "op": "=", "value": "Nope"}])
    pk = _incident()
    client.force_login(operator)
    html = client.get(f"/ops/incidents/{pk}/").content.decode()
    assert "No published runbook matches" in html and 'data-testid="checklist"' not in html


def test_a_tick_is_one_audit_entry_one_event_and_a_timeline_row(client, operator):
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    pk = _incident()
    before_events = OutboxEvent.objects.filter(type="incident.checklist_ticked").count()
    client.force_login(operator)
    reply = client.post(f"/ops/incidents/{pk}/act/", {"action": "tick", "step": "2", "done": "1",
                                                       "runbook": "queue-generic"})
    assert reply.status_code == 302 and reply["Location"].endswith(f"/ops/incidents/{pk}/#checklist")
    assert AuditEntry.objects.filter(action="incident.checklist_tick", target_id=str(pk)).count() == 1
    assert OutboxEvent.objects.filter(type="incident.checklist_ticked").count() == before_events + 1
    [row] = IncidentEvent.objects.filter(incident_id=pk, kind="checklist")
    assert row.data["step"] == 1 and row.data["done"] is True and row.data["runbook"] == "queue-generic"
    assert row.actor_label and row.source == "ops"
    html = client.get(f"/ops/incidents/{pk}/fragment/").content.decode()
    assert re.search(r'data-step="2" data-done="1"', html) and re.search(r'data-step="1" data-done="0"', html)
    # ticking it again is refused (no second entry); unticking is another audited change
    client.post(f"/ops/incidents/{pk}/act/", {"action": "tick", "step": "2", "done": "1"})
    assert AuditEntry.objects.filter(action="incident.checklist_tick").count() == 1
    client.post(f"/ops/incidents/{pk}/act/", {"action": "tick", "step": "2", "done": "0"})
    assert AuditEntry.objects.filter(action="incident.checklist_tick").count() == 2
    assert 'data-step="2" data-done="0"' in client.get(f"/ops/incidents/{pk}/fragment/").content.decode()


def test_a_tick_on_a_step_that_does_not_exist_or_another_runbook_is_refused():
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    pk = _incident()
    with pytest.raises(IncidentActionRefused, match="between 1 and 2"):
        incident_checklist_tick(incident_id=pk, actor=SYS, source="test", step=2)
    with pytest.raises(IncidentActionRefused, match="now 'queue-generic'"):
        incident_checklist_tick(incident_id=pk, actor=SYS, source="test", step=0, runbook="other")
    assert not AuditEntry.objects.filter(action="incident.checklist_tick").exists()


def test_support_reads_the_checklist_but_gets_403_on_tick(client, django_user_model):
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    pk = _incident()
    support = django_user_model.objects.create_user("suki", is_staff=False)
    support.groups.add(Group.objects.get(name="support"))
    client.force_login(support)
    html = client.get(f"/ops/incidents/{pk}/").content.decode()
    assert 'data-testid="checklist"' in html and 'data-testid="tick-1"' not in html
    assert client.post(f"/ops/incidents/{pk}/act/", {"action": "tick", "step": "1"}).status_code == 403
    assert not IncidentEvent.objects.filter(incident_id=pk, kind="checklist").exists()


def test_the_notification_carries_the_attached_runbook_link():
    _runbook("queue-generic", [{"label": "alertname", "op": "=", "value": "QueueBacklog"}])
    with Receiver.running() as receiver:
        hook = NotificationChannel.objects.create(name="hook", kind="webhook",
                                                  config={"url": receiver.url, "secret": DEST_SECRET})
        policy = EscalationPolicy.objects.create(name="p1-test", severities=["P1"])
        EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(hook)
        pk = _incident(annotations={"runbook_url": "https://elsewhere.example.test/wiki/queue"})
        escalation_sweep()
        [seen] = receiver.seen
    expected = "https://ops.example.test/ops/runbooks/queue-generic/"
    assert json.loads(seen.body)["links"]["runbook"] == expected  # the portal's runbook beats a foreign annotation
    from reliability.incidents.models import Incident

    incident = Incident.objects.get(pk=pk)
    assert linked_runbook_url(incident) == expected and page_for(incident).runbook_url == expected

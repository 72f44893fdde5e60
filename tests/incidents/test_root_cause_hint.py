"""``incident_root_cause_hint``: a known cause on the timeline, once per key, audited and emitted; shown on the page."""

from __future__ import annotations

import pytest

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import IncidentEvent
from reliability.incidents.services import (
    IncidentActionRefused,
    incident_open,
    incident_resolve,
    incident_root_cause_hint,
)

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("chaos:engine")
HINT = "root-cause hint: chaos drill 'orders down' (#3) run #12 injected dependency-failure/503 on webhook-destination-1"


def _open(key: str = "portal:breaker:webhook-destination-1"):
    return incident_open(title="Breaker open: webhook-destination-1", severity="P2", group_key=key, actor=SYS,
                         source="test")


def test_a_hint_writes_one_timeline_row_one_audit_entry_one_event(django_capture_on_commit_callbacks):
    incident = _open()
    with django_capture_on_commit_callbacks(execute=False):
        entry, created = incident_root_cause_hint(incident_id=incident.pk, hint=HINT, key="chaos-run:12", actor=SYS,
                                                  source="chaos", cause={"run": 12, "fault": "503"})
    assert created and entry.kind == IncidentEvent.Kind.ROOT_CAUSE_HINT
    assert entry.data == {"run": 12, "fault": "503", "hint": HINT, "key": "chaos-run:12"}
    (audit,) = AuditEntry.objects.filter(action="incident.root_cause_hint", target_id=str(incident.pk))
    assert audit.actor_label == SYS.label and audit.source == "chaos"
    assert audit.changes["root_cause_hint"] == [None, HINT]
    (event,) = OutboxEvent.objects.filter(type="incident.root_cause_hinted", aggregate_id=str(incident.pk))
    assert event.data["root_cause_hint"] == HINT and event.data["key"] == "chaos-run:12"


def test_the_same_key_hints_once_another_key_again_and_resolved_incidents_too():
    incident = _open()
    incident_resolve(incident_id=incident.pk, actor=SYS, source="test")
    first, created = incident_root_cause_hint(incident_id=incident.pk, hint=HINT, key="chaos-run:12", actor=SYS,
                                              source="chaos")
    again, created_again = incident_root_cause_hint(incident_id=incident.pk, hint=HINT + " (again)",
                                                    key="chaos-run:12", actor=SYS, source="chaos")
    other, created_other = incident_root_cause_hint(incident_id=incident.pk, hint="another drill", key="chaos-run:13",
                                                    actor=SYS, source="chaos")
    assert created and not created_again and created_other and again.pk == first.pk
    assert IncidentEvent.objects.filter(incident=incident, kind="root_cause_hint").count() == 2
    assert AuditEntry.objects.filter(action="incident.root_cause_hint").count() == 2


@pytest.mark.parametrize(("hint", "key"), [("", "chaos-run:1"), ("a hint", " "), ("   ", "k")])
def test_a_hint_needs_a_text_and_a_key(hint, key):
    incident = _open()
    with pytest.raises(IncidentActionRefused):
        incident_root_cause_hint(incident_id=incident.pk, hint=hint, key=key, actor=SYS, source="chaos")
    assert not IncidentEvent.objects.filter(kind="root_cause_hint").exists()


def test_the_incident_page_shows_the_hint(client, operator):
    incident = _open()
    incident_root_cause_hint(incident_id=incident.pk, hint=HINT + " <b>x</b>", key="chaos-run:12", actor=SYS,
                             source="chaos")
    client.force_login(operator)
    html = client.get(f"/ops/incidents/{incident.pk}/").content.decode()
    assert 'data-testid="root-cause-hint"' in html and 'data-kind="root_cause_hint"' in html
    assert "run #12 injected dependency-failure/503 on webhook-destination-1 &lt;b&gt;x&lt;/b&gt;" in html

"""PagerDuty Events API v2 semantics on top of the intake and the lifecycle."""

from __future__ import annotations

from audit.actors import Actor
from reliability.incidents.models import Incident
from reliability.incidents.names import Source
from reliability.incidents.payloads import EventIn
from reliability.incidents.services.intake import IntakeResult, alerts_ingest
from reliability.incidents.services.lifecycle import incident_acknowledge


def event_process(*, event: EventIn, actor: Actor) -> IntakeResult:
    """trigger/resolve go through the intake (a trigger after resolve opens a new incident);
    acknowledge acknowledges the open incident of the dedup key, if any (PagerDuty ignores the rest)."""
    if event.group is not None:
        return alerts_ingest(group=event.group, actor=actor, source=Source.EVENTS)
    incident = (Incident.objects.filter(group_key=f"events:{event.dedup_key}")
                .exclude(status=Incident.Status.RESOLVED).only("pk", "status").first())
    if incident is None or incident.status == Incident.Status.ACKNOWLEDGED:
        return IntakeResult(incident_id=incident.pk if incident else None)
    incident_acknowledge(incident_id=incident.pk, actor=actor, source=Source.EVENTS)
    return IntakeResult(incident_id=incident.pk)

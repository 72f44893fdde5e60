"""``incident_checklist_tick``: tick (or untick) a step of the attached runbook's Resolution checklist."""

from __future__ import annotations

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.models import IncidentEvent
from reliability.incidents.names import Action, Event
from reliability.incidents.runbooks_link import incident_checklist
from reliability.incidents.services._common import (
    IncidentActionRefused,
    incident_payload,
    lock_incident,
    timeline,
)


@transaction.atomic
def incident_checklist_tick(*, incident_id: int, actor: Actor, source: str, step: int, done: bool = True,
                            runbook: str | None = None) -> IncidentEvent:
    """One timeline row, one audit entry, one outbox event (live viewers refresh their panel on it).

    ``runbook`` (a slug), when given, must still be the attached runbook: a tick
    made on a page that showed another runbook's checklist is refused. Ticking
    a step already in the asked state is refused too (two people ticking at
    once: the second learns it was done). Allowed on resolved incidents.
    """
    incident = lock_incident(incident_id)
    checklist = incident_checklist(incident)
    if checklist is None or not checklist.steps:
        raise IncidentActionRefused("this incident has no runbook checklist")
    slug = checklist.runbook.slug
    if runbook and runbook != slug:
        raise IncidentActionRefused(f"the attached runbook is now {slug!r}; reload the page")
    if not isinstance(step, int) or not 0 <= step < len(checklist.steps):
        raise IncidentActionRefused(f"step must be between 1 and {len(checklist.steps)}")
    current = checklist.steps[step]
    if current.done == done:
        raise IncidentActionRefused(f"step {step + 1} is already {'ticked' if done else 'unticked'}"
                                    + (f" by {current.by}" if current.by else ""))
    data = {"runbook": slug, "version": checklist.version, "step": step, "done": done, "text": current.text[:500]}
    entry = timeline(incident, IncidentEvent.Kind.CHECKLIST, actor=actor, source=source, data=data)
    audit_record(actor=actor, action=Action.CHECKLIST_TICK, target=incident, source=source,
                 changes={f"checklist {slug} step {step + 1}": [current.done, done]})
    emit(Event.CHECKLIST_TICKED, incident, incident_payload(incident, checklist={"runbook": slug, "step": step,
                                                                               "done": done}))
    return entry

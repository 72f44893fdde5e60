"""``incident_root_cause_hint``: attach a known cause to an incident (a chaos drill's injected fault).

The incidents app knows nothing of chaos: the drill engine calls this service with the hint's
text and a ``key`` naming who knows the cause (``chaos-run:12``). One key hints an incident once.
"""

from __future__ import annotations

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.models import IncidentEvent
from reliability.incidents.names import Action, Event
from reliability.incidents.selectors import root_cause_hints_keyed
from reliability.incidents.services._common import (
    IncidentActionRefused,
    incident_payload,
    lock_incident,
    text,
    timeline,
)

Kind = IncidentEvent.Kind


@transaction.atomic
def incident_root_cause_hint(*, incident_id: int, hint: str, key: str, actor: Actor, source: str,
                             cause: dict | None = None) -> tuple[IncidentEvent, bool]:
    """One timeline row, one audit entry, one outbox event; ``(entry, created)``.

    ``key`` names the cause's origin (``chaos-run:<id>``): hinting again with the same key returns
    the existing entry and writes nothing, so the drill engine may call this on every pass.
    Allowed on resolved incidents (a drill's incident may resolve before the engine looks).
    ``cause`` is structured detail kept with the hint (drill, run, scenario, fault, target).
    """
    hint, key = text(hint, 1000).strip(), text(key, 200).strip()
    if not hint or not key:
        raise IncidentActionRefused("a root-cause hint needs a text and a key")
    incident = lock_incident(incident_id)
    existing = root_cause_hints_keyed(key).filter(incident_id=incident.pk).first()
    if existing is not None:
        return existing, False
    data = {**(cause or {}), "hint": hint, "key": key}
    entry = timeline(incident, Kind.ROOT_CAUSE_HINT, actor=actor, source=source, data=data)
    audit_record(actor=actor, action=Action.ROOT_CAUSE_HINT, target=incident, source=source,
                 changes={"root_cause_hint": [None, hint], "key": key})
    emit(Event.ROOT_CAUSE_HINTED, incident, incident_payload(incident, root_cause_hint=hint, key=key))
    return entry, True

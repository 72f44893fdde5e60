"""The only writers of incidents, alerts and silences (DESIGN §4)."""

from reliability.incidents.services._common import IncidentActionRefused, IncidentClosed
from reliability.incidents.services.checklist import incident_checklist_tick
from reliability.incidents.services.contacts import user_contact_set
from reliability.incidents.services.events import event_process
from reliability.incidents.services.hints import incident_root_cause_hint
from reliability.incidents.services.intake import AlertIn, GroupIn, IntakeResult, alerts_ingest
from reliability.incidents.services.lifecycle import (
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_merge,
    incident_open,
    incident_reopen,
    incident_resolve,
    incident_unacknowledge,
)
from reliability.incidents.services.silences import silences_push

__all__ = [
    "AlertIn",
    "GroupIn",
    "IncidentActionRefused",
    "IncidentClosed",
    "IntakeResult",
    "alerts_ingest",
    "event_process",
    "incident_acknowledge",
    "incident_assign",
    "incident_checklist_tick",
    "incident_comment",
    "incident_merge",
    "incident_open",
    "incident_reopen",
    "incident_root_cause_hint",
    "incident_resolve",
    "incident_unacknowledge",
    "silences_push",
    "user_contact_set",
]

"""Shared pieces of the incident services: the timeline writer, errors, payload of events."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from audit.actors import Actor
from reliability.incidents.models import Incident, IncidentEvent

SYSTEM_ACTOR = "incidents"


class IncidentActionRefused(Exception):
    """The action does not apply to the incident's state (API: 409 problem+json)."""


class IncidentClosed(IncidentActionRefused):
    """The incident is resolved: nothing but a reopen or a comment applies."""


def text(value: object, limit: int) -> str:
    """PostgreSQL text cannot hold NUL; keep everything else (truncated)."""
    return str(value or "").replace("\x00", "\ufffd")[:limit]


def timeline(incident: Incident, kind: str, *, actor: Actor | str, source: str, data: dict | None = None,
             at: datetime | None = None) -> IncidentEvent:
    label = actor if isinstance(actor, str) else actor.label
    return IncidentEvent.objects.create(incident=incident, kind=kind, actor_label=text(label, 200),
                                        source=text(source, 30), data=data or {}, at=at or timezone.now())


def incident_payload(incident: Incident, **extra) -> dict:
    """What the outbox event carries (the live dashboard renders from it; no secrets)."""
    return {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "service": incident.service.name if incident.service_id else None,
        "group_key": incident.group_key,
        "dedup_key": incident.dedup_key,
        "assignee": incident.assignee.get_username() if incident.assignee_id else None,
        "started_at": incident.started_at.isoformat() if incident.started_at else None,
        "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        **extra,
    }


def lock_incident(incident_id: int) -> Incident:
    return Incident.objects.select_for_update(of=("self",)).select_related("service", "assignee").get(pk=incident_id)


def lock_group(group_key: str) -> None:
    """Serialise intake per group key (PostgreSQL); the open-incident constraint is the backstop.

    The two-int form lives in a key space apart from the audit chain's one-bigint lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(1769, hashtext(%s))", [group_key])

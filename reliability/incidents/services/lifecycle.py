"""Incident lifecycle: open, acknowledge, unacknowledge, resolve, reopen, assign, comment, merge.

Each public service locks the incident row, changes it, writes one timeline
row, one audit entry and one outbox event in one transaction. Precedence under
concurrency comes from the row lock: whoever locks second sees the first's
result, and a resolved incident refuses acknowledge (409), so "resolve wins".
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents import metrics
from reliability.incidents.models import EscalationPolicy, Incident, IncidentEvent, Severity
from reliability.incidents.names import Action, Event
from reliability.incidents.services._common import (
    IncidentActionRefused,
    IncidentClosed,
    incident_payload,
    lock_incident,
    text,
    timeline,
)

Kind = IncidentEvent.Kind
Status = Incident.Status


def _refuse_if_resolved(incident: Incident, verb: str) -> None:
    if incident.status == Status.RESOLVED:
        raise IncidentClosed(f"incident #{incident.number} is resolved; it cannot be {verb} (reopen it first)")


def _pages(incident: Incident) -> bool:
    return incident.escalation_policy_id is not None and not incident.suppressed and incident.severity != Severity.P3


def _restart_escalation(incident: Incident, now: datetime) -> None:
    incident.escalation_step = 0
    incident.escalation_loop = 0
    incident.escalation_id = uuid.uuid4()
    incident.next_escalation_at = now if _pages(incident) else None
    if incident.next_escalation_at is not None:  # fire step 1 now, not at the next beat (pk is set by commit)
        from reliability.incidents.services.escalation import escalation_kick

        transaction.on_commit(lambda: escalation_kick(incident.pk), robust=True)


def _observe_on_commit(histogram, incident: Incident, start: datetime | None, end: datetime | None) -> None:
    if start and end:
        seconds, severity = max(0.0, (end - start).total_seconds()), incident.severity
        transaction.on_commit(lambda: histogram.labels(severity=severity).observe(seconds))


def open_locked(*, title: str, severity: str, group_key: str, actor: Actor, source: str, alerts: int = 0,
                  origin: str = "portal", service=None, group_labels: dict | None = None, dedup_key: str = "",
                  escalation_policy: EscalationPolicy | None = None, suppressed: bool = False,
                  previous: Incident | None = None, started_at: datetime | None = None,
                  external_url: str = "", runbook_url: str = "", record: bool = True,
                  number: bool = True) -> Incident:
    """A new triggered incident, inside the caller's transaction (the intake holds the group's lock).

    ``record=False`` leaves the timeline row, audit entry and event to ``record_open``, which
    the intake calls last: the audit chain's lock is then held only for the end of the
    transaction, not while a batch of alerts is upserted. ``number=False``: the caller stores
    ``number = id`` itself (the intake does it in its alerts statement, one round trip less).
    """
    now = timezone.now()
    incident = Incident(
        title=text(title, 500) or "incident", severity=severity, source=origin, group_key=text(group_key, 512),
        group_labels=group_labels or {}, dedup_key=text(dedup_key, 255), service=service,
        escalation_policy=escalation_policy, suppressed=suppressed, previous=previous,
        started_at=started_at or now, last_alert_at=now, external_url=text(external_url, 2000),
        runbook_url=text(runbook_url, 2000),
    )
    _restart_escalation(incident, now)
    incident.save(force_insert=True)
    incident.number = incident.pk  # the human sequence: ids are gap-tolerant and never reused
    if number:
        Incident.objects.filter(pk=incident.pk).update(number=incident.pk)
    if record:
        record_open(incident, actor=actor, source=source, alerts=alerts, at=now)
    return incident


def record_open(incident: Incident, *, actor: Actor, source: str, alerts: int = 0, at: datetime | None = None) -> None:
    """The opening's timeline row, audit entry and outbox event (same transaction as the insert)."""
    severity, origin, previous, suppressed = incident.severity, incident.source, incident.previous, incident.suppressed
    now = at or timezone.now()
    data = {"severity": severity, "origin": origin}
    if alerts:
        data["alerts"] = alerts
    if previous is not None:
        data["previous"] = previous.pk
    if suppressed:
        data["suppressed"] = True
    timeline(incident, Kind.OPENED, actor=actor, source=source, data=data, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_OPEN, target=incident,
                 changes={"status": [None, Status.TRIGGERED], "severity": [None, severity]}, source=source)
    emit(Event.INCIDENT_OPENED, incident, incident_payload(incident, previous=previous.pk if previous else None))
    transaction.on_commit(lambda: metrics.INCIDENTS_TOTAL.labels(severity=severity, source=origin).inc())


incident_open = transaction.atomic(open_locked)
incident_open.__doc__ = "A new triggered incident (from intake, or reported by a person); its own transaction."


def reopen_locked(incident: Incident, *, actor: Actor, source: str, reason: str = "") -> Incident:
    """Reopen a resolved incident the caller has locked (intake inside the window, or a person)."""
    now = timezone.now()
    before = incident.status
    incident.status = Status.TRIGGERED
    incident.resolved_at = None
    incident.resolved_by = ""
    incident.acknowledged_at = None
    incident.acknowledged_by = ""
    incident.ack_expires_at = None
    incident.reopened_count += 1
    incident.last_alert_at = now
    _restart_escalation(incident, now)
    incident.save()
    timeline(incident, Kind.REOPENED, actor=actor, source=source,
             data={"reason": text(reason, 500), "reopened_count": incident.reopened_count}, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_REOPEN, target=incident,
                 changes={"status": [before, incident.status], "reopened_count": [incident.reopened_count - 1,
                                                                                  incident.reopened_count]},
                 reason=reason, source=source)
    emit(Event.INCIDENT_REOPENED, incident, incident_payload(incident, reopened_count=incident.reopened_count))
    sev, origin = incident.severity, incident.source
    transaction.on_commit(lambda: metrics.INCIDENTS_TOTAL.labels(severity=sev, source=origin).inc())
    return incident


@transaction.atomic
def incident_reopen(*, incident_id: int, actor: Actor, source: str, reason: str = "") -> Incident:
    """A person reopens a resolved incident (409 when it is open, or its group already has a new one)."""
    incident = lock_incident(incident_id)
    if incident.status != Status.RESOLVED:
        raise IncidentActionRefused(f"incident #{incident.number} is {incident.status}, not resolved")
    if Incident.objects.filter(group_key=incident.group_key).exclude(status=Status.RESOLVED).exists():
        raise IncidentActionRefused(f"group {incident.group_key!r} already has an open incident")
    return reopen_locked(incident, actor=actor, source=source, reason=reason)


@transaction.atomic
def incident_acknowledge(*, incident_id: int, actor: Actor, source: str, silence_minutes: int = 0) -> Incident:
    """Someone is on it: stop escalating until the policy's ack timeout; optionally silence the group."""
    from reliability.incidents.services.silences import silence_request

    incident = lock_incident(incident_id)
    _refuse_if_resolved(incident, "acknowledged")
    now = timezone.now()
    before = incident.status
    first = incident.acknowledged_at is None
    incident.status = Status.ACKNOWLEDGED
    if first:
        incident.acknowledged_at = now
    incident.acknowledged_by = text(actor.label, 200)
    policy = incident.escalation_policy
    incident.ack_expires_at = now + timedelta(minutes=policy.ack_timeout_minutes) if policy else None
    incident.next_escalation_at = None  # cancels a step not yet fired: the sweeper locks this row too
    incident.escalation_id = uuid.uuid4()
    incident.save()
    data = {"silence_minutes": silence_minutes} if silence_minutes else {}
    timeline(incident, Kind.ACKNOWLEDGED, actor=actor, source=source, data=data, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_ACKNOWLEDGE, target=incident,
                 changes={"status": [before, incident.status], **data}, source=source)
    emit(Event.INCIDENT_ACKNOWLEDGED, incident, incident_payload(incident, acknowledged_by=incident.acknowledged_by))
    if first:
        _observe_on_commit(metrics.INCIDENT_ACK_SECONDS, incident, incident.started_at, now)
    if silence_minutes and silence_minutes > 0:
        silence_request(incident=incident, minutes=silence_minutes, actor=actor, source=source)
    return incident


@transaction.atomic
def incident_unacknowledge(*, incident_id: int, actor: Actor, source: str) -> Incident:
    """Back to triggered (or the ack timed out): escalation restarts from the first step."""
    incident = lock_incident(incident_id)
    _refuse_if_resolved(incident, "unacknowledged")
    if incident.status != Status.ACKNOWLEDGED:
        raise IncidentActionRefused(f"incident #{incident.number} is not acknowledged")
    now = timezone.now()
    incident.status = Status.TRIGGERED
    incident.acknowledged_at = None
    incident.acknowledged_by = ""
    incident.ack_expires_at = None
    _restart_escalation(incident, now)
    incident.save()
    timeline(incident, Kind.UNACKNOWLEDGED, actor=actor, source=source, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_UNACKNOWLEDGE, target=incident,
                 changes={"status": [Status.ACKNOWLEDGED, Status.TRIGGERED]}, source=source)
    emit(Event.INCIDENT_UNACKNOWLEDGED, incident, incident_payload(incident))
    return incident


def resolve_locked(incident: Incident, *, actor: Actor, source: str, note: str = "", auto: bool = False,
                   merged_into: Incident | None = None) -> Incident:
    """Resolve an incident the caller has locked; expires its silences."""
    from reliability.incidents.services.silences import silences_expire_for

    now = timezone.now()
    before = incident.status
    incident.status = Status.RESOLVED
    incident.resolved_at = now
    incident.resolved_by = text(actor.label, 200)
    incident.resolve_note = text(note, 10_000)
    incident.next_escalation_at = None
    incident.ack_expires_at = None
    incident.escalation_id = uuid.uuid4()
    if merged_into is not None:
        incident.merged_into = merged_into
    incident.save()
    data = {"note": incident.resolve_note} if note else {}
    if auto:
        data["auto"] = "all alerts resolved"
    if merged_into is not None:
        data["merged_into"] = merged_into.pk
    timeline(incident, Kind.RESOLVED, actor=actor, source=source, data=data, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_RESOLVE, target=incident,
                 changes={"status": [before, incident.status]}, reason=incident.resolve_note, source=source)
    emit(Event.INCIDENT_RESOLVED, incident, incident_payload(incident, auto=auto))
    _observe_on_commit(metrics.INCIDENT_RESOLVE_SECONDS, incident, incident.started_at, now)
    silences_expire_for(incident=incident, actor=actor, source=source)
    return incident


@transaction.atomic
def incident_resolve(*, incident_id: int, actor: Actor, source: str, note: str = "") -> Incident:
    """A person resolves it (alerts still firing later reopen it inside the window, or open a new one)."""
    incident = lock_incident(incident_id)
    _refuse_if_resolved(incident, "resolved again")
    return resolve_locked(incident, actor=actor, source=source, note=note)


@transaction.atomic
def incident_assign(*, incident_id: int, actor: Actor, source: str, assignee_id: int | None) -> Incident:
    """Give it to someone (``None`` unassigns)."""
    incident = lock_incident(incident_id)
    _refuse_if_resolved(incident, "assigned")
    user = None
    if assignee_id is not None:
        user = get_user_model().objects.filter(pk=assignee_id, is_active=True).first()
        if user is None:
            raise IncidentActionRefused(f"no active user with id {assignee_id}")
    before = incident.assignee.get_username() if incident.assignee_id else None
    after = user.get_username() if user else None
    incident.assignee = user
    incident.save(update_fields=["assignee", "updated_at"])
    timeline(incident, Kind.ASSIGNED, actor=actor, source=source, data={"from": before, "to": after})
    audit_record(actor=actor, action=Action.INCIDENT_ASSIGN, target=incident, changes={"assignee": [before, after]},
                 source=source)
    emit(Event.INCIDENT_ASSIGNED, incident, incident_payload(incident))
    return incident


@transaction.atomic
def incident_comment(*, incident_id: int, actor: Actor, source: str, body: str) -> IncidentEvent:
    """A note on the timeline; allowed on resolved incidents too (post-incident notes)."""
    body = text(body, 10_000).strip()
    if not body:
        raise IncidentActionRefused("a comment needs a body")
    incident = lock_incident(incident_id)
    entry = timeline(incident, Kind.COMMENT, actor=actor, source=source, data={"body": body})
    audit_record(actor=actor, action=Action.INCIDENT_COMMENT, target=incident, changes={"comment": [None, body[:500]]},
                 source=source)
    emit(Event.INCIDENT_COMMENTED, incident, incident_payload(incident, comment_id=entry.pk))
    return entry


@transaction.atomic
def incident_merge(*, incident_id: int, into_id: int, actor: Actor, source: str) -> Incident:
    """Fold ``incident_id`` into ``into_id``: its alerts move over and it resolves as merged."""
    from reliability.incidents.models import Alert

    if incident_id == into_id:
        raise IncidentActionRefused("an incident cannot be merged into itself")
    locked = {i.pk: i for i in Incident.objects.select_for_update().filter(pk__in=[incident_id, into_id]).order_by("pk")}
    if len(locked) != 2:
        raise Incident.DoesNotExist("no such incident")
    incident, into = locked[incident_id], locked[into_id]
    _refuse_if_resolved(incident, "merged")
    _refuse_if_resolved(into, "merged into")
    moved = Alert.objects.filter(incident=incident).update(incident=into)
    timeline(into, Kind.MERGED, actor=actor, source=source, data={"from": incident.pk, "alerts": moved})
    # one audit entry and one event, for the merged incident (its resolve is part of the merge)
    now = timezone.now()
    before = incident.status
    incident.status = Status.RESOLVED
    incident.resolved_at = now
    incident.resolved_by = text(actor.label, 200)
    incident.merged_into = into
    incident.next_escalation_at = None
    incident.save()
    timeline(incident, Kind.MERGED, actor=actor, source=source, data={"into": into.pk, "alerts": moved}, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_MERGE, target=incident,
                 changes={"status": [before, Status.RESOLVED], "merged_into": [None, into.pk]},
                 source=source)
    emit(Event.INCIDENT_MERGED, incident, incident_payload(incident, merged_into=into.pk, alerts=moved))
    from reliability.incidents.services.silences import silences_expire_for

    silences_expire_for(incident=incident, actor=actor, source=source, audited=False)
    return into

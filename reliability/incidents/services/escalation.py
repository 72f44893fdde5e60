"""Escalation: durable deadlines on the incident row, swept by beat with SKIP LOCKED.

The lifecycle sets the position (``escalation_step``, ``escalation_loop``,
``next_escalation_at``, a fresh ``escalation_id``) when an incident opens,
reopens or returns to triggered; an acknowledgement or a resolve clears
``next_escalation_at``. This module fires what is due:

- ``escalation_sweep`` locks one due, triggered incident at a time
  (``FOR UPDATE SKIP LOCKED``: two sweepers never hold the same row), creates
  one ``Notification`` per target under the idempotency key
  ``<incident>:<escalation_id>:<step>:<loop>:<target>`` (unique: a retry or a
  second sweeper that got here anyway inserts nothing), moves the position on,
  writes a timeline row, an audit entry and an outbox event, and commits. An
  acknowledgement that commits first has cleared the deadline, so nothing
  fires; one that commits later waits for the row and the pages go out. The
  notifications are delivered after commit (``notifications_deliver``).
- ``ack_timeout_sweep`` returns incidents whose acknowledgement ran out while
  they still fire to triggered; escalation restarts from the first step.

``escalation_kick`` is the lifecycle's on-commit hook: it asks a worker to
sweep now, so the first step of a P0 goes out at once rather than at the
next beat (the beat sweep every few seconds remains the guarantee).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents import selectors
from reliability.incidents.escalation.oncall import Override, shift_at
from reliability.incidents.escalation.plan import after_firing
from reliability.incidents.models import (
    Alert,
    EscalationStep,
    Incident,
    IncidentEvent,
    Notification,
    Severity,
)
from reliability.incidents.names import Action, Event
from reliability.incidents.services._common import SYSTEM_ACTOR, incident_payload, timeline

log = logging.getLogger(__name__)
Kind = IncidentEvent.Kind
Status = Incident.Status
HOLD_SECONDS = 60  # a step due under a maintenance window is looked at again this much later


class _Kicker:
    """Coalesces the lifecycle's on-commit kicks into at most one sweep task per ``INTERVAL``.

    The committing request only sets an event; a daemon thread publishes the
    task, so an intake request never waits on the broker (nor for its
    connect timeout when Redis is away). A lost kick only waits for the beat.
    """

    INTERVAL = 0.5

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="escalation-kick", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        from celery import current_app

        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                current_app.send_task("incidents.sweep_escalations", retry=False)
            except Exception as exc:
                log.warning("could not enqueue the escalation sweep (%s); beat will run it", exc)
            time.sleep(self.INTERVAL)


_kicker = _Kicker()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_kicker._reset)  # threads do not survive a fork


def escalation_kick(incident_id: int | None) -> None:
    """On-commit hook of the lifecycle: sweep soon (a lost kick only waits for the next beat)."""
    if incident_id is not None:
        _kicker.kick()


# --- on call ------------------------------------------------------------------------------


def oncall_user(rotation, at: datetime):
    """The rotation's on-call user at ``at`` (overrides first), or None."""
    members = [m.user for m in rotation.members.select_related("user").order_by("position") if m.user.is_active]
    overrides = [Override(o.starts_at, o.ends_at, o.user)
                 for o in rotation.overrides.select_related("user").filter(starts_at__lte=at, ends_at__gt=at)]
    shift = shift_at(anchor=rotation.starts_at, shift_hours=rotation.shift_hours, members=members,
                     overrides=overrides, at=at)
    return shift.who if shift else None


# --- firing -------------------------------------------------------------------------------


def _key(incident: Incident, step: EscalationStep, loop: int, target: str) -> str:
    return f"{incident.pk}:{incident.escalation_id}:{step.order}:{loop}:{target}"[:200]


def _phone(user) -> str:
    try:
        return user.incident_contact.phone_number
    except ObjectDoesNotExist:
        return ""


def _texts_users(channel) -> bool:
    """An SMS channel with ``page_users`` texts the step's users and on-call at their own numbers."""
    return channel.kind == "sms" and bool((channel.config or {}).get("page_users"))


def _targets(incident: Incident, step: EscalationStep, loop: int, now: datetime) -> tuple[list[Notification], list]:
    """The step's notifications (channels, users, the rotation's on-call) and a description for the timeline.

    Phone numbers never reach the description (it is the timeline and the audit entry): a
    per-user SMS row is described by channel and username only.
    """
    rows, described, per_user = [], [], []
    for channel in step.channels.filter(enabled=True).order_by("pk"):
        if _texts_users(channel):
            per_user.append(channel)
            if not (channel.config or {}).get("to"):
                continue  # only the users' own numbers
        rows.append(Notification(incident=incident, step=step, loop=loop, channel=channel,
                                 idempotency_key=_key(incident, step, loop, f"c{channel.pk}")))
        described.append({"channel": channel.name, "kind": channel.kind})
    users = {u.pk: u for u in step.users.filter(is_active=True).select_related("incident_contact").order_by("pk")}
    if step.rotation_id:
        user = oncall_user(step.rotation, now)
        if user is None:
            described.append({"rotation": step.rotation.name, "oncall": None})
        else:
            users.setdefault(user.pk, user)
            described.append({"rotation": step.rotation.name, "oncall": user.get_username()})
    for user in users.values():
        rows.append(Notification(incident=incident, step=step, loop=loop, user=user,
                                 idempotency_key=_key(incident, step, loop, f"u{user.pk}")))
        described.append({"user": user.get_username()})
        for channel in per_user:
            if not _phone(user):
                described.append({"channel": channel.name, "kind": channel.kind, "user": user.get_username(),
                                  "skipped": "no phone number"})
                continue
            rows.append(Notification(incident=incident, step=step, loop=loop, channel=channel, user=user,
                                     idempotency_key=_key(incident, step, loop, f"c{channel.pk}u{user.pk}")))
            described.append({"channel": channel.name, "kind": channel.kind, "user": user.get_username()})
    return rows, described


def _quiet_reason(incident: Incident) -> str | None:
    if incident.severity == Severity.P3:
        return "P3 never pages: logged for review"
    if incident.suppressed:
        return "opened under a maintenance window: recorded, not paged"
    if incident.escalation_policy_id is None:
        return "no escalation policy"
    return None


def _stop(incident: Incident, actor: Actor, reason: str, now: datetime) -> None:
    """The escalation ends without paging: a state change like any other (timeline, audit, event)."""
    incident.next_escalation_at = None
    incident.save(update_fields=["next_escalation_at", "updated_at"])
    timeline(incident, Kind.ESCALATION_STEP, actor=actor, source="task", data={"stopped": reason}, at=now)
    audit_record(actor=actor, action=Action.ESCALATION_STEP, target=incident, source="task",
                 changes={"escalation": [incident.escalation_step, None]}, reason=reason)
    emit(Event.ESCALATION_STEP, incident, incident_payload(incident, stopped=reason))


def _hold_for_window(incident: Incident, actor: Actor, now: datetime) -> bool:
    """Under a maintenance window a due step waits (recorded once per window); True when held."""
    labels = {**(incident.group_labels or {})}
    labels.update(dict(Alert.objects.filter(incident=incident, status=Alert.Status.FIRING)
                       .values_list("labels", flat=True).first() or {}))
    window = selectors.maintenance_window_for(labels, now)
    if window is None:
        return False
    incident.next_escalation_at = now + timedelta(seconds=HOLD_SECONDS)
    incident.save(update_fields=["next_escalation_at", "updated_at"])
    seen = IncidentEvent.objects.filter(incident=incident, kind=Kind.MAINTENANCE, data__window=window.pk,
                                        data__effect="paging held").exists()
    if not seen:
        timeline(incident, Kind.MAINTENANCE, actor=actor, source="task",
                 data={"window": window.pk, "name": window.name, "effect": "paging held"}, at=now)
    return True


def _fire_locked(incident: Incident, now: datetime) -> list[int]:
    """Fire the incident's due step (the caller holds its row lock); the new notifications' ids."""
    actor = Actor.for_system(SYSTEM_ACTOR)
    quiet = _quiet_reason(incident)
    if quiet:
        _stop(incident, actor, quiet, now)
        return []
    if _hold_for_window(incident, actor, now):
        return []
    policy = incident.escalation_policy
    steps = list(policy.steps.select_related("rotation").order_by("order"))
    if incident.escalation_step >= len(steps):
        _stop(incident, actor, "the policy has no step left" if steps else "the policy has no steps", now)
        return []
    index, loop = incident.escalation_step, incident.escalation_loop
    step = steps[index]
    rows, described = _targets(incident, step, loop, now)
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [r.idempotency_key for r in rows]
    ids = list(Notification.objects.filter(idempotency_key__in=keys, status=Notification.Status.PENDING,
                                           attempts=0).values_list("pk", flat=True))
    position = after_firing(step=index, loop=loop, waits=[s.wait_minutes for s in steps], loops=policy.loops,
                            now=now)
    incident.escalation_step, incident.escalation_loop = position.step, position.loop
    incident.next_escalation_at = position.next_at
    incident.save(update_fields=["escalation_step", "escalation_loop", "next_escalation_at", "updated_at"])
    data = {"policy": policy.name, "step": step.order, "loop": loop, "targets": described,
            "next_at": position.next_at.isoformat() if position.next_at else None,
            "exhausted": position.exhausted}
    timeline(incident, Kind.ESCALATION_STEP, actor=actor, source="task", data=data, at=now)
    audit_record(actor=actor, action=Action.ESCALATION_STEP, target=incident,
                 changes={"escalation": [[index, loop], [position.step, position.loop]],
                          "notifications": [None, len(ids)]}, source="task")
    emit(Event.ESCALATION_STEP, incident, incident_payload(incident, step=step.order, loop=loop,
                                                           notifications=len(ids)))
    return ids


def _due(now: datetime):
    return (Incident.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("escalation_policy", "service", "assignee")
            .filter(status=Status.TRIGGERED, next_escalation_at__lte=now).order_by("next_escalation_at", "pk"))


def escalation_sweep(*, limit: int = 100, deliver: bool = True) -> dict[str, int]:
    """Fire every due step (one incident per transaction); then deliver the pages it created."""
    fired, created = 0, []
    for _ in range(limit):
        now = timezone.now()
        failed_id = None
        try:
            with transaction.atomic():
                incident = _due(now).first()
                if incident is None:
                    break
                failed_id = incident.pk
                ids = _fire_locked(incident, now)
        except Exception:  # one broken incident must not block every other due step behind it
            log.exception("escalation of incident %s failed; retrying in %s s", failed_id, HOLD_SECONDS)
            if failed_id is None:
                raise
            Incident.objects.filter(pk=failed_id, status=Status.TRIGGERED).update(
                next_escalation_at=now + timedelta(seconds=HOLD_SECONDS))
            continue
        fired += 1
        created += ids
    sent = {}
    if deliver and created:
        from reliability.incidents.services.notifications import notifications_deliver

        sent = notifications_deliver(notification_ids=created)
    return {"incidents": fired, "notifications": len(created), **sent}


# --- acknowledgement timeout ------------------------------------------------------------------


def _still_fires(incident: Incident) -> bool:
    """A firing alert, or no alerts at all (a person's report stays open until someone resolves it)."""
    alerts = Alert.objects.filter(incident=incident)
    return alerts.filter(status=Alert.Status.FIRING).exists() or not alerts.exists()


def _expire_ack_locked(incident: Incident, now: datetime) -> bool:
    from reliability.incidents.services.lifecycle import _restart_escalation

    actor = Actor.for_system(SYSTEM_ACTOR)
    expired_at = incident.ack_expires_at
    if not _still_fires(incident):
        Incident.objects.filter(pk=incident.pk).update(ack_expires_at=None)
        return False
    incident.status = Status.TRIGGERED
    incident.acknowledged_by = ""
    incident.ack_expires_at = None
    _restart_escalation(incident, now)
    incident.save()
    timeline(incident, Kind.ACK_EXPIRED, actor=actor, source="task",
             data={"expired_at": expired_at.isoformat() if expired_at else None,
                   "effect": "back to triggered; escalation restarts from the first step"}, at=now)
    audit_record(actor=actor, action=Action.INCIDENT_ACK_EXPIRE, target=incident,
                 changes={"status": [Status.ACKNOWLEDGED, Status.TRIGGERED]}, source="task",
                 reason="the acknowledgement ran out while the incident still fires")
    emit(Event.INCIDENT_ACK_EXPIRED, incident, incident_payload(incident))
    return True


def ack_timeout_sweep(*, limit: int = 100) -> int:
    """Acknowledged incidents whose acknowledgement ran out: back to triggered if they still fire."""
    restarted = 0
    for _ in range(limit):
        now = timezone.now()
        with transaction.atomic():
            incident = (Incident.objects.select_for_update(skip_locked=True, of=("self",))
                        .select_related("escalation_policy", "service", "assignee")
                        .filter(status=Status.ACKNOWLEDGED, ack_expires_at__lte=now)
                        .order_by("ack_expires_at", "pk").first())
            if incident is None:
                break
            restarted += _expire_ack_locked(incident, now)
    return restarted


def escalation_position(incident: Incident) -> dict:
    """For the detail page: the policy, the next step (1-based), the loop, when it fires."""
    policy = incident.escalation_policy
    steps = list(policy.steps.order_by("order")) if policy else []
    nxt = steps[incident.escalation_step] if incident.escalation_step < len(steps) else None
    return {"policy": policy, "steps": steps, "next_step": nxt, "step_number": incident.escalation_step + 1,
            "loop": incident.escalation_loop, "loops": policy.loops if policy else 0,
            "next_at": incident.next_escalation_at, "exhausted": bool(steps) and nxt is None,
            "quiet": _quiet_reason(incident)}


# --- default policies ------------------------------------------------------------------------

# name → (severities, loops, ack timeout, [(wait minutes, channel kinds or "*" for every kind)])
DEFAULT_POLICIES: dict[str, tuple[list[str], int, int, list[tuple[int, tuple[str, ...]]]]] = {
    # P0 pages everyone at once, SMS included, and repeats every 5 minutes (three more passes)
    "Default P0: everyone at once": (["P0"], 3, 30, [(5, ("slack", "webhook", "email", "sms"))]),
    # P1: chat and email now; SMS if nobody acknowledged within 15 minutes
    "Default P1: within 15 min": (["P1"], 1, 60, [(15, ("slack", "webhook", "email")), (15, ("sms",))]),
    # P2: chat now; email if nobody acknowledged within the hour; never SMS
    "Default P2: within an hour": (["P2"], 0, 240, [(60, ("slack", "webhook")), (60, ("email",))]),
    # P3 never pages (lifecycle: no deadline is ever set); its incidents are logged for review
}


@transaction.atomic
def escalation_defaults_ensure(*, actor: Actor, source: str, rotation=None) -> list:
    """Create the default policies that do not exist yet (by name), wired to every enabled channel of
    the listed kinds and, on each first step, to ``rotation``'s on-call. Existing policies are left alone.
    """
    from reliability.incidents.models import EscalationPolicy, NotificationChannel

    created = []
    for name, (severities, loops, ack_minutes, steps) in DEFAULT_POLICIES.items():
        if EscalationPolicy.objects.filter(name=name).exists():
            continue
        policy = EscalationPolicy.objects.create(name=name, severities=severities, loops=loops,
                                                 ack_timeout_minutes=ack_minutes,
                                                 description="created by escalation_defaults_ensure")
        for order, (wait, kinds) in enumerate(steps, start=1):
            step = EscalationStep.objects.create(policy=policy, order=order, wait_minutes=wait,
                                                 rotation=rotation if order == 1 else None)
            step.channels.set(NotificationChannel.objects.filter(enabled=True, kind__in=kinds))
        audit_record(actor=actor, action=Action.ESCALATION_POLICY_CREATE, target=policy, source=source,
                     changes={"name": [None, name], "severities": [None, severities]})
        emit(Event.ESCALATION_POLICY_CREATED, policy, {"id": policy.pk, "name": name, "severities": severities})
        created.append(policy)
    return created

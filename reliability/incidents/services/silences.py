"""Alertmanager silences for acknowledged incidents, through the outbound seam.

The acknowledgement stores a ``pending`` row; after commit a task (and, if that
is lost or Alertmanager is down, the beat sweep) claims it with SKIP LOCKED,
leases it (``next_attempt_at`` in the future), calls Alertmanager outside any
transaction, and records the answer. Resolve moves active silences to
``expiring``; the same claim loop sends ``DELETE /api/v2/silence/{id}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.models import Incident, IncidentEvent, Silence
from reliability.incidents.names import Action, Event
from reliability.incidents.services._common import SYSTEM_ACTOR, text, timeline

log = logging.getLogger(__name__)
Kind = IncidentEvent.Kind
State = Silence.State
LEASE_SECONDS = 60
TARGET = "alertmanager"


def group_matchers(incident: Incident) -> list[dict]:
    """The group's exact matchers in Alertmanager's v2 form."""
    return [{"name": k, "value": str(v), "isRegex": False, "isEqual": True}
            for k, v in sorted((incident.group_labels or {}).items())]


def _enqueue(silence_id: int) -> None:
    from celery import current_app

    try:
        current_app.send_task("incidents.push_silence", args=[silence_id], retry=False)
    except Exception as exc:  # the beat sweep finds it anyway
        log.warning("could not enqueue silence %s (%s); the sweep will pick it up", silence_id, exc)


def incident_url(incident: Incident) -> str:
    base = getattr(settings, "OPSPORTAL_BASE_URL", "") or "http://localhost:8000"
    return f"{base.rstrip('/')}/admin/incidents/incident/{incident.pk}/change/"


def silence_request(*, incident: Incident, minutes: int, actor: Actor, source: str) -> Silence | None:
    """Inside the acknowledgement's transaction: a pending silence, pushed after commit."""
    matchers = group_matchers(incident)
    now = timezone.now()
    if not matchers:
        timeline(incident, Kind.SILENCE_FAILED, actor=actor, source=source,
                 data={"error": "the incident has no group labels to silence"}, at=now)
        return None
    silence = Silence.objects.create(
        incident=incident, matchers=matchers, starts_at=now, ends_at=now + timedelta(minutes=minutes),
        state=State.PENDING, next_attempt_at=now, created_by=text(actor.label, 200),
        comment=text(f"Acknowledged in opsportal: incident #{incident.number} {incident.title} "
                     f"{incident_url(incident)}", 1000),
    )
    timeline(incident, Kind.SILENCE_REQUESTED, actor=actor, source=source,
             data={"silence": silence.pk, "minutes": minutes, "matchers": matchers}, at=now)
    transaction.on_commit(lambda: _enqueue(silence.pk), robust=True)
    return silence


def silences_expire_for(*, incident: Incident, actor: Actor, source: str, audited: bool = True) -> int:
    """Inside the resolve's transaction: pending ones are dropped, active ones queued for DELETE."""
    now = timezone.now()
    n = 0
    for silence in Silence.objects.select_for_update().filter(incident=incident,
                                                              state__in=[State.PENDING, State.ACTIVE]):
        n += 1
        if silence.state == State.PENDING:
            silence.state = State.EXPIRED
            silence.next_attempt_at = None
        else:
            silence.state = State.EXPIRING
            silence.next_attempt_at = now
            transaction.on_commit(lambda pk=silence.pk: _enqueue(pk), robust=True)
        silence.save(update_fields=["state", "next_attempt_at", "updated_at"])
    return n


@dataclass
class _Claim:
    silence_id: int
    state: str
    alertmanager_id: str
    body: dict


def _claim(silence_ids: list[int] | None, limit: int) -> list[_Claim]:
    now = timezone.now()
    with transaction.atomic():
        qs = Silence.objects.select_for_update(skip_locked=True).filter(state__in=[State.PENDING, State.EXPIRING])
        qs = qs.filter(pk__in=silence_ids) if silence_ids is not None else qs.filter(next_attempt_at__lte=now)
        claims = []
        for s in qs.order_by("next_attempt_at", "pk")[:limit]:
            if s.next_attempt_at and s.next_attempt_at > now:
                continue  # leased by another worker, or not due
            s.attempts += 1
            s.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
            s.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
            body = {
                "matchers": s.matchers, "startsAt": now.isoformat().replace("+00:00", "Z"),
                "endsAt": s.ends_at.isoformat().replace("+00:00", "Z"), "createdBy": s.created_by,
                "comment": s.comment,
            }
            claims.append(_Claim(s.pk, s.state, s.alertmanager_id, body))
        return claims


def _call(claim: _Claim) -> tuple[str, str]:
    """Talk to Alertmanager; returns (outcome, id or error). Outcome: ok, gone, retry, fail."""
    from reliability import http

    base = (settings.ALERTMANAGER_URL or "").rstrip("/")
    if not base:
        return "fail", "ALERTMANAGER_URL is not set"
    try:
        if claim.state == State.PENDING:
            resp = http.request("POST", f"{base}/api/v2/silences", target=TARGET, json=claim.body, timeout=5.0)
        else:
            resp = http.request("DELETE", f"{base}/api/v2/silence/{claim.alertmanager_id}", target=TARGET, timeout=5.0)
    except Exception as exc:  # connect error, timeout, breaker open: Alertmanager is away
        return "retry", text(f"{type(exc).__name__}: {exc}", 300)
    if resp.status_code == 200:
        if claim.state == State.PENDING:
            try:
                return "ok", str(resp.json()["silenceID"])
            except (ValueError, KeyError, TypeError):
                return "retry", "Alertmanager answered 200 without a silenceID"
        return "ok", ""
    if claim.state == State.EXPIRING and resp.status_code == 404:
        return "gone", ""
    if resp.status_code >= 500 or resp.status_code == 429:
        return "retry", f"HTTP {resp.status_code}"
    return "fail", text(f"HTTP {resp.status_code}: {resp.text}", 300)


@transaction.atomic
def _record(claim: _Claim, outcome: str, value: str) -> None:
    s = Silence.objects.select_for_update().select_related("incident").filter(pk=claim.silence_id).first()
    if s is None:
        return
    now = timezone.now()
    actor = Actor.for_system(SYSTEM_ACTOR)
    if s.state != claim.state and not (claim.state == State.PENDING and outcome == "ok"):
        return  # changed under us (resolved while pending): nothing left to do for this claim
    if claim.state == State.PENDING and outcome == "ok":
        s.alertmanager_id = value[:100]
        s.last_error = ""
        if s.state == State.EXPIRED:  # resolved while we were creating it: take it back down
            s.state, s.next_attempt_at = State.EXPIRING, now
            transaction.on_commit(lambda: _enqueue(s.pk), robust=True)
        else:
            s.state, s.next_attempt_at = State.ACTIVE, None
            incident = s.incident
            Incident.objects.filter(pk=incident.pk).update(silenced_until=s.ends_at)
            timeline(incident, Kind.SILENCE_CREATED, actor=s.created_by, source="alertmanager",
                     data={"silence": s.pk, "alertmanager_id": s.alertmanager_id, "ends_at": s.ends_at.isoformat()})
            audit_record(actor=actor, action=Action.SILENCE_CREATE, target=s,
                         changes={"alertmanager_id": [None, s.alertmanager_id], "created_by": [None, s.created_by]},
                         source="task")
            emit(Event.SILENCE_CREATED, incident, {"id": incident.pk, "silence": s.pk,
                                                   "alertmanager_id": s.alertmanager_id})
    elif claim.state == State.EXPIRING and outcome in ("ok", "gone"):
        s.state, s.next_attempt_at = State.EXPIRED, None
        Incident.objects.filter(pk=s.incident_id).update(silenced_until=None)
        timeline(s.incident, Kind.SILENCE_EXPIRED, actor=actor, source="alertmanager",
                 data={"silence": s.pk, "alertmanager_id": s.alertmanager_id})
        audit_record(actor=actor, action=Action.SILENCE_EXPIRE, target=s, changes={"state": [State.EXPIRING,
                                                                                            State.EXPIRED]},
                     source="task")
        emit(Event.SILENCE_EXPIRED, s.incident, {"id": s.incident_id, "silence": s.pk})
    elif outcome == "retry" and s.attempts < settings.INCIDENT_SILENCE_MAX_ATTEMPTS and s.ends_at > now:
        s.last_error = value[:500]
        s.next_attempt_at = now + timedelta(seconds=settings.INCIDENT_SILENCE_RETRY_SECONDS)
    else:
        if claim.state == State.PENDING and s.ends_at <= now and outcome == "retry":
            value = "the silence ran out before Alertmanager could be reached"
        s.last_error = value[:500]
        s.state, s.next_attempt_at = State.FAILED, None
        timeline(s.incident, Kind.SILENCE_FAILED, actor=actor, source="alertmanager",
                 data={"silence": s.pk, "error": s.last_error})
    s.save()


def silences_push(*, silence_ids: list[int] | None = None, limit: int = 50) -> dict[str, int]:
    """Create or expire the given (or every due) silences in Alertmanager. Safe to run anywhere, any time."""
    counts = {"ok": 0, "gone": 0, "retry": 0, "fail": 0}
    for claim in _claim(silence_ids, limit):
        outcome, value = _call(claim)
        counts[outcome] += 1
        if outcome == "retry":
            log.info("alertmanager silence %s not done yet: %s", claim.silence_id, value)
        _record(claim, outcome, value)
    return counts

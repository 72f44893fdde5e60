"""Delivering pages: Slack-compatible webhook, signed webhook, email, SMS over HTTP; with fallback.

A ``Notification`` row is claimed with ``FOR UPDATE SKIP LOCKED`` and leased
(``attempts`` + 1, ``next_attempt_at`` a minute ahead) in a short transaction,
sent outside any transaction, and its result recorded in another: so two
workers never send the same row, and a sender that dies mid-call leaves a
lease that runs out (the beat sweep then tries again; receivers get the
idempotency key in the ``Idempotency-Key``/``webhook-id`` header to drop that
rare duplicate).

All HTTP goes through ``reliability.http`` with one breaker per channel
(``notify:<kind>:<id>``) and the retry policy ``INCIDENT_NOTIFY_RETRY_POLICY``.
A channel whose breaker is open, or that still fails after its retries, falls
back to its ``fallback`` channel: the row becomes ``fell_back`` and a new row
(``fallback_of``) is sent on the fallback channel at once. A page whose
incident was acknowledged or resolved (its escalation moved on) before it went
out is ``cancelled``.

Channel ``config`` (secrets never logged, never in events or audit entries):

- slack: ``{"url": "https://hooks.slack.com/services/…"}``
- webhook: ``{"url": …, "secret": "whsec_…"}`` (Standard Webhooks signature)
- email: ``{"to": ["oncall@example.com"]}``
- sms: ``{"url": …, "to": ["+4670…"], "token": "…"}`` (JSON POST ``{"to", "body"}`` per number)

  with ``"page_users": true`` it (also) texts the step's users and the rotation's on-call at
  their own numbers (``UserContact.phone_number``): one row per (channel, user). The
  number is read only here and shown masked (``mask_phone``) on the timeline, in audit
  entries, events and logs.

A user target (a step's users, a rotation's on-call) is paged by email to the
account's address.

**Concurrency.** The HTTP and SMTP calls of one delivery round run on a bounded
thread pool (``INCIDENT_NOTIFY_CONCURRENCY``, default 16) that never touches the
database: rows are claimed, their pages built, and their outcomes recorded on the
calling thread. Exactly-once is unchanged: a row is sent only by the sender that
claimed it, and its idempotency key travels with every attempt.

**Durable retry.** A page that fails with no fallback channel is not dropped: it stays
``pending`` with ``next_attempt_at`` pushed back exponentially
(``INCIDENT_NOTIFY_RETRY_BASE_SECONDS`` × 2ⁿ⁻¹, capped at
``INCIDENT_NOTIFY_RETRY_MAX_SECONDS``, ±10 % jitter), swept by the beat task, until
``INCIDENT_NOTIFY_MAX_ATTEMPTS`` attempts; then it is ``failed``. Each reschedule and the
final failure is a timeline entry, an audit entry and an outbox event. A configuration
fault (no address, no URL, a bad URL or secret, a user without a number) fails at once:
retrying cannot fix it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents import metrics
from reliability.incidents.escalation import messages
from reliability.incidents.models import (
    Incident,
    IncidentEvent,
    Notification,
    NotificationChannel,
    mask_phone,
)
from reliability.incidents.names import Action, Event
from reliability.incidents.runbooks_link import attached_runbook
from reliability.incidents.services._common import SYSTEM_ACTOR, text, timeline
from runbooks.selectors import runbook_url

log = logging.getLogger(__name__)
Kind = IncidentEvent.Kind
NStatus = Notification.Status
LEASE_SECONDS = 60
MAX_FALLBACK_DEPTH = 3


class SendFailed(Exception):
    """The channel did not take the page (after the policy's retries, or its breaker is open)."""

    def __init__(self, message: str, *, circuit_open: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.circuit_open = circuit_open
        self.permanent = permanent  # a configuration fault (no address, bad URL): retrying cannot help


# --- links ---------------------------------------------------------------------------------


def base_url() -> str:
    return (getattr(settings, "OPSPORTAL_BASE_URL", "") or "http://localhost:8000").rstrip("/")


def linked_runbook_url(incident: Incident) -> str | None:
    """The portal page of the runbook attached to the incident (DESIGN §7.7), absolute from OPSPORTAL_BASE_URL.

    Attached = the portal runbook its ``runbook_url`` annotation points at, else the most
    specific published runbook matching its alerts' labels (``runbooks_link``). None when
    there is none: pages then carry the alert's own annotation, if any (``runbook_link``).
    """
    runbook = attached_runbook(incident)
    return runbook_url(runbook, base=base_url()) if runbook is not None else None


def runbook_link(incident: Incident) -> str | None:
    return linked_runbook_url(incident) or incident.runbook_url or None


def page_for(incident: Incident, notification: Notification | None = None) -> messages.Page:
    url = f"{base_url()}/ops/incidents/{incident.pk}/"
    return messages.Page(
        incident_id=incident.pk, number=incident.number, title=incident.title, severity=incident.severity,
        status=incident.status, service=incident.service.name if incident.service_id else None,
        incident_url=url, ack_url=f"{url}?do=acknowledge#actions", resolve_url=f"{url}?do=resolve#actions",
        runbook_url=runbook_link(incident),
        step=notification.step.order if notification and notification.step_id else None,
        loop=notification.loop if notification else None,
    )


# --- senders -------------------------------------------------------------------------------


def _post(channel: NotificationChannel, url: str, *, body: bytes, headers: dict) -> None:
    from reliability import http
    from reliability.breakers import CircuitOpenError

    if not url:
        raise SendFailed("the channel has no url", permanent=True)
    try:
        resp = http.request("POST", url, target=channel.breaker_name, content=body, timeout=5.0,
                            headers={"content-type": "application/json", **headers},
                            policy=getattr(settings, "INCIDENT_NOTIFY_RETRY_POLICY", "notify"))
    except CircuitOpenError as exc:
        raise SendFailed(f"breaker {channel.breaker_name} is open", circuit_open=True) from exc
    except http.OutboundError as exc:
        raise SendFailed(str(exc)) from exc
    except ValueError as exc:  # not an absolute http(s) URL
        raise SendFailed(f"bad url: {exc}", permanent=True) from exc
    if not 200 <= resp.status_code < 300:
        raise SendFailed(f"HTTP {resp.status_code}")


def _send_email(to: list[str], page: messages.Page) -> None:
    to = [a for a in to if isinstance(a, str) and "@" in a]
    if not to:
        raise SendFailed("no email address to send to", permanent=True)
    subject, body = messages.email(page)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)
    except Exception as exc:  # SMTP down, refused, …
        raise SendFailed(f"email: {type(exc).__name__}") from exc


def _send(n: Notification, page: messages.Page, phone: str = "") -> None:
    """One page over its channel. Runs on the send pool: it must not touch the database
    (``n`` arrives with its channel and user loaded, ``phone`` resolved by the caller)."""
    key = n.idempotency_key
    if n.channel_id is None:
        _send_email([n.user.email] if n.user_id else [], page)
        return
    channel, config = n.channel, n.channel.config or {}
    if channel.kind == NotificationChannel.Kind.SLACK:
        _post(channel, config.get("url", ""), body=json.dumps(messages.slack(page)).encode(),
              headers={"Idempotency-Key": key})
    elif channel.kind == NotificationChannel.Kind.WEBHOOK:
        from reliability.webhooks.signatures import sign_standard

        body = json.dumps(messages.webhook(page, idempotency_key=key)).encode()
        ts = int(timezone.now().timestamp())
        headers = {"webhook-id": key, "webhook-timestamp": str(ts)}
        if config.get("secret"):
            try:
                headers["webhook-signature"] = sign_standard(config["secret"], msg_id=key, timestamp=ts, body=body)
            except ValueError as exc:
                raise SendFailed(f"bad signing secret: {exc}", permanent=True) from exc
        _post(channel, config.get("url", ""), body=body, headers=headers)
    elif channel.kind == NotificationChannel.Kind.EMAIL:
        _send_email(list(config.get("to") or []), page)
    elif channel.kind == NotificationChannel.Kind.SMS:
        if n.user_id is not None:  # a per-user text: the user's own number only
            if not phone:
                raise SendFailed("the user has no phone number", permanent=True)
            auth = {"Authorization": f"Bearer {config['token']}"} if config.get("token") else {}
            _post(channel, config.get("url", ""), body=json.dumps({"to": phone, "body": messages.sms(page)}).encode(),
                  headers={"Idempotency-Key": key, **auth})
            return
        numbers = [str(x) for x in (config.get("to") or [])]
        if not numbers:
            raise SendFailed("no phone number to send to", permanent=True)
        auth = {"Authorization": f"Bearer {config['token']}"} if config.get("token") else {}
        for i, number in enumerate(numbers):
            _post(channel, config.get("url", ""), body=json.dumps({"to": number, "body": messages.sms(page)}).encode(),
                  headers={"Idempotency-Key": f"{key}:{i}", **auth})
    else:
        raise SendFailed(f"unknown channel kind {channel.kind!r}", permanent=True)


# --- claim, send, record ---------------------------------------------------------------------


@dataclass
class _Claim:
    notification_id: int
    cancelled: bool


def _stale(n: Notification) -> bool:
    """The escalation this page belongs to is over (acknowledged, resolved, restarted)."""
    incident = n.incident
    if incident.status != Incident.Status.TRIGGERED:
        return True
    return n.step_id is not None and f":{incident.escalation_id}:" not in n.idempotency_key


def _claim(ids: list[int] | None, limit: int) -> list[_Claim]:
    now = timezone.now()
    with transaction.atomic():
        qs = (Notification.objects.select_for_update(skip_locked=True, of=("self",)).select_related("incident")
              .filter(status=NStatus.PENDING))
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        claims = []
        for n in qs.order_by("pk")[:limit]:
            if n.next_attempt_at and n.next_attempt_at > now:
                continue  # leased by another sender
            if ids is None and n.next_attempt_at is None and n.attempts == 0 and n.created_at > now - timedelta(
                    seconds=5):
                continue  # fresh: its sweeper delivers it right after commit
            n.attempts += 1
            n.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
            n.save(update_fields=["attempts", "next_attempt_at"])
            claims.append(_Claim(n.pk, cancelled=_stale(n)))
        return claims


def _kind(n: Notification) -> str:
    return n.channel.kind if n.channel_id else "user"


def _target_label(n: Notification) -> str:
    if n.channel_id and n.user_id:  # a per-user text: the channel and who, never the number
        return f"{n.channel.name} → {n.user.get_username()}"
    if n.channel_id:
        return n.channel.name
    return n.user.get_username() if n.user_id else "(deleted user)"


@transaction.atomic
def _record(notification_id: int, result: str, error: str = "", *, permanent: bool = False) -> tuple[str, int | None]:
    """Write the outcome (sent, cancelled, failed → fell_back, retrying or failed): what it became, and the
    fallback row's id when one was made."""
    n = (Notification.objects.select_for_update(of=("self",)).select_related("incident", "channel", "user",
                                                                              "channel__fallback", "step")
         .get(pk=notification_id))
    if n.status != NStatus.PENDING:
        return result, None
    now = timezone.now()
    actor = Actor.for_system(SYSTEM_ACTOR)
    incident = n.incident
    data = {"notification": n.pk, "target": _target_label(n), "kind": _kind(n), "attempts": n.attempts,
            "step": n.step.order if n.step_id else None, "loop": n.loop}
    fallback_id, retry_at = None, None
    if result == "sent":
        n.status, n.sent_at, n.last_error = NStatus.SENT, now, ""
        kind, event = Kind.NOTIFICATION_SENT, Event.NOTIFICATION_SENT
    elif result == "cancelled":
        n.status, n.last_error = NStatus.CANCELLED, f"the incident is {incident.status}; escalation moved on"
        kind, event = Kind.NOTIFICATION_FAILED, Event.NOTIFICATION_FAILED
        data["cancelled"] = n.last_error
    else:
        n.last_error = text(error, 500)
        data["error"] = n.last_error
        fallback = n.channel.fallback if n.channel_id else None
        depth, parent = 0, n
        while parent.fallback_of_id is not None and depth < MAX_FALLBACK_DEPTH:
            depth, parent = depth + 1, parent.fallback_of
        if fallback is not None and fallback.enabled and fallback.pk != n.channel_id and depth < MAX_FALLBACK_DEPTH:
            n.status = NStatus.FELL_BACK
            key = f"{n.idempotency_key}:fb{fallback.pk}"[:200]
            row, _ = Notification.objects.get_or_create(idempotency_key=key, defaults={
                "incident": incident, "step": n.step, "loop": n.loop, "channel": fallback, "fallback_of": n})
            fallback_id = row.pk
            data["fallback"] = fallback.name
            kind, event, result = Kind.NOTIFICATION_FELL_BACK, Event.NOTIFICATION_FELL_BACK, "fell_back"
        elif not permanent and n.attempts < max_attempts():
            retry_at = now + retry_delay(n.attempts)  # stays pending: the beat sweep sends it again then
            data.update(retry_at=retry_at.isoformat(), max_attempts=max_attempts())
            kind, event, result = Kind.NOTIFICATION_RETRY, Event.NOTIFICATION_RETRY_SCHEDULED, "retrying"
        else:
            n.status = NStatus.FAILED
            data["gave_up_after"] = n.attempts
            kind, event = Kind.NOTIFICATION_FAILED, Event.NOTIFICATION_FAILED
    n.next_attempt_at = retry_at
    n.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
    timeline(incident, kind, actor=actor, source="task", data=data, at=now)
    changes = {"status": [NStatus.PENDING, n.status], "target": [None, data["target"]]}
    if retry_at is not None:
        changes["next_attempt_at"] = [None, data["retry_at"]]
    audit_record(actor=actor, action=Action.NOTIFICATION_RETRY if retry_at else Action.NOTIFICATION_SEND,
                 target=n, source="task", changes=changes)
    emit(event, incident, {"id": incident.pk, "notification": n.pk, "status": n.status, "kind": data["kind"],
                           "target": data["target"], "attempts": n.attempts,
                           **({"retry_at": data["retry_at"]} if retry_at else {})})
    label = data["kind"]
    transaction.on_commit(lambda: metrics.NOTIFICATIONS_TOTAL.labels(channel=label, result=result).inc())
    return result, fallback_id


# --- retry schedule, send pool ----------------------------------------------------------------


def max_attempts() -> int:
    return max(1, int(getattr(settings, "INCIDENT_NOTIFY_MAX_ATTEMPTS", 6)))


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed try: base × 2^(attempts−1), capped, ±10 % jitter."""
    base = float(getattr(settings, "INCIDENT_NOTIFY_RETRY_BASE_SECONDS", 30))
    cap = float(getattr(settings, "INCIDENT_NOTIFY_RETRY_MAX_SECONDS", 900))
    seconds = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None


def _executor() -> ThreadPoolExecutor:
    """The process's send pool, sized by ``INCIDENT_NOTIFY_CONCURRENCY`` (re-made after a fork)."""
    global _pool, _pool_key
    key = (os.getpid(), max(1, int(getattr(settings, "INCIDENT_NOTIFY_CONCURRENCY", 16))))
    if _pool is not None and _pool_key == key:
        return _pool
    with _pool_lock:
        if _pool is None or _pool_key != key:
            _pool = ThreadPoolExecutor(max_workers=key[1], thread_name_prefix="incident-notify")
            _pool_key = key
        return _pool


@dataclass
class _Outgoing:
    notification: Notification
    page: messages.Page
    phone: str


def _outgoing(notification_id: int) -> _Outgoing:
    """Everything the sender needs, read on the calling thread (the pool never queries)."""
    n = Notification.objects.select_related("incident__service", "channel", "user", "step").get(pk=notification_id)
    phone = ""
    if n.user_id and n.channel_id and n.channel.kind == NotificationChannel.Kind.SMS:
        from reliability.incidents.models import UserContact

        phone = UserContact.objects.filter(user_id=n.user_id).values_list("phone_number", flat=True).first() or ""
    return _Outgoing(n, page_for(n.incident, n), phone)


def _send_safely(out: _Outgoing) -> tuple[str, bool] | None:
    """Send on the pool; (error text, permanent?), or None when the channel took the page. Never raises."""
    n = out.notification
    permanent = False
    try:
        _send(n, out.page, out.phone)
    except SendFailed as exc:
        error, permanent = str(exc), exc.permanent
    except Exception as exc:  # a bug or an unexpected client error must not sink the round
        error = f"{type(exc).__name__}"
    else:
        return None
    # the error text never holds a number (the body is not in it); the target is masked anyway
    log.warning("page %s on %s failed: %s", n.pk, _kind(n), error.replace(out.phone, mask_phone(out.phone))
                if out.phone else error)
    return error, permanent


def _deliver_round(claims: list[_Claim]) -> list[tuple[str, int | None]]:
    """Cancel the stale claims, send the rest concurrently, record each outcome here."""
    results = [_record(c.notification_id, "cancelled") for c in claims if c.cancelled]
    outgoing = [_outgoing(c.notification_id) for c in claims if not c.cancelled]
    if len(outgoing) == 1:  # no thread hop for a single page
        futures = None
        errors = [_send_safely(outgoing[0])]
    else:
        pool = _executor()
        futures = [pool.submit(_send_safely, out) for out in outgoing]
        errors = None
    for i, out in enumerate(outgoing):
        failure = errors[i] if futures is None else futures[i].result()
        n = out.notification
        if failure is None:
            results.append(_record(n.pk, "sent"))
        else:
            results.append(_record(n.pk, "failed", failure[0], permanent=failure[1]))
    return results


def notifications_deliver(*, notification_ids: list[int] | None = None, limit: int = 100) -> dict[str, int]:
    """Send the given (or every due) pending pages concurrently; fallbacks go out in the same call.

    ``failed`` counts pages given up on; ``retrying`` (present when non-zero) those rescheduled
    (no fallback, attempts left).
    """
    counts = {"sent": 0, "failed": 0, "cancelled": 0, "fell_back": 0}
    queue = list(notification_ids) if notification_ids is not None else None
    if queue is not None:
        limit = max(limit, len(queue))  # every page the caller just created, not the first hundred
    rounds = 0
    while rounds <= MAX_FALLBACK_DEPTH:
        rounds += 1
        fallbacks = []
        for result, fallback_id in _deliver_round(_claim(queue, limit)):
            counts[result] = counts.get(result, 0) + 1
            if fallback_id is not None:
                fallbacks.append(fallback_id)
        if not fallbacks:
            break
        queue = fallbacks
    return counts

"""Recording: writing a flush of outcomes, for rows still held under the claim's token.

A few statements per flush: update the deliveries whose ``lease_token`` is
still ours (a row reclaimed by the sweep after our lease expired has another
token or none, so its outcome is dropped: one completion per claim), insert
their attempts, dead-letter the exhausted ones through the DLQ services. On
PostgreSQL the update and the insert are one statement; the UPDATE's row
locks are the only ones taken.

Outcomes: 2xx → ``delivered``. Any other status, a timeout or a network error
→ ``failed`` with ``next_attempt_at`` from the source's retry plan (a
``Retry-After`` wins, clamped); once ``attempts`` reaches the budget →
``dead`` plus a DLQ item. 410 → ``dead``; after the flush the destination is
disabled (``webhook_destination_disable``, system actor) and its waiting
deliveries are dead-lettered. An open breaker → deferred to when the breaker
may admit a probe, without counting an attempt. A destination the outbound
address policy refuses (``OutboundRefused``: nothing was sent, and retrying
cannot change the answer) → ``dead`` at once, without counting an attempt, its
error naming the policy.

An attempt whose outcome an injected chaos fault produced (``Outcome.chaos``)
is stored with ``chaos=True`` on both write paths, so the internal SLIs and the
reports can leave drills out.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from audit.actors import Actor
from reliability.webhooks.classes import FailureClass, classify
from reliability.webhooks.engine.claim import UPDATE_FIELDS, Status
from reliability.webhooks.engine.jobs import (
    DEFERRED,
    DESTINATION_DISABLED,
    PACED,
    PAYLOAD_PURGED,
    REFUSED,
    Outcome,
    Result,
    RunStats,
)
from reliability.webhooks.engine.policy import MIN_RETRY_DELAY, breaker_defer_max_seconds, excerpt
from reliability.webhooks.metrics import (
    WEBHOOK_DELIVERY_ATTEMPTS_TOTAL,
    WEBHOOK_DELIVERY_DEFERRED_TOTAL,
    WEBHOOK_DELIVERY_LATENCY_SECONDS,
)
from reliability.webhooks.models import Delivery, DeliveryAttempt
from reliability.webhooks.services.config import webhook_destination_disable
from reliability.webhooks.services.dlq_intake import (
    DeadLetter,
    deliveries_dead_letter_for_destination,
    dlq_dead_letter,
)

log = logging.getLogger("reliability.webhooks.delivery")

SYSTEM_ACTOR = "webhook-delivery"

_DELIVERY_TABLE = Delivery._meta.db_table
_ATTEMPT_TABLE = DeliveryAttempt._meta.db_table

_RECORD_SQL = f"""
WITH v AS (
    SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::int[], %s::timestamptz[], %s::int[], %s::text[],
                         %s::timestamptz[])
        AS v(id, status, attempts, next_attempt_at, last_status_code, last_error, delivered_at)
), held AS (
    UPDATE {_DELIVERY_TABLE} AS d
    SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at,
        last_status_code = v.last_status_code, last_error = v.last_error, delivered_at = v.delivered_at,
        lease_token = NULL, lease_expires_at = NULL
    FROM v
    WHERE d.id = v.id AND d.lease_token = %s AND d.status = 'in_flight'
    RETURNING d.id
), logged AS (
    INSERT INTO {_ATTEMPT_TABLE} (delivery_id, at, result, status_code, latency_ms, error, chaos)
    SELECT a.delivery_id, a.at, a.result, a.status_code, a.latency_ms, a.error, a.chaos
    FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::int[], %s::int[], %s::text[], %s::boolean[])
        AS a(delivery_id, at, result, status_code, latency_ms, error, chaos)
    JOIN held ON held.id = a.delivery_id
    RETURNING 1
)
SELECT id FROM held
"""  # noqa: S608 - table names come from model metadata, values are parameters


def _apply(outcome: Outcome, now: datetime, stats: RunStats) -> tuple[Delivery, DeadLetter | None]:
    """The delivery's new state for an outcome (not saved)."""
    job = outcome.job
    row = Delivery(pk=job.delivery_id, attempts=job.attempts, lease_token=None, lease_expires_at=None,
                   last_status_code=outcome.status_code, last_error=outcome.error, delivered_at=None,
                   next_attempt_at=None)
    if outcome.kind == PACED:
        stats.deferred += 1
        row.status = Status.PENDING
        row.next_attempt_at = now + timedelta(seconds=max(outcome.retry_after or 0.0, 0.05))
        row.last_error = excerpt(f"paced without an attempt: {outcome.error}")
        row.last_status_code = None
        return row, None
    if outcome.kind == DEFERRED and job.created_at is not None and (
        (now - job.created_at).total_seconds() > breaker_defer_max_seconds()
    ):
        # The breaker stayed open past the whole retry schedule: into the DLQ, classed breaker_open.
        stats.dead += 1
        row.status = Status.DEAD
        row.last_status_code = None
        row.last_error = excerpt(f"the destination's breaker stayed open past the retry schedule: {outcome.error}")
        return row, job.dead_letter(row.last_error, failure_class=FailureClass.BREAKER_OPEN)
    if outcome.kind == DEFERRED:
        stats.deferred += 1
        row.status = Status.PENDING
        row.next_attempt_at = now + timedelta(seconds=max(outcome.retry_after or 0.0, MIN_RETRY_DELAY))
        row.last_error = excerpt(f"deferred without an attempt: {outcome.error}")
        row.last_status_code = None
        return row, None
    if outcome.kind in (DESTINATION_DISABLED, PAYLOAD_PURGED, REFUSED):
        stats.dead += 1
        row.status = Status.DEAD
        return row, job.dead_letter(outcome.error, failure_class=FailureClass.REFUSED)
    row.attempts = job.attempts + 1
    if outcome.kind == Result.SUCCESS:
        stats.delivered += 1
        row.status = Status.DELIVERED
        row.delivered_at = outcome.at
        row.last_error = ""
        return row, None
    if outcome.kind == Result.GONE or row.attempts >= job.budget:
        stats.dead += 1
        row.status = Status.DEAD
        error = outcome.error
        if outcome.kind != Result.GONE:
            error = excerpt(f"gave up after {row.attempts} attempt{'s' if row.attempts != 1 else ''}: {error}")
        return row, job.dead_letter(error, failure_class=classify(kind=outcome.kind, status_code=outcome.status_code),
                                    status_code=outcome.status_code)
    stats.failed += 1
    row.status = Status.FAILED
    row.next_attempt_at = now + timedelta(seconds=job.plan.delay(row.attempts, retry_after=outcome.retry_after))
    return row, None


def _write_postgresql(rows: list[Delivery], attempts: list[DeliveryAttempt], token: uuid.UUID) -> set[int]:
    """Update the rows still held under ``token`` and log their attempts: one statement."""
    params = [
        [r.pk for r in rows], [r.status for r in rows], [r.attempts for r in rows], [r.next_attempt_at for r in rows],
        [r.last_status_code for r in rows], [r.last_error for r in rows], [r.delivered_at for r in rows],
        token,
        [a.delivery_id for a in attempts], [a.at for a in attempts], [a.result for a in attempts],
        [a.status_code for a in attempts], [a.latency_ms for a in attempts], [a.error for a in attempts],
        [a.chaos for a in attempts],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        return {row[0] for row in cursor.fetchall()}


def _write_portable(rows: list[Delivery], attempts: list[DeliveryAttempt], token: uuid.UUID) -> set[int]:
    """The ORM path (SQLite: the IMMEDIATE transaction is the lock)."""
    held = set(
        Delivery.objects.filter(pk__in=[r.pk for r in rows], lease_token=token, status=Status.IN_FLIGHT)
        .values_list("pk", flat=True)
    )
    if held:
        Delivery.objects.bulk_update([r for r in rows if r.pk in held], UPDATE_FIELDS)
        DeliveryAttempt.objects.bulk_create([a for a in attempts if a.delivery_id in held])
    return held


def record(outcomes: list[Outcome], *, token: uuid.UUID) -> RunStats:
    """Write a flush of outcomes, only for rows still held under ``token``.

    A row the sweep reclaimed after our lease expired has a new token (or none):
    its outcome is dropped here, so a claim completes at most once.
    """
    stats = RunStats()
    if not outcomes:
        return stats
    now = timezone.now()
    planned = []
    for outcome in outcomes:
        tally = RunStats()
        row, dead_letter = _apply(outcome, now, tally)
        attempt = None
        if outcome.is_attempt:
            attempt = DeliveryAttempt(
                delivery_id=outcome.job.delivery_id, at=outcome.at, result=outcome.kind,
                status_code=outcome.status_code, latency_ms=outcome.latency_ms, error=outcome.error,
                chaos=outcome.chaos,
            )
        planned.append((outcome, row, dead_letter, attempt, tally))
    rows = [p[1] for p in planned]
    attempts = [p[3] for p in planned if p[3] is not None]
    with transaction.atomic():
        write = _write_postgresql if connection.vendor == "postgresql" else _write_portable
        held = write(rows, attempts, token)
        dead = [p[2] for p in planned if p[2] is not None and p[1].pk in held]
        if dead:
            dlq_dead_letter(dead, now=now)
    for outcome, row, _, _, tally in planned:
        if row.pk not in held:
            stats.lost += 1
            log.warning("delivery %s: lease lost before its outcome was recorded (%s); the reclaim decides",
                        row.pk, outcome.kind)
            continue
        stats.add(tally)
        name = outcome.job.destination_name
        if outcome.kind == PACED:
            continue
        if outcome.kind == DEFERRED:
            WEBHOOK_DELIVERY_DEFERRED_TOTAL.labels(destination=name).inc()
        elif outcome.is_attempt:
            WEBHOOK_DELIVERY_ATTEMPTS_TOTAL.labels(destination=name, result=outcome.kind).inc()
            if outcome.latency_ms is not None:
                WEBHOOK_DELIVERY_LATENCY_SECONDS.labels(destination=name).observe(outcome.latency_ms / 1000)
    return stats


def destinations_gone(outcomes: list[Outcome]) -> None:
    """After recording: disable each destination that answered 410 and dead-letter what waits for it."""
    seen: set[int] = set()
    for outcome in outcomes:
        job = outcome.job
        if outcome.kind != Result.GONE or job.destination_id in seen:
            continue
        seen.add(job.destination_id)
        now = timezone.now()
        reason = (f"the receiver answered 410 Gone at {now:%Y-%m-%d %H:%M:%S}Z: it no longer accepts deliveries "
                  f"(delivery #{job.delivery_id})")
        webhook_destination_disable(destination_id=job.destination_id, reason=reason,
                                    actor=Actor.for_system(SYSTEM_ACTOR), source="delivery", status_code=410)
        deliveries_dead_letter_for_destination(
            destination_id=job.destination_id,
            reason=f"destination {job.destination_name!r} disabled: its receiver answered 410 Gone",
        )

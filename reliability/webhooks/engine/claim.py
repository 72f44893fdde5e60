"""Claiming: taking due deliveries exclusively, renewing and reclaiming leases.

A delivery is due when its status is ``pending``/``failed`` and
``next_attempt_at`` has passed. On PostgreSQL one statement locks due
delivery rows with ``FOR UPDATE SKIP LOCKED`` (only the delivery rows: the
event, source and destination are joined afterwards, unlocked), marks them
``in_flight`` under a fresh ``lease_token`` with ``lease_expires_at`` =
destination timeout + margin, and returns what the sends need. Two workers
never claim the same row; a duplicate task or a concurrent sweep claims
nothing. On SQLite (the embedded default) the ORM path runs instead, inside an
``IMMEDIATE`` transaction that serialises claimers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from reliability.webhooks.classes import FailureClass
from reliability.webhooks.engine.jobs import CLAIM_FIELDS, Job, Result
from reliability.webhooks.engine.policy import RetryPlan, excerpt, lease_margin
from reliability.webhooks.metrics import WEBHOOK_DELIVERY_ATTEMPTS_TOTAL
from reliability.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    WebhookDestination,
    WebhookEvent,
    WebhookSource,
)
from reliability.webhooks.services.dlq_intake import dlq_dead_letter

log = logging.getLogger("reliability.webhooks.delivery")

Status = Delivery.Status
DUE_STATUSES = (Status.PENDING, Status.FAILED)
UPDATE_FIELDS = ["status", "attempts", "next_attempt_at", "lease_token", "lease_expires_at",
                 "last_status_code", "last_error", "delivered_at"]

_DELIVERY_TABLE = Delivery._meta.db_table
_EVENT_TABLE = WebhookEvent._meta.db_table
_SOURCE_TABLE = WebhookSource._meta.db_table
_DESTINATION_TABLE = WebhookDestination._meta.db_table

# One statement, one round trip: lock due delivery rows (skipping rows another claimer
# holds), mark them in flight under our token, and return what the sends need.
_CLAIM_SQL = f"""
WITH due AS (
    SELECT id FROM {_DELIVERY_TABLE}
    WHERE status IN ('pending', 'failed') AND next_attempt_at <= %(now)s {{scope}}
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {_DELIVERY_TABLE} AS d
    SET status = 'in_flight', lease_token = %(token)s,
        lease_expires_at = %(now)s + (dst.timeout_seconds + %(margin)s) * interval '1 second'
    FROM due, {_DESTINATION_TABLE} AS dst
    WHERE d.id = due.id AND dst.id = d.destination_id
    RETURNING d.id AS delivery_id, d.event_id, d.attempts, d.attempt_budget, dst.id AS destination_id,
        dst.name, dst.url, dst.signing_secret, dst.timeout_seconds, dst.enabled, d.created_at,
        dst.rate_limit_per_second, dst.concurrency_limit
)
SELECT c.delivery_id, c.event_id, c.attempts, c.attempt_budget, c.destination_id, c.name, c.url,
    c.signing_secret, c.timeout_seconds, c.enabled, c.created_at, c.rate_limit_per_second, c.concurrency_limit, e.body, e.body_purged_at, e.headers, e.event_type,
    e.source_id, s.slug, s.retry_strategy, s.retry_max_attempts, s.retry_base_seconds, s.retry_max_seconds
FROM claimed AS c
JOIN {_EVENT_TABLE} AS e ON e.id = c.event_id
LEFT JOIN {_SOURCE_TABLE} AS s ON s.id = e.source_id
ORDER BY c.delivery_id
"""  # noqa: S608 - table names come from model metadata, values are parameters


def claim(
    *,
    now: datetime,
    limit: int,
    delivery_ids: Sequence[int] | None = None,
    event_ids: Sequence[int] | None = None,
) -> tuple[uuid.UUID, list[Job], float]:
    """Take up to ``limit`` due deliveries exclusively. Returns (lease token, jobs, lease seconds).

    Each row's lease is its destination's timeout plus a margin; the returned
    lease (the longest) is what the runner renews while the batch is in progress.
    """
    token = uuid.uuid4()
    take = _claim_postgresql if connection.vendor == "postgresql" else _claim_portable
    jobs = take(now=now, limit=limit, token=token, delivery_ids=delivery_ids, event_ids=event_ids)
    lease = max((job.timeout for job in jobs), default=0.0) + lease_margin() if jobs else 0.0
    return token, jobs, lease


def _claim_postgresql(*, now, limit, token, delivery_ids, event_ids) -> list[Job]:
    params = {"now": now, "limit": limit, "token": token, "margin": lease_margin()}
    scope = ""
    if delivery_ids is not None:
        scope += " AND id = ANY(%(ids)s)"
        params["ids"] = [int(i) for i in delivery_ids]
    if event_ids is not None:
        scope += " AND event_id = ANY(%(event_ids)s)"
        params["event_ids"] = [int(i) for i in event_ids]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(scope=scope), params)
        rows = cursor.fetchall()
    jobs = []
    for (delivery_id, event_id, attempts, budget, destination_id, name, url, secret, timeout, enabled, created_at,
         rate_limit, concurrency_limit, body, purged_at, headers, event_type, source_id, slug, strategy, max_attempts,
         base, cap) in rows:
        plan = RetryPlan() if source_id is None else RetryPlan.from_fields(strategy, max_attempts, base, cap)
        jobs.append(Job.build(
            delivery_id=delivery_id, event_id=event_id, attempts=attempts, attempt_budget=budget, plan=plan,
            destination_id=destination_id, destination_name=name, url=url, secret=secret, timeout=timeout,
            enabled=enabled, body=body, purged=purged_at is not None, headers=headers, event_type=event_type,
            source_id=source_id, source_slug=slug, created_at=created_at, rate_limit=rate_limit,
            concurrency_limit=concurrency_limit,
        ))
    return jobs


def _claim_portable(*, now, limit, token, delivery_ids, event_ids) -> list[Job]:
    """The ORM path (SQLite in the embedded default, where IMMEDIATE transactions serialise claimers)."""
    with transaction.atomic():
        qs = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "event__source", "destination")
            .only(*CLAIM_FIELDS)
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
        )
        if delivery_ids is not None:
            qs = qs.filter(pk__in=list(delivery_ids))
        if event_ids is not None:
            qs = qs.filter(event_id__in=list(event_ids))
        rows = list(qs.order_by("next_attempt_at", "id")[:limit])
        jobs = [Job.of(row) for row in rows]
        for timeout in {job.timeout for job in jobs}:
            Delivery.objects.filter(pk__in=[j.delivery_id for j in jobs if j.timeout == timeout]).update(
                status=Status.IN_FLIGHT, lease_token=token,
                lease_expires_at=now + timedelta(seconds=timeout + lease_margin()),
            )
    return jobs


def renew(*, token: uuid.UUID, delivery_ids: list[int], lease: float) -> None:
    """Extend the lease of the rows still held under ``token`` (the runner calls it while sends run)."""
    Delivery.objects.filter(pk__in=delivery_ids, lease_token=token, status=Status.IN_FLIGHT).update(
        lease_expires_at=timezone.now() + timedelta(seconds=lease)
    )


def deliveries_reclaim_expired(*, now: datetime | None = None, limit: int = 500) -> int:
    """Take back in-flight deliveries whose lease expired (their worker died or stalled).

    The lost attempt is recorded (``lease_expired``) and counted against the
    budget — a payload that kills its worker ends in the DLQ instead of
    looping — and the delivery is due again at once. The receiver may or may
    not have seen the lost attempt; the retry carries the same ``webhook-id``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "event__source", "destination")
            .only(*CLAIM_FIELDS, "lease_expires_at")
            .filter(status=Status.IN_FLIGHT, lease_expires_at__lt=now)
            .order_by("lease_expires_at")[:limit]
        )
        if not rows:
            return 0
        updates, attempts, dead = [], [], []
        for row in rows:
            job = Job.of(row)
            error = f"the worker holding this delivery stopped answering: lease expired at {row.lease_expires_at:%H:%M:%S}Z"
            attempts.append(DeliveryAttempt(delivery_id=row.pk, at=now, result=Result.LEASE_EXPIRED, error=error))
            new = Delivery(pk=row.pk, attempts=row.attempts + 1, lease_token=None, lease_expires_at=None,
                           last_status_code=None, last_error=error, delivered_at=None)
            if new.attempts >= job.budget:
                new.status, new.next_attempt_at = Status.DEAD, None
                dead.append(job.dead_letter(excerpt(f"gave up after {new.attempts} attempts: {error}"),
                                            failure_class=FailureClass.DESTINATION_DOWN))
            else:
                new.status, new.next_attempt_at = Status.FAILED, now
            updates.append(new)
            WEBHOOK_DELIVERY_ATTEMPTS_TOTAL.labels(destination=job.destination_name, result=Result.LEASE_EXPIRED).inc()
        Delivery.objects.bulk_update(updates, UPDATE_FIELDS)
        DeliveryAttempt.objects.bulk_create(attempts)
        if dead:
            dlq_dead_letter(dead, now=now)
    log.warning("reclaimed %d webhook deliveries whose lease expired", len(rows))
    return len(rows)

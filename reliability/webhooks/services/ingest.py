"""Ingestion services: storing verified webhooks, sampling rejections.

Ingestion is traffic, not an operator action: it writes the event and its
delivery rows and nothing else (no audit entry, no outbox event;
docs/decisions.md, "Webhooks"). On PostgreSQL it is one prepared statement
(docs/decisions.md, "Ingest throughput"); elsewhere ``event_with_deliveries_insert``
does the same with the ORM, and outbound portal events use it too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from opsportal.observability import current_traceparent
from reliability.webhooks.dispatch import deliveries_dispatch_for_events
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookRejection
from reliability.webhooks.selectors.config import SourceConfig
from reliability.webhooks.signatures import VerifiedWebhook

log = logging.getLogger("reliability.webhooks.services")


def event_with_deliveries_insert(*, event: WebhookEvent, destination_ids: Iterable[int], now: datetime) -> WebhookEvent | None:
    """Insert ``event`` (unsaved) and one due delivery per destination; None if the event exists already.

    The ORM form of the ingest statement, for SQLite and for outbound portal
    events: the event goes in under a savepoint, so a duplicate (the unique
    provider event id) leaves the caller's transaction usable.
    """
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        return None
    Delivery.objects.bulk_create(
        [Delivery(event=event, destination_id=d, next_attempt_at=now, created_at=now) for d in sorted(set(destination_ids))]
    )
    return event


@dataclass(frozen=True)
class IngestResult:
    event_id: int
    duplicate: bool
    deliveries: int


_EVENT_TABLE = WebhookEvent._meta.db_table
_DELIVERY_TABLE = Delivery._meta.db_table
# One statement, one round trip, atomic on its own: insert the event unless
# (source, provider id) exists, and its deliveries only if it was inserted.
_INGEST_SQL = f"""
WITH ev AS (
    INSERT INTO {_EVENT_TABLE} (source_id, direction, provider_event_id, event_type, headers, body, received_at)
    VALUES (%s, 'inbound', %s, %s, %s::jsonb, %s, %s)
    ON CONFLICT (source_id, provider_event_id) DO NOTHING
    RETURNING id
), deliveries AS (
    INSERT INTO {_DELIVERY_TABLE} (event_id, destination_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT ev.id, d.destination_id, 'pending', 0, %s, '', %s
    FROM ev CROSS JOIN unnest(%s::bigint[]) AS d(destination_id)
    RETURNING 1
)
SELECT ev.id, (SELECT count(*) FROM deliveries) FROM ev
"""  # noqa: S608 - table names come from model metadata, values are parameters
# For schemes whose event id is not signed (GitHub, HMAC with an event-id header): also a
# duplicate when the same body arrived from this source within the dedupe window, whatever
# id it carries now. The third column is that earlier event.
_INGEST_HASHED_SQL = f"""
WITH prior AS (
    SELECT id FROM {_EVENT_TABLE}
    WHERE source_id = %s AND body_sha256 = %s AND received_at >= %s
    ORDER BY id LIMIT 1
), ev AS (
    INSERT INTO {_EVENT_TABLE} (source_id, direction, provider_event_id, event_type, headers, body, received_at, body_sha256)
    SELECT %s, 'inbound', %s, %s, %s::jsonb, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM prior)
    ON CONFLICT (source_id, provider_event_id) DO NOTHING
    RETURNING id
), deliveries AS (
    INSERT INTO {_DELIVERY_TABLE} (event_id, destination_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT ev.id, d.destination_id, 'pending', 0, %s, '', %s
    FROM ev CROSS JOIN unnest(%s::bigint[]) AS d(destination_id)
    RETURNING 1
)
SELECT (SELECT id FROM ev), (SELECT count(*) FROM deliveries), (SELECT id FROM prior)
"""  # noqa: S608 - table names come from model metadata, values are parameters
_ORIGINAL_SQL = f"SELECT id FROM {_EVENT_TABLE} WHERE source_id = %s AND provider_event_id = %s"  # noqa: S608
DEFAULT_BODY_DEDUPE_SECONDS = 86_400


def body_dedupe_seconds() -> int:
    """How long a body from an unsigned-id scheme counts as seen (``WEBHOOK_BODY_DEDUPE_SECONDS``)."""
    return int(getattr(settings, "WEBHOOK_BODY_DEDUPE_SECONDS", DEFAULT_BODY_DEDUPE_SECONDS))


def _ingest_cursor():
    """A server-side-binding cursor on Django's connection, for the ingest statement only.

    The statement runs prepared, so PostgreSQL parses and plans the CTE once
    per connection instead of per request (pgbench on this box: 3,300-3,800
    tps as text, 5,300-5,800 prepared). Django keeps psycopg's prepared
    statements off (``prepare_threshold=None``, for poolers), so they are
    switched on around this one statement; ``DATABASE_PREPARED_STATEMENTS=false``
    keeps them off (docs/operations.md). Django's wrappers (error translation,
    execute wrappers, query logging) still apply. It skips Django's per-request
    health check (``SELECT 1``, one more round trip): ``_ingest_postgresql``
    retries once on a dead connection instead.
    """
    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def _run_ingest(sql: str, params: list, source_id: int, provider_event_id: str) -> IngestResult:
    with _ingest_cursor() as cursor:
        raw = connection.connection
        threshold = raw.prepare_threshold
        if settings.DATABASE_PREPARED_STATEMENTS:
            raw.prepare_threshold = 0  # prepare on first use; the statement text never changes
        try:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            if row is not None and row[0] is not None:
                return IngestResult(event_id=row[0], duplicate=False, deliveries=row[1])
            if row is not None and row[2] is not None:  # the hashed statement: the same body came before
                return IngestResult(event_id=row[2], duplicate=True, deliveries=0)
            # ON CONFLICT waited for any concurrent inserter to commit, so the original is visible now.
            cursor.execute(_ORIGINAL_SQL, [source_id, provider_event_id])
            original = cursor.fetchone()
        finally:
            raw.prepare_threshold = threshold
    if original is None:  # purged between the two statements: vanishingly rare, and safe to retry
        raise IntegrityError("original event disappeared during dedupe")
    return IngestResult(event_id=original[0], duplicate=True, deliveries=0)


def _ingest_postgresql(*, source_id: int, verified: VerifiedWebhook, headers: dict, body: bytes, destination_ids: list[int], now: datetime, body_sha256: str | None) -> IngestResult:
    if body_sha256 is None:
        sql, params = _INGEST_SQL, [
            source_id, verified.provider_event_id, verified.event_type, json.dumps(headers), body, now,
            now, now, destination_ids,
        ]
    else:
        sql, params = _INGEST_HASHED_SQL, [
            source_id, body_sha256, now - timedelta(seconds=body_dedupe_seconds()),
            source_id, verified.provider_event_id, verified.event_type, json.dumps(headers), body, now, body_sha256,
            now, now, destination_ids,
        ]
    try:
        return _run_ingest(sql, params, source_id, verified.provider_event_id)
    except OperationalError:
        if connection.in_atomic_block:
            raise
        # A persistent connection that died (database restart, failover, a pooler's idle
        # kill): reconnect and try once more. Safe to repeat: if the first attempt did
        # commit, this one finds the event and answers it as a duplicate with its id.
        log.warning("webhook ingest: database connection lost, reconnecting once", exc_info=True)
        connection.close()
        return _run_ingest(sql, params, source_id, verified.provider_event_id)


def _ingest_portable(*, source_id: int, verified: VerifiedWebhook, headers: dict, body: bytes, destination_ids: list[int], now: datetime, body_sha256: str | None) -> IngestResult:
    """The ORM path (SQLite in the embedded default): a duplicate is the unique provider id refusing the insert."""
    with transaction.atomic():
        if body_sha256 is not None:
            prior = (
                WebhookEvent.objects.filter(source_id=source_id, body_sha256=body_sha256,
                                            received_at__gte=now - timedelta(seconds=body_dedupe_seconds()))
                .order_by("id").values_list("pk", flat=True).first()
            )
            if prior is not None:
                return IngestResult(event_id=prior, duplicate=True, deliveries=0)
        event = event_with_deliveries_insert(
            event=WebhookEvent(source_id=source_id, provider_event_id=verified.provider_event_id,
                               event_type=verified.event_type, headers=headers, body=body, received_at=now,
                               body_sha256=body_sha256),
            destination_ids=destination_ids, now=now,
        )
        if event is None:
            original = WebhookEvent.objects.filter(source_id=source_id, provider_event_id=verified.provider_event_id).values_list("pk", flat=True).first()
            if original is None:
                raise IntegrityError("original event disappeared during dedupe")
            return IngestResult(event_id=original, duplicate=True, deliveries=0)
    return IngestResult(event_id=event.pk, duplicate=False, deliveries=len(set(destination_ids)))


def webhook_event_ingest(*, config: SourceConfig, verified: VerifiedWebhook, headers: dict, body: bytes, portable: bool = False) -> IngestResult:
    """Store a verified webhook once per (source, provider event id), with one delivery per routed destination.

    Returns after the write is committed (the caller answers 202 only then).
    Duplicates return the original event id and create nothing. Deliveries
    are due at once (``next_attempt_at`` = now) and handed to a worker after commit (the sweep is the backstop).
    Where the scheme does not sign the event id (``config.id_signed`` false), the same body from
    the same source within ``WEBHOOK_BODY_DEDUPE_SECONDS`` is a duplicate too, whatever id it carries.
    """
    now = timezone.now()
    traceparent = current_traceparent()
    if traceparent:  # its deliveries continue this trace (opsportal/observability.py)
        headers = {**headers, "traceparent": traceparent}
    destination_ids = config.destination_ids_for(verified.event_type)
    body_sha256 = None if config.id_signed or body_dedupe_seconds() <= 0 else hashlib.sha256(body).hexdigest()
    ingest = _ingest_postgresql if connection.vendor == "postgresql" and not portable else _ingest_portable
    result = ingest(source_id=config.id, verified=verified, headers=headers, body=body, destination_ids=destination_ids,
                    now=now, body_sha256=body_sha256)
    if result.deliveries and not result.duplicate:
        deliveries_dispatch_for_events([result.event_id])  # after commit: a worker sends them at once
    return result


# --- rejection samples -------------------------------------------------------------------------

_rejection_windows: dict[tuple[int, str], datetime] = {}
_rejection_lock = threading.Lock()


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def webhook_rejection_record(
    *,
    source_id: int,
    reason: str,
    detail: str,
    remote_ip: str | None,
    user_agent: str,
    header_names: list[str],
    body_bytes: int,
) -> bool:
    """Keep a sample of a 401 for operators: at most one per source, reason and minute.

    An in-process memo avoids even the INSERT for repeats in this process;
    the unique window makes it one row across processes. Never raises.
    """
    now = timezone.now()
    window = now.replace(second=0, microsecond=0)
    key = (source_id, reason)
    with _rejection_lock:
        if _rejection_windows.get(key) == window:
            return False
        _rejection_windows[key] = window
    try:
        WebhookRejection.objects.bulk_create(
            [
                WebhookRejection(
                    source_id=source_id,
                    reason=reason,
                    window_start=window,
                    detail=detail[:300],
                    remote_ip=_valid_ip(remote_ip),
                    user_agent="".join(c for c in user_agent if c.isprintable())[:300],
                    header_names=sorted({h.lower() for h in header_names if h.isprintable()})[:50],
                    body_bytes=body_bytes,
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
    except DatabaseError:  # a diagnostic sample must never turn a 401 into a 5xx
        log.warning("could not record a webhook rejection sample", exc_info=True)
        return False
    return True


def _rejection_memo_clear() -> None:  # tests: forget which windows this process sampled
    with _rejection_lock:
        _rejection_windows.clear()

"""Delivery: posting stored webhook events to their destinations (DESIGN §7.2).

The schedule lives in the database. A delivery is due when its status is
``pending``/``failed`` and ``next_attempt_at`` has passed. Workers take due rows
in batches:

1. **Claim** — one ``SELECT … FOR UPDATE OF delivery SKIP LOCKED`` (joined with
   the event, source and destination, so it also loads everything the send
   needs) and one ``UPDATE`` setting ``in_flight``, a fresh ``lease_token`` and
   ``lease_expires_at`` (destination timeout + margin). Two workers never claim
   the same row; a duplicate task or a concurrent sweep claims nothing.
2. **Send** — outside any transaction, on a small thread pool sharing the
   pooled keep-alive client of ``reliability.http`` (breaker per destination,
   policy ``none``: the schedule below is the retry policy). Each request is
   signed with the destination's Standard Webhooks secret (``standardwebhooks``
   package); ``webhook-id`` is the event's public id (``evt_<id>``) on every
   attempt and replay, so receivers dedupe on it. The stored body is posted
   byte for byte. While the batch runs the main thread renews the lease.
3. **Record** — a few statements per flush of outcomes: lock the rows still
   held under our token (a row reclaimed by the sweep after our lease expired
   is left alone: one completion per claim), bulk-insert the attempts, bulk-
   update the deliveries, dead-letter the exhausted ones.

Outcomes: 2xx → ``delivered``. Any other status, a timeout or a network error
→ ``failed`` with ``next_attempt_at`` from the source's policy (the DESIGN
schedule 0, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 10 h ±20 %, or exponential /
linear / fixed / Fibonacci with full jitter), a ``Retry-After`` winning
(clamped); once ``attempts`` reaches the budget → ``dead`` plus a
``WebhookFailure`` (the DLQ). 410 → the destination is disabled (audited,
system actor) and its waiting deliveries are dead-lettered. An open breaker →
the delivery is deferred to when the breaker may admit a probe, without
counting an attempt. A lease that expires (the worker died) is reclaimed by
the sweep: the lost attempt is recorded as ``lease_expired`` and counted, and
the delivery is due again at once.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import standardwebhooks
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability import http
from reliability.breakers import BreakerConfig, CircuitOpenError, breaker, declare
from reliability.retry import WEBHOOK, backoff_delay, parse_retry_after
from reliability.webhooks.metrics import (
    DLQ_MESSAGES_ADDED_TOTAL,
    WEBHOOK_DELIVERY_ATTEMPTS_TOTAL,
    WEBHOOK_DELIVERY_DEFERRED_TOTAL,
    WEBHOOK_DELIVERY_LATENCY_SECONDS,
)
from reliability.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    WebhookDestination,
    WebhookEvent,
    WebhookFailure,
    WebhookSource,
)
from reliability.webhooks.selectors import source_cache_clear
from reliability.webhooks.signatures import sign_standard

log = logging.getLogger("reliability.webhooks.delivery")

Status = Delivery.Status
Result = DeliveryAttempt.Result
DUE_STATUSES = (Status.PENDING, Status.FAILED)
SYSTEM_ACTOR = "webhook-delivery"
OUTBOUND_PROVIDER = "portal"
ERROR_EXCERPT_CHARS = 1000
MIN_RETRY_DELAY = 1.0  # never sooner than the next sweep: no hot loop against a failing receiver
DEFAULT_MAX_ATTEMPTS = 8  # outbound portal events have no source: the DESIGN schedule's 8 attempts
DEFAULT_MAX_DELAY = 36_000.0
DISPATCH_BREAKER = "webhooks-dispatch"

# Outcomes that are not HTTP attempts (no DeliveryAttempt row, attempts unchanged).
DEFERRED = "deferred"
DESTINATION_DISABLED = "destination_disabled"
PAYLOAD_PURGED = "payload_purged"


def _setting(name: str, default):
    return getattr(settings, name, default)


def batch_size() -> int:
    return int(_setting("WEBHOOK_DELIVERY_BATCH_SIZE", 100))


def dispatch_interval() -> float:
    """Busy ingestion publishes its delivery nudges at most this often per process (seconds)."""
    return float(_setting("WEBHOOK_DISPATCH_INTERVAL", 0.1))


def thread_count() -> int:
    return int(_setting("WEBHOOK_DELIVERY_THREADS", 8))


def lease_margin() -> float:
    return float(_setting("WEBHOOK_LEASE_MARGIN_SECONDS", 15))


# --- the retry policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPlan:
    """A source's retry policy (outbound portal events use the default schedule)."""

    strategy: str = WebhookSource.RetryStrategy.DEFAULT_SCHEDULE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = 5.0
    cap: float = DEFAULT_MAX_DELAY

    @classmethod
    def of(cls, source: WebhookSource | None) -> RetryPlan:
        if source is None:
            return cls()
        return cls(
            strategy=source.retry_strategy,
            max_attempts=source.retry_max_attempts,
            base=float(source.retry_base_seconds),
            cap=float(source.retry_max_seconds),
        )

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A ``Retry-After`` wins, clamped to [1 s, the source's max delay]. The
        default schedule is the DESIGN one with ±20 % jitter; the other
        strategies use full jitter, capped by ``retry_max_seconds``.
        """
        if retry_after is not None:
            return min(max(retry_after, MIN_RETRY_DELAY), max(self.cap, MIN_RETRY_DELAY))
        if self.strategy == WebhookSource.RetryStrategy.DEFAULT_SCHEDULE:
            seconds = WEBHOOK.delay(attempt, rng=rng)
        else:
            seconds = backoff_delay(self.strategy, attempt, base=self.base, cap=self.cap, jitter="full", rng=rng)
        return max(seconds, MIN_RETRY_DELAY)


# --- jobs and outcomes ----------------------------------------------------------------------


@dataclass
class Job:
    """Everything one send needs, read by the claim so the send itself never touches the DB."""

    delivery_id: int
    event_id: int
    public_id: str
    attempts: int  # before this attempt
    budget: int
    plan: RetryPlan
    destination_id: int
    destination_name: str
    url: str
    secret: str
    timeout: float
    enabled: bool
    breaker_name: str
    body: bytes
    purged: bool
    content_type: str
    provider: str
    source_id: int | None
    event_type: str


@dataclass
class Outcome:
    job: Job
    kind: str  # a DeliveryAttempt.Result value, DEFERRED, DESTINATION_DISABLED or PAYLOAD_PURGED
    at: datetime
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    retry_after: float | None = None

    @property
    def is_attempt(self) -> bool:
        return self.kind not in (DEFERRED, DESTINATION_DISABLED, PAYLOAD_PURGED)


@dataclass
class RunStats:
    """What one call of the engine did (returned by tasks, logged by the sweep)."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    reclaimed: int = 0
    lost: int = 0  # outcomes dropped because the lease had been reclaimed meanwhile
    counts: dict = field(default_factory=dict)

    def add(self, other: RunStats) -> None:
        for name in ("claimed", "delivered", "failed", "dead", "deferred", "reclaimed", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        return {n: getattr(self, n) for n in ("claimed", "delivered", "failed", "dead", "deferred", "reclaimed", "lost")}


def _excerpt(text: str) -> str:
    # PostgreSQL text cannot hold NUL; bodies can.
    return text.replace("\x00", "\ufffd")[:ERROR_EXCERPT_CHARS]


def _job_from(delivery: Delivery) -> Job:
    event = delivery.event
    source = event.source
    destination = delivery.destination
    plan = RetryPlan.of(source)
    headers = event.headers or {}
    return Job(
        delivery_id=delivery.pk,
        event_id=event.pk,
        public_id=event.public_id,
        attempts=delivery.attempts,
        budget=delivery.attempt_budget or plan.max_attempts,
        plan=plan,
        destination_id=destination.pk,
        destination_name=destination.name,
        url=destination.url,
        secret=destination.signing_secret,
        timeout=float(destination.timeout_seconds),
        enabled=destination.enabled,
        breaker_name=destination.breaker_name,
        body=bytes(event.body or b""),
        purged=event.body_purged_at is not None,
        content_type=str(headers.get("Content-Type") or "application/json"),
        provider=source.slug if source is not None else OUTBOUND_PROVIDER,
        source_id=source.pk if source is not None else None,
        event_type=event.event_type,
    )


# --- claiming ---------------------------------------------------------------------------------

_CLAIM_FIELDS = (
    "id", "event_id", "destination_id", "attempts", "attempt_budget",
    "event__id", "event__source_id", "event__event_type", "event__headers", "event__body", "event__body_purged_at",
    "event__source__id", "event__source__slug", "event__source__retry_strategy", "event__source__retry_max_attempts",
    "event__source__retry_base_seconds", "event__source__retry_max_seconds",
    "destination__id", "destination__name", "destination__url", "destination__signing_secret",
    "destination__timeout_seconds", "destination__enabled",
)


def _claim(
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
    if connection.vendor == "postgresql":
        jobs = _claim_postgresql(now=now, limit=limit, token=token, delivery_ids=delivery_ids, event_ids=event_ids)
    else:
        jobs = _claim_portable(now=now, limit=limit, token=token, delivery_ids=delivery_ids, event_ids=event_ids)
    lease = max((job.timeout for job in jobs), default=0.0) + lease_margin() if jobs else 0.0
    return token, jobs, lease


_DELIVERY_TABLE = Delivery._meta.db_table
_ATTEMPT_TABLE = DeliveryAttempt._meta.db_table
_EVENT_TABLE = WebhookEvent._meta.db_table
_SOURCE_TABLE = WebhookSource._meta.db_table
_DESTINATION_TABLE = WebhookDestination._meta.db_table

# One statement, one round trip: lock due rows (skipping rows another claimer holds),
# mark them in flight under our token, and return what the sends need.
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
        dst.name, dst.url, dst.signing_secret, dst.timeout_seconds, dst.enabled
)
SELECT c.delivery_id, c.event_id, c.attempts, c.attempt_budget, c.destination_id, c.name, c.url,
    c.signing_secret, c.timeout_seconds, c.enabled, e.body, e.body_purged_at, e.headers, e.event_type,
    e.source_id, s.slug, s.retry_strategy, s.retry_max_attempts, s.retry_base_seconds, s.retry_max_seconds
FROM claimed AS c
JOIN {_EVENT_TABLE} AS e ON e.id = c.event_id
LEFT JOIN {_SOURCE_TABLE} AS s ON s.id = e.source_id
ORDER BY c.delivery_id
"""  # noqa: S608 - table names come from model metadata, values are parameters


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
    for (delivery_id, event_id, attempts, budget, destination_id, name, url, secret, timeout, enabled, body, purged_at,
         headers, event_type, source_id, slug, strategy, max_attempts, base, cap) in rows:
        if isinstance(headers, str):
            headers = json.loads(headers)
        plan = RetryPlan() if source_id is None else RetryPlan(strategy=strategy, max_attempts=max_attempts,
                                                                 base=float(base), cap=float(cap))
        jobs.append(Job(
            delivery_id=delivery_id, event_id=event_id, public_id=f"evt_{event_id}", attempts=attempts,
            budget=budget or plan.max_attempts, plan=plan, destination_id=destination_id, destination_name=name,
            url=url, secret=secret, timeout=float(timeout), enabled=enabled,
            breaker_name=f"webhook-destination-{destination_id}", body=bytes(body or b""), purged=purged_at is not None,
            content_type=str((headers or {}).get("Content-Type") or "application/json"),
            provider=slug if source_id is not None else OUTBOUND_PROVIDER, source_id=source_id,
            event_type=event_type,
        ))
    return jobs


def _claim_portable(*, now, limit, token, delivery_ids, event_ids) -> list[Job]:
    """The ORM path (SQLite in the embedded default, where IMMEDIATE transactions serialise claimers)."""
    with transaction.atomic():
        qs = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "event__source", "destination")
            .only(*_CLAIM_FIELDS)
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
        )
        if delivery_ids is not None:
            qs = qs.filter(pk__in=list(delivery_ids))
        if event_ids is not None:
            qs = qs.filter(event_id__in=list(event_ids))
        rows = list(qs.order_by("next_attempt_at", "id")[:limit])
        jobs = [_job_from(row) for row in rows]
        for timeout in {job.timeout for job in jobs}:
            Delivery.objects.filter(pk__in=[j.delivery_id for j in jobs if j.timeout == timeout]).update(
                status=Status.IN_FLIGHT, lease_token=token,
                lease_expires_at=now + timedelta(seconds=timeout + lease_margin()),
            )
    return jobs


def _renew(*, token: uuid.UUID, delivery_ids: list[int], lease: float) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, lease_token=token, status=Status.IN_FLIGHT).update(
        lease_expires_at=timezone.now() + timedelta(seconds=lease)
    )


# --- sending ----------------------------------------------------------------------------------

_signers: dict[str, standardwebhooks.Webhook] = {}
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def _signer(secret: str) -> standardwebhooks.Webhook:
    signer = _signers.get(secret)
    if signer is None:
        if len(_signers) > 1000:
            _signers.clear()
        signer = _signers[secret] = standardwebhooks.Webhook(secret)
    return signer


def sign(*, secret: str, msg_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` of ``body``, made by the standardwebhooks package.

    The package signs text; a body that is not UTF-8 (possible from the
    generic HMAC or GitHub schemes) is signed over its raw bytes with the same
    HMAC construction, so the receiver's check still holds.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return sign_standard(secret, msg_id=msg_id, timestamp=int(at.timestamp()), body=body)
    return _signer(secret).sign(msg_id=msg_id, timestamp=at, data=text)


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is not None and _pool_pid == pid:
        return _pool
    with _pool_lock:
        if _pool is None or _pool_pid != pid:  # inherited across a fork: threads do not survive it
            _pool = ThreadPoolExecutor(max_workers=thread_count(), thread_name_prefix="webhook-delivery")
            _pool_pid = pid
        return _pool


def _send(job: Job) -> Outcome:
    """One HTTP attempt. Never raises: every failure is an outcome."""
    at = timezone.now()
    headers = {
        "content-type": job.content_type,
        "webhook-id": job.public_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secret=job.secret, msg_id=job.public_id, at=at, body=job.body),
    }
    started = time.perf_counter()
    try:
        response = http.request(
            "POST", job.url, target=job.breaker_name, policy="none", timeout=job.timeout,
            headers=headers, content=job.body,
        )
    except CircuitOpenError as exc:
        return Outcome(job, DEFERRED, at, error=str(exc), retry_after=exc.retry_after)
    except http.OutboundTimeout as exc:
        kind, error = Result.TIMEOUT, f"timed out after {job.timeout:g} s: {exc}"
    except http.OutboundError as exc:
        kind, error = Result.NETWORK_ERROR, str(exc)
    except Exception as exc:  # a broken URL or an unexpected client error must not sink the batch
        kind, error = Result.NETWORK_ERROR, f"{type(exc).__name__}: {exc}"
    else:
        latency = time.perf_counter() - started
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(job, Result.SUCCESS, at, status_code=status, latency_ms=round(latency * 1000))
        text = response.content[:ERROR_EXCERPT_CHARS * 4].decode("utf-8", "replace")
        error = _excerpt(f"HTTP {status}: {text}" if text else f"HTTP {status}")
        if status == 410:
            return Outcome(job, Result.GONE, at, status_code=status, latency_ms=round(latency * 1000), error=error)
        return Outcome(
            job, Result.HTTP_ERROR, at, status_code=status, latency_ms=round(latency * 1000), error=error,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    latency = time.perf_counter() - started
    return Outcome(job, kind, at, latency_ms=round(latency * 1000), error=_excerpt(error))


# --- recording --------------------------------------------------------------------------------


@dataclass
class _DeadLetter:
    job: Job
    error: str


def _apply(outcome: Outcome, now: datetime, stats: RunStats) -> tuple[Delivery, _DeadLetter | None]:
    """The delivery's new state for an outcome (not saved)."""
    job = outcome.job
    row = Delivery(pk=job.delivery_id, attempts=job.attempts, lease_token=None, lease_expires_at=None,
                   last_status_code=outcome.status_code, last_error=outcome.error, delivered_at=None,
                   next_attempt_at=None)
    if outcome.kind == DEFERRED:
        stats.deferred += 1
        row.status = Status.PENDING
        row.next_attempt_at = now + timedelta(seconds=max(outcome.retry_after or 0.0, MIN_RETRY_DELAY))
        row.last_error = _excerpt(f"deferred without an attempt: {outcome.error}")
        row.last_status_code = None
        return row, None
    if outcome.kind in (DESTINATION_DISABLED, PAYLOAD_PURGED):
        stats.dead += 1
        row.status = Status.DEAD
        return row, _DeadLetter(job, outcome.error)
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
            error = _excerpt(f"gave up after {row.attempts} attempt{'s' if row.attempts != 1 else ''}: {error}")
        return row, _DeadLetter(job, error)
    stats.failed += 1
    row.status = Status.FAILED
    row.next_attempt_at = now + timedelta(seconds=job.plan.delay(row.attempts, retry_after=outcome.retry_after))
    return row, None


_UPDATE_FIELDS = ["status", "attempts", "next_attempt_at", "lease_token", "lease_expires_at",
                  "last_status_code", "last_error", "delivered_at"]


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
    INSERT INTO {_ATTEMPT_TABLE} (delivery_id, at, result, status_code, latency_ms, error)
    SELECT a.delivery_id, a.at, a.result, a.status_code, a.latency_ms, a.error
    FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::int[], %s::int[], %s::text[])
        AS a(delivery_id, at, result, status_code, latency_ms, error)
    JOIN held ON held.id = a.delivery_id
    RETURNING 1
)
SELECT id FROM held
"""  # noqa: S608 - table names come from model metadata, values are parameters


def _write_postgresql(rows: list[Delivery], attempts: list[DeliveryAttempt], token: uuid.UUID) -> set[int]:
    """Update the rows still held under ``token`` and log their attempts: one statement."""
    params = [
        [r.pk for r in rows], [r.status for r in rows], [r.attempts for r in rows], [r.next_attempt_at for r in rows],
        [r.last_status_code for r in rows], [r.last_error for r in rows], [r.delivered_at for r in rows],
        token,
        [a.delivery_id for a in attempts], [a.at for a in attempts], [a.result for a in attempts],
        [a.status_code for a in attempts], [a.latency_ms for a in attempts], [a.error for a in attempts],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        return {row[0] for row in cursor.fetchall()}


def _write_portable(rows: list[Delivery], attempts: list[DeliveryAttempt], token: uuid.UUID) -> set[int]:
    held = set(
        Delivery.objects.select_for_update()
        .filter(pk__in=[r.pk for r in rows], lease_token=token, status=Status.IN_FLIGHT)
        .values_list("pk", flat=True)
    )
    if held:
        Delivery.objects.bulk_update([r for r in rows if r.pk in held], _UPDATE_FIELDS)
        DeliveryAttempt.objects.bulk_create([a for a in attempts if a.delivery_id in held])
    return held


def _record(outcomes: list[Outcome], *, token: uuid.UUID) -> RunStats:
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
            )
        planned.append((outcome, row, dead_letter, attempt, tally))
    rows = [p[1] for p in planned]
    attempts = [p[3] for p in planned if p[3] is not None]
    with transaction.atomic():
        write = _write_postgresql if connection.vendor == "postgresql" else _write_portable
        held = write(rows, attempts, token)
        dead = [p[2] for p in planned if p[2] is not None and p[1].pk in held]
        if dead:
            _dead_letter(dead, now=now)
    for outcome, row, _, _, tally in planned:
        if row.pk not in held:
            stats.lost += 1
            log.warning("delivery %s: lease lost before its outcome was recorded (%s); the reclaim decides",
                        row.pk, outcome.kind)
            continue
        stats.add(tally)
        name = outcome.job.destination_name
        if outcome.kind == DEFERRED:
            WEBHOOK_DELIVERY_DEFERRED_TOTAL.labels(destination=name).inc()
        elif outcome.is_attempt:
            WEBHOOK_DELIVERY_ATTEMPTS_TOTAL.labels(destination=name, result=outcome.kind).inc()
            if outcome.latency_ms is not None:
                WEBHOOK_DELIVERY_LATENCY_SECONDS.labels(destination=name).observe(outcome.latency_ms / 1000)
    return stats


# --- the DLQ ----------------------------------------------------------------------------------


def _dead_letter(items: list[_DeadLetter], *, now: datetime) -> list[WebhookFailure]:
    """Put dead deliveries into the DLQ (inside the caller's transaction).

    A delivery that already has a failure row (it was replayed and died again)
    gets that row reopened, never a second one. One ``dlq.added`` event per
    destination and direction, listing the ids.
    """
    by_delivery = {item.job.delivery_id: item for item in items}
    latest: dict[int, WebhookFailure] = {}
    for failure in WebhookFailure.objects.filter(delivery_id__in=list(by_delivery)).order_by("-id"):
        latest.setdefault(failure.delivery_id, failure)
    reopened, created = [], []
    for delivery_id, item in by_delivery.items():
        failure = latest.get(delivery_id)
        if failure is not None:
            failure.resolution = WebhookFailure.Resolution.OPEN
            failure.error_message = item.error
            failure.resolved_by = None
            failure.resolved_by_label = ""
            failure.resolution_reason = ""
            failure.resolved_at = None
            reopened.append(failure)
        else:
            job = item.job
            created.append(WebhookFailure(
                delivery_id=delivery_id, source_id=job.source_id, destination_id=job.destination_id,
                provider=job.provider[:100], event_type=job.event_type, payload=job.body,
                error_message=item.error, created_at=now, resolution=WebhookFailure.Resolution.OPEN,
            ))
    if reopened:
        WebhookFailure.objects.bulk_update(
            reopened, ["resolution", "error_message", "resolved_by", "resolved_by_label", "resolution_reason", "resolved_at"]
        )
    if created:
        created = WebhookFailure.objects.bulk_create(created)
    failures = reopened + created

    groups: dict[tuple[int, bool], list[WebhookFailure]] = defaultdict(list)
    names: dict[int, str] = {}
    for failure in failures:
        job = by_delivery[failure.delivery_id].job
        names[job.destination_id] = job.destination_name
        groups[(job.destination_id, job.provider == OUTBOUND_PROVIDER)].append(failure)
    for (destination_id, outbound), group in groups.items():
        ids = sorted(f.pk for f in group)
        target = group[0] if len(group) == 1 else ("webhooks.dlq", f"{len(ids)} items")
        emit("dlq.added", target, {
            "count": len(ids),
            "ids": ids[:500],
            "ids_truncated": len(ids) > 500,
            "destination": names[destination_id],
            "destination_id": destination_id,
            # Outbound portal events that die are not offered to subscribers again (no feedback loop).
            "outbound": outbound,
            "error": group[0].error_message[:200],
        })
        name = names[destination_id]
        transaction.on_commit(partial(DLQ_MESSAGES_ADDED_TOTAL.labels(destination=name).inc, len(ids)))
    if failures:
        from reliability.webhooks.dlq import dlq_depth_check

        dlq_depth_check()
    return failures


def deliveries_dead_letter_for_destination(*, destination_id: int, reason: str, chunk: int = 500) -> int:
    """Dead-letter every waiting (pending/failed) delivery of a destination, in chunks.

    Rows claimed right now by a worker are skipped: their claim sees the
    destination disabled (or gets the 410 again) and dead-letters them itself.
    """
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("event", "event__source", "destination")
                .only(*_CLAIM_FIELDS)
                .filter(destination_id=destination_id, status__in=DUE_STATUSES)
                .order_by("id")[:chunk]
            )
            if not rows:
                return total
            now = timezone.now()
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Status.DEAD, next_attempt_at=None, lease_token=None, lease_expires_at=None, last_error=_excerpt(reason)
            )
            _dead_letter([_DeadLetter(_job_from(r), _excerpt(reason)) for r in rows], now=now)
        total += len(rows)


@transaction.atomic
def webhook_destination_disable_gone(*, destination_id: int, status_code: int = 410, detail: str = "") -> bool:
    """Disable a destination whose receiver answered 410 Gone. Returns False if it was already disabled.

    A configuration change made by the system: one audit entry (actor
    ``system:webhook-delivery``) and one ``webhook.destination_disabled`` event.
    """
    destination = WebhookDestination.objects.select_for_update().get(pk=destination_id)
    if not destination.enabled:
        return False
    now = timezone.now()
    reason = f"the receiver answered {status_code} Gone at {now:%Y-%m-%d %H:%M:%S}Z: it no longer accepts deliveries"
    if detail:
        reason = f"{reason} ({detail[:200]})"
    destination.enabled = False
    destination.disabled_at = now
    destination.disabled_reason = reason
    destination.save(update_fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
    audit_record(
        actor=Actor.for_system(SYSTEM_ACTOR),
        action="webhooks.destination.disable",
        target=destination,
        changes={"enabled": [True, False], "disabled_reason": ["", reason]},
        reason=reason,
        source="delivery",
    )
    emit("webhook.destination_disabled", destination, {
        "name": destination.name, "status_code": status_code, "reason": reason,
    })
    transaction.on_commit(source_cache_clear)
    return True


def _gone(outcomes: list[Outcome]) -> None:
    """After recording: disable each destination that answered 410 and dead-letter what waits for it."""
    seen: set[int] = set()
    for outcome in outcomes:
        job = outcome.job
        if outcome.kind != Result.GONE or job.destination_id in seen:
            continue
        seen.add(job.destination_id)
        webhook_destination_disable_gone(destination_id=job.destination_id, status_code=410,
                                         detail=f"delivery #{job.delivery_id}")
        deliveries_dead_letter_for_destination(
            destination_id=job.destination_id,
            reason=f"destination {job.destination_name!r} disabled: its receiver answered 410 Gone",
        )


# --- running a claimed batch -----------------------------------------------------------------

FLUSH_EVERY = 50
FLUSH_SECONDS = 0.5


def _run(token: uuid.UUID, jobs: list[Job], lease: float) -> RunStats:
    stats = RunStats(claimed=len(jobs))
    ready: list[Outcome] = []
    sendable: list[Job] = []
    now = timezone.now()
    for job in jobs:
        if not job.enabled:
            ready.append(Outcome(job, DESTINATION_DISABLED, now,
                                 error=f"destination {job.destination_name!r} is disabled"))
        elif job.purged:
            ready.append(Outcome(job, PAYLOAD_PURGED, now, error="the payload was purged by retention"))
        else:
            sendable.append(job)
    recorded: list[Outcome] = []

    def flush() -> None:
        if ready:
            stats.add(_record(ready, token=token))
            recorded.extend(ready)
            ready.clear()

    if len(sendable) == 1:
        ready.append(_send(sendable[0]))  # no pool hop for a lone delivery
    elif sendable:
        pool = _executor()
        pending: dict[Future, Job] = {pool.submit(_send, job): job for job in sendable}
        renew_every = max(lease / 3, 1.0)
        next_renew = time.monotonic() + renew_every
        next_flush = time.monotonic() + FLUSH_SECONDS
        while pending:
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    ready.append(future.result())
                except Exception as exc:  # _send never raises; belt and braces
                    ready.append(Outcome(job, Result.NETWORK_ERROR, timezone.now(), error=_excerpt(repr(exc))))
            clock = time.monotonic()
            if pending and (len(ready) >= FLUSH_EVERY or (ready and clock >= next_flush)):
                flush()
                next_flush = clock + FLUSH_SECONDS
            if pending and clock >= next_renew:
                _renew(token=token, delivery_ids=[j.delivery_id for j in pending.values()], lease=lease)
                next_renew = clock + renew_every
    flush()
    if any(o.kind == Result.GONE for o in recorded):
        _gone(recorded)
    return stats


# --- public entry points ---------------------------------------------------------------------


def deliveries_attempt(
    *,
    delivery_ids: Iterable[int] | None = None,
    event_ids: Iterable[int] | None = None,
    limit: int | None = None,
) -> RunStats:
    """Claim and send the given deliveries (or the deliveries of the given events) that are due.

    What is not due, or claimed by someone else, is skipped: duplicate or
    concurrent calls never double-send.
    """
    size = limit or batch_size()
    stats = RunStats()
    if delivery_ids is not None:
        ids = sorted({int(v) for v in delivery_ids})
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            token, jobs, lease = _claim(now=timezone.now(), limit=len(chunk), delivery_ids=chunk)
            if jobs:
                stats.add(_run(token, jobs, lease))
    if event_ids is not None:
        ids = sorted({int(v) for v in event_ids})
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            while True:  # an event has one delivery per routed destination: usually one claim
                token, jobs, lease = _claim(now=timezone.now(), limit=size, event_ids=chunk)
                if jobs:
                    stats.add(_run(token, jobs, lease))
                if len(jobs) < size:
                    break
    return stats


def delivery_attempt(*, delivery_id: int) -> Delivery:
    """Claim one delivery exclusively and send it if it is due; returns its current row."""
    deliveries_attempt(delivery_ids=[delivery_id])
    return Delivery.objects.get(pk=delivery_id)


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
            .only(*_CLAIM_FIELDS, "lease_expires_at")
            .filter(status=Status.IN_FLIGHT, lease_expires_at__lt=now)
            .order_by("lease_expires_at")[:limit]
        )
        if not rows:
            return 0
        updates, attempts, dead = [], [], []
        for row in rows:
            job = _job_from(row)
            error = f"the worker holding this delivery stopped answering: lease expired at {row.lease_expires_at:%H:%M:%S}Z"
            attempts.append(DeliveryAttempt(delivery_id=row.pk, at=now, result=Result.LEASE_EXPIRED, error=error))
            new = Delivery(pk=row.pk, attempts=row.attempts + 1, lease_token=None, lease_expires_at=None,
                           last_status_code=None, last_error=error, delivered_at=None)
            if new.attempts >= job.budget:
                new.status, new.next_attempt_at = Status.DEAD, None
                dead.append(_DeadLetter(job, _excerpt(f"gave up after {new.attempts} attempts: {error}")))
            else:
                new.status, new.next_attempt_at = Status.FAILED, now
            updates.append(new)
            WEBHOOK_DELIVERY_ATTEMPTS_TOTAL.labels(destination=job.destination_name, result=Result.LEASE_EXPIRED).inc()
        Delivery.objects.bulk_update(updates, _UPDATE_FIELDS)
        DeliveryAttempt.objects.bulk_create(attempts)
        if dead:
            _dead_letter(dead, now=now)
    log.warning("reclaimed %d webhook deliveries whose lease expired", len(rows))
    return len(rows)


def deliveries_sweep(*, max_seconds: float | None = None, limit: int | None = None) -> RunStats:
    """The beat sweep: reclaim expired leases, then claim and send due deliveries in batches.

    Keeps going while full batches come back, for at most ``max_seconds``
    (``WEBHOOK_SWEEP_MAX_SECONDS``, default 20): beat starts another sweep every
    second and concurrent sweeps share the work through ``SKIP LOCKED``.
    """
    budget = float(max_seconds if max_seconds is not None else _setting("WEBHOOK_SWEEP_MAX_SECONDS", 20))
    size = limit or batch_size()
    deadline = time.monotonic() + budget
    stats = RunStats(reclaimed=deliveries_reclaim_expired())
    while True:
        token, jobs, lease = _claim(now=timezone.now(), limit=size)
        if not jobs:
            break
        stats.add(_run(token, jobs, lease))
        if len(jobs) < size or time.monotonic() >= deadline:
            break
    return stats


# --- dispatch (enqueue after commit) ---------------------------------------------------------

_DISPATCH_BREAKER_CONFIG = BreakerConfig(minimum_calls=3, failure_rate_threshold=50.0, open_duration=10.0,
                                         half_open_permitted_calls=1, success_threshold=1)
_dispatch_declared = False


def _dispatch_breaker():
    global _dispatch_declared
    if not _dispatch_declared:
        _dispatch_declared = True
        return declare(DISPATCH_BREAKER, _DISPATCH_BREAKER_CONFIG)
    return breaker(DISPATCH_BREAKER)


def _enqueue(kind: str, ids: list[int]) -> None:
    from reliability.webhooks.tasks import deliver_batch

    size = batch_size()
    guard = _dispatch_breaker()
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        try:
            # retry=False: a broker outage must not hold the request that accepted the webhook;
            # the breaker stops even trying after a few failures. The sweep delivers them anyway.
            guard.call(deliver_batch.apply_async, kwargs={kind: chunk}, retry=False)
        except Exception as exc:
            log.warning("could not enqueue %d webhook deliveries (%s); the sweep will pick them up", len(ids) - start, exc)
            return


def deliveries_dispatch(delivery_ids: Iterable[int]) -> None:
    """Hand deliveries to the workers once the caller's transaction commits (batched tasks).

    Only a prompt nudge: the beat sweep finds every due delivery anyway, so a
    lost message delays a delivery by at most a sweep interval.
    """
    ids = sorted({int(i) for i in delivery_ids})
    if ids:
        transaction.on_commit(partial(_enqueue, "delivery_ids", ids), robust=True)


class _DispatchBuffer:
    """Coalesces the on-commit nudges of the hot paths into few tasks.

    Ingestion accepts hundreds of webhooks a second per process, and
    publishing one Celery message costs ~1 ms of CPU (bench/webhooks), more
    than the ingest itself. The request only adds its event id here; a daemon
    thread publishes the gathered ids as ``deliver_batch`` tasks: ``WINDOW``
    after the first id when traffic is quiet (a prompt delivery), and at most
    once per ``WEBHOOK_DISPATCH_INTERVAL`` seconds when it is busy (bounded
    broker work, bigger batches the worker runs on its threads). A process
    that dies with ids buffered loses only the nudge: the beat sweep delivers
    those events within a second.
    """

    WINDOW = 0.01

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_flush = 0.0

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.update(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.WINDOW)
            pause = dispatch_interval() - (time.monotonic() - self._last_flush)
            if pause > 0:
                time.sleep(pause)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the thread die; the sweep is the backstop
                log.exception("webhook dispatch flush failed")

    def flush(self) -> None:
        with self._lock:
            ids, self._ids = sorted(self._ids), set()
        self._last_flush = time.monotonic()
        if ids:
            _enqueue("event_ids", ids)


_buffer = _DispatchBuffer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_buffer._reset)  # threads and held locks do not survive a fork
atexit.register(_buffer.flush)  # management commands exit right after their work


def dispatch_flush() -> None:
    """Publish buffered event dispatches now (tests, shutdown)."""
    _buffer.flush()


def deliveries_dispatch_for_events(event_ids: Iterable[int]) -> None:
    """Like ``deliveries_dispatch`` for every delivery of these events (ingestion, outbound events).

    On commit the ids go to the per-process dispatch buffer (one task per
    ~10 ms window), so the accepting request pays no broker round trip.
    """
    ids = sorted({int(i) for i in event_ids})
    if ids:
        transaction.on_commit(partial(_buffer.add, ids), robust=True)

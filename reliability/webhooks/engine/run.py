"""Running: claim due deliveries, send them on the pool, record the outcomes; the public entry points.

While a batch runs the main thread renews its lease and flushes outcomes
every ``FLUSH_EVERY`` results or ``FLUSH_SECONDS``. A lease that expires (the
worker died) is reclaimed by the sweep (``claim.deliveries_reclaim_expired``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait

from django.utils import timezone

from reliability.webhooks.engine.claim import claim, deliveries_reclaim_expired, renew
from reliability.webhooks.engine.jobs import (
    DESTINATION_DISABLED,
    PAYLOAD_PURGED,
    Job,
    Outcome,
    Result,
    RunStats,
)
from reliability.webhooks.engine.policy import batch_size, excerpt, sweep_max_seconds
from reliability.webhooks.engine.record import destinations_gone, record
from reliability.webhooks.engine.send import executor, send
from reliability.webhooks.models import Delivery

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
            stats.add(record(ready, token=token))
            recorded.extend(ready)
            ready.clear()

    if len(sendable) == 1:
        ready.append(send(sendable[0]))  # no pool hop for a lone delivery
    elif sendable:
        pool = executor()
        pending: dict[Future, Job] = {pool.submit(send, job): job for job in sendable}
        renew_every = max(lease / 3, 1.0)
        next_renew = time.monotonic() + renew_every
        next_flush = time.monotonic() + FLUSH_SECONDS
        while pending:
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    ready.append(future.result())
                except Exception as exc:  # send() never raises; belt and braces
                    ready.append(Outcome(job, Result.NETWORK_ERROR, timezone.now(), error=excerpt(repr(exc))))
            clock = time.monotonic()
            if pending and (len(ready) >= FLUSH_EVERY or (ready and clock >= next_flush)):
                flush()
                next_flush = clock + FLUSH_SECONDS
            if pending and clock >= next_renew:
                renew(token=token, delivery_ids=[j.delivery_id for j in pending.values()], lease=lease)
                next_renew = clock + renew_every
    flush()
    if any(o.kind == Result.GONE for o in recorded):
        destinations_gone(recorded)
    return stats


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
            token, jobs, lease = claim(now=timezone.now(), limit=len(chunk), delivery_ids=chunk)
            if jobs:
                stats.add(_run(token, jobs, lease))
    if event_ids is not None:
        ids = sorted({int(v) for v in event_ids})
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            while True:  # an event has one delivery per routed destination: usually one claim
                token, jobs, lease = claim(now=timezone.now(), limit=size, event_ids=chunk)
                if jobs:
                    stats.add(_run(token, jobs, lease))
                if len(jobs) < size:
                    break
    return stats


def delivery_attempt(*, delivery_id: int) -> Delivery:
    """Claim one delivery exclusively and send it if it is due; returns its current row."""
    deliveries_attempt(delivery_ids=[delivery_id])
    return Delivery.objects.get(pk=delivery_id)


def deliveries_sweep(*, max_seconds: float | None = None, limit: int | None = None) -> RunStats:
    """The beat sweep: reclaim expired leases, then claim and send due deliveries in batches.

    Keeps going while full batches come back, for at most ``max_seconds``
    (``WEBHOOK_SWEEP_MAX_SECONDS``, default 20): beat starts another sweep every
    second and concurrent sweeps share the work through ``SKIP LOCKED``.
    """
    budget = float(max_seconds if max_seconds is not None else sweep_max_seconds())
    size = limit or batch_size()
    deadline = time.monotonic() + budget
    stats = RunStats(reclaimed=deliveries_reclaim_expired())
    while True:
        token, jobs, lease = claim(now=timezone.now(), limit=size)
        if not jobs:
            break
        stats.add(_run(token, jobs, lease))
        if len(jobs) < size or time.monotonic() >= deadline:
            break
    return stats

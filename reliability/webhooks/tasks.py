"""Celery entry points of the webhook gateway: thin, idempotent, each calls one service or the engine.

Nothing imports this module to publish: ``dispatch`` sends ``webhooks.deliver_batch``
by name. ``acks_late`` and ``reject_on_worker_lost`` are global settings: a
task whose worker dies is redelivered, and finds its deliveries still leased
(a no-op) or already reclaimed by the sweep.
"""

from __future__ import annotations

from celery import shared_task

from reliability.webhooks.engine import deliveries_attempt, deliveries_sweep
from reliability.webhooks.names import (
    TASK_DELIVER_BATCH,
    TASK_DLQ_PROCESS,
    TASK_DLQ_PURGE_RESOLVED,
    TASK_PURGE_PAYLOADS,
    TASK_SWEEP_DELIVERIES,
)
from reliability.webhooks.services.dlq_recovery import dlq_process, dlq_purge_resolved
from reliability.webhooks.services.retention import webhook_payloads_purge


@shared_task(name=TASK_DELIVER_BATCH, ignore_result=True)
def deliver_batch(delivery_ids: list[int] | None = None, event_ids: list[int] | None = None) -> dict:
    """Claim and send these deliveries (or these events' deliveries) if due; skips what others hold."""
    return deliveries_attempt(delivery_ids=delivery_ids, event_ids=event_ids).as_dict()


# expires: a sweep that waited behind a long one is redundant (beat queues one a second).
@shared_task(name=TASK_SWEEP_DELIVERIES, ignore_result=True, expires=10)
def sweep_deliveries() -> dict:
    """Every second (beat): reclaim expired leases, deliver what is due."""
    return deliveries_sweep().as_dict()


@shared_task(name=TASK_PURGE_PAYLOADS, ignore_result=True, expires=1800)
def purge_delivered_payloads() -> int:
    """Hourly (beat): empty the bodies of delivered events older than WEBHOOK_RETENTION_DAYS."""
    return webhook_payloads_purge()


def _probe(delivery_ids: list[int]) -> dict:
    return deliveries_attempt(delivery_ids=delivery_ids).as_dict()


@shared_task(name=TASK_DLQ_PROCESS, ignore_result=True, expires=240)
def dlq_process_task() -> dict:
    """Every 5 minutes (beat): replay what recovered destinations may take back, discard what is past discard_after."""
    return dlq_process(probe=_probe).as_dict()


@shared_task(name=TASK_DLQ_PURGE_RESOLVED, ignore_result=True, expires=3600)
def dlq_purge_resolved_task() -> int:
    """Daily (beat): delete resolved DLQ items older than DLQ_RESOLVED_RETENTION_DAYS (never open ones)."""
    return dlq_purge_resolved()

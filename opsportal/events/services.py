"""emit(): write an outbox event inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from opsportal.events.models import OutboxEvent


def _aggregate(aggregate: Any) -> tuple[str, str]:
    if isinstance(aggregate, models.Model):
        return aggregate._meta.label_lower, str(aggregate.pk)
    if isinstance(aggregate, tuple) and len(aggregate) == 2:
        return str(aggregate[0]), str(aggregate[1])
    raise TypeError("aggregate must be a model instance or a (type, id) pair")


def emit(type: str, aggregate: Any, data: dict | None = None) -> OutboxEvent:  # noqa: A002 - the contract's name
    """Record ``type`` for ``aggregate``; it is relayed after the transaction commits."""
    if not connection.in_atomic_block:
        raise RuntimeError("emit() must be called inside the service's transaction")
    aggregate_type, aggregate_id = _aggregate(aggregate)
    event = OutboxEvent.objects.create(
        type=str(type),  # a names.Event member is stored as its plain string
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        data=data or {},
        created_at=timezone.now(),
    )
    # robust: the change is committed; a relay failure is logged and left to the sweep.
    transaction.on_commit(lambda: _relay_after_commit(event.pk), robust=True)
    return event


def _relay_after_commit(event_id: int) -> None:
    from opsportal.events.relay import relay_event_ids

    relay_event_ids([event_id])

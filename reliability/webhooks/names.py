"""The webhooks app's names, in one spelling: audit actions and outbox event types.

Services use these constants instead of string literals. ``Action`` values are
the ``AuditEntry.action`` of each operator or system change (prefix: the app,
``webhooks.``; the DLQ keeps its own ``dlq.`` prefix). ``Event`` values are
outbox event types; their first segment is the dashboard domain the event is
relayed to (``webhook`` → ``ops.webhook``, ``dlq`` → ``ops.dlq``), which the
/ops/ panels and outbound subscribers rely on. Both sets are public contracts:
never rename a value, add new ones.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions written by the webhooks services."""

    SOURCE_CREATE = "webhooks.source.create"
    SOURCE_UPDATE = "webhooks.source.update"
    SOURCE_DELETE = "webhooks.source.delete"
    DESTINATION_CREATE = "webhooks.destination.create"
    DESTINATION_UPDATE = "webhooks.destination.update"
    DESTINATION_DISABLE = "webhooks.destination.disable"
    DESTINATION_DELETE = "webhooks.destination.delete"
    PAYLOADS_PURGE = "webhooks.payloads.purge"
    DLQ_RETRY = "dlq.retry"
    DLQ_DISCARD = "dlq.discard"
    DLQ_PURGE = "dlq.purge"


class Event(enum.StrEnum):
    """Outbox event types emitted by the webhooks services and engine."""

    SOURCE_CREATED = "webhook.source_created"
    SOURCE_UPDATED = "webhook.source_updated"
    SOURCE_DELETED = "webhook.source_deleted"
    DESTINATION_CREATED = "webhook.destination_created"
    DESTINATION_UPDATED = "webhook.destination_updated"
    DESTINATION_DISABLED = "webhook.destination_disabled"
    DESTINATION_DELETED = "webhook.destination_deleted"
    PAYLOADS_PURGED = "webhook.payloads_purged"
    DLQ_ADDED = "dlq.added"
    DLQ_RETRIED = "dlq.retried"
    DLQ_DISCARDED = "dlq.discarded"
    DLQ_THRESHOLD_EXCEEDED = "dlq.threshold_exceeded"
    DLQ_THRESHOLD_CLEARED = "dlq.threshold_cleared"
    DLQ_PURGED = "dlq.purged"


# Celery task names: dispatch publishes by name, so it never imports tasks.py.
TASK_DELIVER_BATCH = "webhooks.deliver_batch"
TASK_SWEEP_DELIVERIES = "webhooks.sweep_deliveries"
TASK_PURGE_PAYLOADS = "webhooks.purge_delivered_payloads"
TASK_DLQ_PROCESS = "webhooks.dlq_process"
TASK_DLQ_PURGE_RESOLVED = "webhooks.dlq_purge_resolved"

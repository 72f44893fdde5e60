"""The webhook gateway's services: with the documented engine, the only code that writes its rows.

- ``config``: sources, destinations, routes (operator actions: audited, one event each);
- ``ingest``: storing verified webhooks, sampling rejections (traffic: not audited);
- ``subscriptions``: portal events recorded for subscribed destinations;
- ``dlq``: retry, discard, dead-lettering, the depth alarm;
- ``retention``: purging delivered payloads.

The public import path ``reliability.webhooks.services`` re-exports them.
"""

from reliability.webhooks.services.config import (
    DESTINATION_FIELDS,
    MAX_SECRETS,
    SOURCE_FIELDS,
    RouteSpec,
    WebhookConfigInUse,
    webhook_destination_create,
    webhook_destination_delete,
    webhook_destination_disable,
    webhook_destination_update,
    webhook_source_create,
    webhook_source_delete,
    webhook_source_update,
)
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry
from reliability.webhooks.services.ingest import IngestResult, webhook_event_ingest, webhook_rejection_record
from reliability.webhooks.services.retention import webhook_payloads_purge
from reliability.webhooks.services.subscriptions import outbound_event_relay, webhook_outbound_event_record

__all__ = [
    "DESTINATION_FIELDS",
    "MAX_SECRETS",
    "SOURCE_FIELDS",
    "DlqItemNotOpen",
    "IngestResult",
    "RouteSpec",
    "WebhookConfigInUse",
    "dlq_discard",
    "dlq_retry",
    "outbound_event_relay",
    "webhook_destination_create",
    "webhook_destination_delete",
    "webhook_destination_disable",
    "webhook_destination_update",
    "webhook_event_ingest",
    "webhook_outbound_event_record",
    "webhook_payloads_purge",
    "webhook_rejection_record",
    "webhook_source_create",
    "webhook_source_delete",
    "webhook_source_update",
]

"""Reads of the webhook gateway: configuration (and the ingest cache) and the dead-letter queue."""

from reliability.webhooks.selectors.config import (
    SourceConfig,
    SourceRoute,
    destination_list,
    destinations_subscribed_to,
    source_cache_clear,
    source_config_load,
    source_for_ingest,
    source_get,
    source_list,
    subscribed,
)
from reliability.webhooks.selectors.dlq import (
    DlqFilter,
    DlqFilterError,
    alert_threshold,
    dlq_depth,
    dlq_get,
    dlq_list,
    dlq_matching,
    dlq_open,
)

__all__ = [
    "DlqFilter",
    "DlqFilterError",
    "SourceConfig",
    "SourceRoute",
    "alert_threshold",
    "destination_list",
    "destinations_subscribed_to",
    "dlq_depth",
    "dlq_get",
    "dlq_list",
    "dlq_matching",
    "dlq_open",
    "source_cache_clear",
    "source_config_load",
    "source_for_ingest",
    "source_get",
    "source_list",
    "subscribed",
]

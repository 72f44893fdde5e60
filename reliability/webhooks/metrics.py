"""Prometheus metrics of the webhook gateway."""

from prometheus_client import Counter, Histogram

# result: accepted, duplicate, bad_signature, stale, malformed, too_large, unknown_source.
# source is the slug of a configured source, or "-" for unknown slugs (never the
# caller's text: a slug scan must not create label values).
WEBHOOK_INGEST_TOTAL = Counter(
    "webhook_ingest",
    "Webhook ingestion requests by source and result",
    ["source", "result"],
)

# The lean chain (opsportal.handlers) skips django-prometheus' per-request HTTP
# metrics; this is ingestion's latency, from the view's first line to its answer.
WEBHOOK_INGEST_DURATION_SECONDS = Histogram(
    "webhook_ingest_duration_seconds",
    "Time to verify, store and answer a webhook (all results)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

UNKNOWN_SOURCE_LABEL = "-"


def ingest_counted(source: str, result: str) -> None:
    WEBHOOK_INGEST_TOTAL.labels(source=source, result=result).inc()


# --- delivery ----------------------------------------------------------------------------
# destination: the configured destination's name (a bounded, operator-chosen set).
# result: success, http_error, timeout, network_error, gone, lease_expired.
WEBHOOK_DELIVERY_ATTEMPTS_TOTAL = Counter(
    "webhook_delivery_attempts",
    "Webhook delivery attempts by destination and result (breaker deferrals are not attempts)",
    ["destination", "result"],
)
WEBHOOK_DELIVERY_LATENCY_SECONDS = Histogram(
    "webhook_delivery_latency_seconds",
    "Duration of webhook delivery attempts that got a response or timed out",
    ["destination"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
WEBHOOK_DELIVERY_DEFERRED_TOTAL = Counter(
    "webhook_delivery_deferred",
    "Due deliveries deferred without an attempt because the destination's circuit breaker was open",
    ["destination"],
)
DLQ_MESSAGES_ADDED_TOTAL = Counter(
    "dlq_messages_added",
    "Deliveries put into (or back into) the dead-letter queue, by destination",
    ["destination"],
)

"""Prometheus metrics of the webhook gateway.

The DLQ depth (``dlq_messages_total{class}``) is one ``GROUP BY`` at scrape time, never
maintained by the write paths. In a single process (uvicorn, the embedded
runner) a custom collector runs it; under gunicorn with
``PROMETHEUS_MULTIPROC_DIR`` the /metrics view reads only the per-process
files, so there a ``request_started`` receiver runs the same COUNT just before
a /metrics request and sets a ``mostrecent`` gauge.
"""

import logging
import os

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily

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


# --- the DLQ ---------------------------------------------------------------------------------

log = logging.getLogger("reliability.webhooks.dlq")

DEPTH_NAME = "dlq_messages_total"
DEPTH_HELP = "Open items in the webhook dead-letter queue, by failure class."

# source: the interface that asked (admin, dashboard, api, cli, …): a fixed set.
# class: a FailureClass value; result: replayed | waiting (destination not healthy yet) | probe_failed.
DLQ_AUTO_REPLAYS_TOTAL = Counter(
    "dlq_auto_replays",
    "DLQ items the automatic processor handed back to delivery (or could not yet), by failure class and result",
    ["class", "result"],
)
DLQ_RETRIES_TOTAL = Counter("dlq_retries", "DLQ items handed back to delivery by a retry.", ["source"])


def retries_counted(source: str, count: int) -> None:
    DLQ_RETRIES_TOTAL.labels(source=source).inc(count)


def _depth() -> dict[str, int] | None:
    """Open items per failure class (every class present, zeros included): one GROUP BY."""
    from reliability.webhooks.classes import FailureClass
    from reliability.webhooks.selectors.dlq import dlq_depth_by_class

    try:
        counts = dlq_depth_by_class()
    except Exception:  # a scrape must answer even when the database does not
        log.warning("could not count the DLQ for /metrics", exc_info=True)
        return None
    out = {c: 0 for c in FailureClass.values}
    for failure_class, n in counts.items():
        out[failure_class or "unclassified"] = out.get(failure_class or "unclassified", 0) + n
    return out


class DlqDepthCollector:
    def describe(self):
        return []  # do not query the database at registration

    def collect(self):
        depth = _depth()
        if depth is not None:
            family = GaugeMetricFamily(DEPTH_NAME, DEPTH_HELP, labels=["class"])
            for failure_class, n in depth.items():
                family.add_metric([failure_class], n)
            yield family


_gauge: Gauge | None = None


def _refresh_before_scrape(sender, environ=None, scope=None, **kwargs) -> None:
    path = (environ or {}).get("PATH_INFO") if environ is not None else (scope or {}).get("path")
    if path == "/metrics" and _gauge is not None:
        depth = _depth()
        if depth is not None:
            for failure_class, n in depth.items():
                _gauge.labels(**{"class": failure_class}).set(n)


_registered = False


def register() -> None:
    """Called from the webhooks AppConfig.ready()."""
    global _registered, _gauge
    if _registered:
        return
    _registered = True
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
        from django.core.signals import request_started

        _gauge = Gauge(DEPTH_NAME, DEPTH_HELP, ["class"], multiprocess_mode="mostrecent")
        request_started.connect(_refresh_before_scrape, dispatch_uid="webhooks.dlq_depth_before_scrape")
    else:
        REGISTRY.register(DlqDepthCollector())

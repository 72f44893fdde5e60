"""DLQ metrics: ``dlq_messages_total`` (open items, a gauge) and ``dlq_retries_total``.

The depth is one ``COUNT`` at scrape time, never maintained by the write
paths. In a single process (uvicorn, the embedded runner) a custom collector
runs it; under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` the /metrics view
reads only the per-process files, so there a ``request_started`` receiver runs
the same COUNT just before a /metrics request and sets a ``mostrecent`` gauge.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import Counter, Gauge
from prometheus_client.core import REGISTRY, GaugeMetricFamily

log = logging.getLogger("reliability.webhooks.dlq")

DEPTH_NAME = "dlq_messages_total"
DEPTH_HELP = "Open items in the webhook dead-letter queue."

# source: the interface that asked (admin, dashboard, api, cli, …): a fixed set.
DLQ_RETRIES_TOTAL = Counter("dlq_retries", "DLQ items handed back to delivery by a retry.", ["source"])


def retries_counted(source: str, count: int) -> None:
    DLQ_RETRIES_TOTAL.labels(source=source).inc(count)


def _depth() -> int | None:
    from reliability.webhooks.dlq_selectors import dlq_depth

    try:
        return dlq_depth()
    except Exception:  # a scrape must answer even when the database does not
        log.warning("could not count the DLQ for /metrics", exc_info=True)
        return None


class DlqDepthCollector:
    def describe(self):
        return []  # do not query the database at registration

    def collect(self):
        depth = _depth()
        if depth is not None:
            yield GaugeMetricFamily(DEPTH_NAME, DEPTH_HELP, value=depth)


_gauge: Gauge | None = None


def _refresh_before_scrape(sender, environ=None, scope=None, **kwargs) -> None:
    path = (environ or {}).get("PATH_INFO") if environ is not None else (scope or {}).get("path")
    if path == "/metrics" and _gauge is not None:
        depth = _depth()
        if depth is not None:
            _gauge.set(depth)


_registered = False


def register() -> None:
    """Called from the webhooks AppConfig.ready()."""
    global _registered, _gauge
    if _registered:
        return
    _registered = True
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
        from django.core.signals import request_started

        _gauge = Gauge(DEPTH_NAME, DEPTH_HELP, multiprocess_mode="mostrecent")
        request_started.connect(_refresh_before_scrape, dispatch_uid="webhooks.dlq_depth_before_scrape")
    else:
        REGISTRY.register(DlqDepthCollector())

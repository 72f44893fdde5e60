"""Prometheus metrics of incidents and alert intake."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

# source: alertmanager, events, portal. result: accepted, malformed, unauthorized, unavailable.
ALERTS_RECEIVED = Counter("alerts_received", "Alerts received by source and result", ["source", "result"])
INCIDENTS_TOTAL = Counter("incidents", "Incidents opened (new or reopened) by severity and source", ["severity", "source"])
# channel: slack, webhook, email, sms, user. result: sent, failed, fell_back, cancelled, retrying.
NOTIFICATIONS_TOTAL = Counter("notifications", "Pages sent by channel kind and result", ["channel", "result"])
_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
INCIDENT_ACK_SECONDS = Histogram("incident_ack_seconds", "Time from start to acknowledgement (MTTA)",
                                 ["severity"], buckets=_BUCKETS)
INCIDENT_RESOLVE_SECONDS = Histogram("incident_resolve_seconds", "Time from start to resolution (MTTR)",
                                     ["severity"], buckets=_BUCKETS)


class _OpenIncidentsCollector:
    """``incidents_open{severity}`` read from the database at scrape time (always true, never drifts)."""

    def describe(self):
        # registering asks for the names; without this it would call collect() and query at start-up
        return [GaugeMetricFamily("incidents_open", "Open (not resolved) incidents by severity", labels=["severity"])]

    def collect(self):
        family = GaugeMetricFamily("incidents_open", "Open (not resolved) incidents by severity", labels=["severity"])
        try:
            from reliability.incidents.selectors import open_counts_by_severity

            counts = open_counts_by_severity()
        except Exception:  # a scrape must never fail because the database is away
            return
        for severity, count in sorted(counts.items()):
            family.add_metric([severity], count)
        yield family


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(_OpenIncidentsCollector())
        _registered = True

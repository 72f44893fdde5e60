"""Prometheus metrics of SLOs (issue #12 item 10; the Grafana SLO panels query these names).

``slo_error_budget_remaining_ratio{slo}`` and ``slo_burn_rate{slo,window}`` are read from the
persisted statuses at scrape time (true in every process, gunicorn workers included);
``slo_evaluation_duration_seconds`` is a histogram observed by the evaluation cycle.
"""

from __future__ import annotations

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

EVALUATION_SECONDS = Histogram("slo_evaluation_duration_seconds", "Duration of one SLO evaluation cycle (all SLOs)",
                               buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))


def observe_status(slug: str, evaluation) -> None:
    """Hook for the cycle (nothing kept in memory: the collector reads the statuses)."""


class _StatusCollector:
    def _families(self):
        budget = GaugeMetricFamily("slo_error_budget_remaining_ratio",
                                   "Error budget remaining over the SLO window (1 = untouched, ≤ 0 = exhausted)",
                                   labels=["slo"])
        rate = GaugeMetricFamily("slo_burn_rate", "Error-budget burn rate over a window (1 = exactly on budget)",
                                 labels=["slo", "window"])
        return budget, rate

    def describe(self):
        return list(self._families())

    def collect(self):
        budget, rate = self._families()
        try:
            from reliability.slos.selectors import status_rows

            rows = status_rows()
        except Exception:  # a scrape must never fail because the database is away
            return
        for slug, remaining, burn_rates in rows:
            if remaining is not None:
                budget.add_metric([slug], remaining)
            for window, value in sorted((burn_rates or {}).items()):
                if value is not None:
                    rate.add_metric([slug, window], value)
        yield budget
        yield rate


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(_StatusCollector())
        _registered = True

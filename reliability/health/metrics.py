"""Prometheus metrics of the probes.

``health_check_status{check}`` (0 ok, 1 warn, 2 fail) and ``health_check_duration_seconds{check}``
(the latest probe's duration) are read from the ``HealthCheck`` rows at scrape time, so every
web process's ``/metrics`` tells the truth although the probes run in a worker. The worker that
runs the probes also observes ``health_probe_duration_seconds{check}`` (a histogram) in-process.
"""

from __future__ import annotations

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2}
PROBE_DURATION = Histogram("health_probe_duration_seconds", "Duration of each probe, observed by the probing worker",
                           ["check"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def observe(results) -> None:
    for r in results:
        PROBE_DURATION.labels(check=r.check).observe(max(0.0, r.latency_ms) / 1000)


class _HealthCollector:
    def describe(self):
        return [GaugeMetricFamily("health_check_status", "Latest status per check (0 ok, 1 warn, 2 fail)",
                                  labels=["check"]),
                GaugeMetricFamily("health_check_duration_seconds", "Duration of the latest probe per check",
                                  labels=["check"])]

    def collect(self):
        try:
            from reliability.health.models import HealthCheck

            rows = list(HealthCheck.objects.values_list("name", "status", "latency_ms"))
        except Exception:  # a scrape never fails because the database is away
            return
        status = GaugeMetricFamily("health_check_status", "Latest status per check (0 ok, 1 warn, 2 fail)",
                                   labels=["check"])
        duration = GaugeMetricFamily("health_check_duration_seconds", "Duration of the latest probe per check",
                                     labels=["check"])
        for name, value, latency_ms in sorted(rows):
            status.add_metric([name], STATUS_VALUE.get(value, 2))
            duration.add_metric([name], (latency_ms or 0.0) / 1000)
        yield status
        yield duration


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(_HealthCollector())
        _registered = True

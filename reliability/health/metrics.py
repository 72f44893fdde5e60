"""Prometheus metrics of the probes.

``health_check_status{check}`` (0 ok, 1 warn, 2 fail) and ``health_check_duration_seconds{check}``
(the latest probe's duration) are read from the ``HealthCheck`` rows at scrape time, so every
web process's ``/metrics`` tells the truth although the probes run in a worker. The worker that
runs the probes also observes ``health_probe_duration_seconds{check}`` (a histogram) in-process.
Under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` custom collectors are not aggregated, so there a
``request_started`` receiver reads the rows just before a /metrics request and sets two
``mostrecent`` gauges instead (the webhooks' DLQ depth does the same).
"""

from __future__ import annotations

import os

from prometheus_client import Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2}
PROBE_DURATION = Histogram("health_probe_duration_seconds", "Duration of each probe, observed by the probing worker",
                           ["check"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def observe(results) -> None:
    for r in results:
        PROBE_DURATION.labels(check=r.check).observe(max(0.0, r.latency_ms) / 1000)


STATUS_HELP = "Latest status per check (0 ok, 1 warn, 2 fail)"
DURATION_HELP = "Duration of the latest probe per check"


def _rows() -> list[tuple[str, str, float]] | None:
    try:
        from reliability.health.models import HealthCheck

        return list(HealthCheck.objects.values_list("name", "status", "latency_ms"))
    except Exception:  # a scrape never fails because the database is away
        return None


class _HealthCollector:
    def describe(self):
        return [GaugeMetricFamily("health_check_status", STATUS_HELP, labels=["check"]),
                GaugeMetricFamily("health_check_duration_seconds", DURATION_HELP, labels=["check"])]

    def collect(self):
        rows = _rows()
        if rows is None:
            return
        status = GaugeMetricFamily("health_check_status", STATUS_HELP, labels=["check"])
        duration = GaugeMetricFamily("health_check_duration_seconds", DURATION_HELP, labels=["check"])
        for name, value, latency_ms in sorted(rows):
            status.add_metric([name], STATUS_VALUE.get(value, 2))
            duration.add_metric([name], (latency_ms or 0.0) / 1000)
        yield status
        yield duration


_gauges: tuple[Gauge, Gauge] | None = None


def _refresh_before_scrape(sender, environ=None, scope=None, **kwargs) -> None:
    path = (environ or {}).get("PATH_INFO") if environ is not None else (scope or {}).get("path")
    if path != "/metrics" or _gauges is None:
        return
    rows = _rows()
    for name, value, latency_ms in rows or []:
        _gauges[0].labels(check=name).set(STATUS_VALUE.get(value, 2))
        _gauges[1].labels(check=name).set((latency_ms or 0.0) / 1000)


_registered = False


def register() -> None:
    global _registered, _gauges
    if _registered:
        return
    _registered = True
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
        from django.core.signals import request_started

        _gauges = (Gauge("health_check_status", STATUS_HELP, ["check"], multiprocess_mode="mostrecent"),
                   Gauge("health_check_duration_seconds", DURATION_HELP, ["check"], multiprocess_mode="mostrecent"))
        request_started.connect(_refresh_before_scrape, dispatch_uid="health.metrics_before_scrape")
    else:
        REGISTRY.register(_HealthCollector())

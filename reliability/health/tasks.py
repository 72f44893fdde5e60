"""Celery entry points: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reliability.health.names import TASK_PURGE_EVENTS, TASK_RUN_PROBES, TASK_SWEEP_WORKERS


@shared_task(name=TASK_RUN_PROBES, ignore_result=True, expires=60)
def run_probes() -> dict:
    """Beat (HEALTH_PROBE_INTERVAL_SECONDS): one probe cycle, persisted."""
    from reliability.health.engine import probe_cycle_record

    return probe_cycle_record()


@shared_task(name=TASK_SWEEP_WORKERS, ignore_result=True, expires=30)
def sweep_workers() -> list[str]:
    """Beat: workers whose heartbeat is older than HEALTH_HEARTBEAT_STALE_SECONDS become stale (incident)."""
    from reliability.health.services import workers_sweep

    return workers_sweep()


@shared_task(name=TASK_PURGE_EVENTS, ignore_result=True, expires=600)
def purge_events() -> dict:
    """Beat (hourly): probe results and slow jobs older than HEALTH_EVENT_RETENTION_DAYS."""
    from reliability.health.services import health_events_purge

    return health_events_purge(retention_days=settings.HEALTH_EVENT_RETENTION_DAYS)
# The degradation part keeps its own task module; imported here so autodiscovery finds it.
from reliability.health.degradation.tasks import evaluate_degradation, purge_slow_queries  # noqa: E402,F401

"""Reads of health telemetry (contract: ``latest_statuses()``; docs/health.md)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from reliability.health.models import HealthCheck, SlowJob, SystemHealthEvent, WorkerHeartbeat


def latest_statuses() -> dict[str, str]:
    """check name → "ok" | "warn" | "fail", from the latest persisted probe results (one small query)."""
    return dict(HealthCheck.objects.values_list("name", "status"))


def check_list() -> QuerySet[HealthCheck]:
    return HealthCheck.objects.order_by("name")


def check_history(*, names: list[str] | None = None, points: int = 60) -> dict[str, list[dict]]:
    """The last ``points`` results per check, oldest first (for the history charts)."""
    since = timezone.now() - timedelta(seconds=float(settings.HEALTH_PROBE_INTERVAL_SECONDS) * points * 1.5)
    qs = SystemHealthEvent.objects.filter(at__gte=since)
    if names is not None:
        qs = qs.filter(check_name__in=names)
    history: dict[str, list[dict]] = {}
    for check, status, value, at in qs.order_by("-at", "-id").values_list("check_name", "status", "value", "at")[:5000]:
        rows = history.setdefault(check, [])
        if len(rows) < points:
            rows.append({"at": at.isoformat(), "status": status, "value": value})
    return {check: rows[::-1] for check, rows in history.items()}


def worker_list() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.order_by("state", "worker_id")


def worker_counts() -> dict[str, int]:
    cutoff = timezone.now() - timedelta(seconds=float(settings.HEALTH_HEARTBEAT_STALE_SECONDS))
    rows = list(WorkerHeartbeat.objects.values_list("state", "last_seen"))
    alive = sum(1 for state, seen in rows if state == WorkerHeartbeat.State.ALIVE and seen >= cutoff)
    return {"alive": alive, "stale": len(rows) - alive}


def slow_job_list(*, limit: int = 50) -> QuerySet[SlowJob]:
    return SlowJob.objects.order_by("-at", "-id")[:limit]


def system_snapshot() -> dict:
    """The latest probe results, workers and slow jobs: /internal/health/system and /health/detailed."""
    checks = {
        c.name: {"status": c.status, "value": c.value, "latency_ms": c.latency_ms, "detail": c.detail,
                 "checked_at": c.checked_at, "since": c.changed_at}
        for c in check_list()
    }
    statuses = [c["status"] for c in checks.values()]
    overall = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
    workers = [
        {"worker_id": w.worker_id, "hostname": w.hostname, "pid": w.pid, "state": w.state, "last_seen": w.last_seen,
         "load": w.load, "active_tasks": w.active_tasks, "queue_depth": w.queue_depth, "queues": w.queues}
        for w in worker_list()[:200]
    ]
    return {"status": overall if checks else "unknown", "checks": checks, "workers": workers,
            "slow_jobs": [
                {"task_name": j.task_name, "task_id": j.task_id, "duration_seconds": j.duration_seconds,
                 "state": j.state, "at": j.at} for j in slow_job_list(limit=20)
            ]}


def recent_slow_queries(limit: int = 10) -> list:
    """The latest statements the slow-query monitor kept (newest first; text without parameters)."""
    from reliability.health.slowqueries.models import SlowQuery

    return list(SlowQuery.objects.order_by("-at", "-id")[:limit])

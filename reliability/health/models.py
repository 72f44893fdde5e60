"""Health telemetry: probe results, the current state of each check, worker heartbeats, slow jobs.

These rows are telemetry, written by ``services`` without audit entries (docs/decisions.md
"Health results are telemetry"): a probe cycle writes a dozen rows a minute, none of them an
operator's action. What operators must see change (a check's status, a worker going stale) is
a row of its own with an outbox event on each transition.
"""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    OK = "ok", "ok"
    WARN = "warn", "warn"
    FAIL = "fail", "fail"


STATUS_RANK = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


class SystemHealthEvent(models.Model):
    """One probe result (one row per check per probe cycle; purged after HEALTH_EVENT_RETENTION_DAYS)."""

    # "check" in the design; the attribute cannot be ``check`` (it would hide Model.check()).
    check_name = models.CharField(max_length=100, db_column="check")
    status = models.CharField(max_length=4, choices=Status.choices)
    value = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(default=0.0)
    detail = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["check_name", "at"], name="health_event_check_at_idx"),
                   models.Index(fields=["at"], name="health_event_at_idx")]

    def __str__(self) -> str:
        return f"{self.check_name} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class HealthCheck(models.Model):
    """The current state of one check (its last result and since when it has had this status).

    The alarm's state gets its own row (STYLE.md): a status change is decided under
    ``select_for_update`` on it, so two probe runners never both emit the transition.
    """

    name = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=4, choices=Status.choices)
    value = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(default=0.0)
    detail = models.CharField(max_length=500, blank=True, default="")
    checked_at = models.DateTimeField()
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class WorkerHeartbeat(models.Model):
    """A Celery worker's dead-man switch: written every HEALTH_HEARTBEAT_SECONDS by the worker itself."""

    class State(models.TextChoices):
        ALIVE = "alive", "alive"
        STALE = "stale", "stale"

    worker_id = models.CharField(max_length=200, unique=True)  # the Celery node name (stable across restarts)
    hostname = models.CharField(max_length=200, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField()
    load = models.FloatField(null=True, blank=True)  # 1-minute load average of the worker's host
    active_tasks = models.IntegerField(default=0)
    queue_depth = models.IntegerField(null=True, blank=True)  # messages waiting on the queues it consumes
    queues = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=5, choices=State.choices, default=State.ALIVE)
    state_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["worker_id"]

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.state})"


class SlowJob(models.Model):
    """A Celery task that ran longer than SLOW_JOB_SECONDS (arguments summarised, secrets never stored)."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    duration_seconds = models.FloatField()
    state = models.CharField(max_length=20, blank=True, default="")
    args_summary = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"], name="health_slowjob_at_idx")]

    def __str__(self) -> str:
        return f"{self.task_name} {self.duration_seconds:.1f}s"


# Degradation and slow-query tables live in their own packages; Django finds them through here.
from reliability.health.degradation.models import DegradationOverride, DegradationTransition  # noqa: E402
from reliability.health.slowqueries.models import SlowQuery  # noqa: E402

__all__ = ["DegradationOverride", "DegradationTransition", "HealthCheck", "SlowJob", "SlowQuery",
           "SystemHealthEvent", "WorkerHeartbeat"]

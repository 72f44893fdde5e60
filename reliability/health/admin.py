"""Health telemetry in the admin: read-only (rows are written by the probes, heartbeats and signals)."""

from __future__ import annotations

from django.contrib import admin

from opsportal.common.admin import ReadOnlyAdminMixin
from reliability.health.models import HealthCheck, SlowJob, SystemHealthEvent, WorkerHeartbeat


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "status", "value", "latency_ms", "detail", "checked_at", "changed_at")
    list_filter = ("status",)
    search_fields = ("name",)


@admin.register(SystemHealthEvent)
class SystemHealthEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "check_name", "status", "value", "latency_ms", "detail")
    list_filter = ("status", "check_name")
    search_fields = ("check_name", "detail")
    date_hierarchy = "at"
    show_full_result_count = False  # a large telemetry table: no COUNT(*) per page


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("worker_id", "state", "last_seen", "hostname", "pid", "active_tasks", "queue_depth", "load")
    list_filter = ("state",)
    search_fields = ("worker_id", "hostname")


@admin.register(SlowJob)
class SlowJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "task_name", "duration_seconds", "state", "worker", "args_summary")
    list_filter = ("task_name",)
    search_fields = ("task_name", "task_id")
    date_hierarchy = "at"
# Degradation and slow queries register their ModelAdmins in their own packages.
from reliability.health.degradation import admin as _degradation_admin  # noqa: E402,F401
from reliability.health.slowqueries import admin as _slowqueries_admin  # noqa: E402,F401

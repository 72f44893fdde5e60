"""The slowest recent statements (read-only; written by the monitor)."""

from __future__ import annotations

from django.contrib import admin

from opsportal.common.admin import ReadOnlyAdminMixin
from reliability.health.slowqueries.models import SlowQuery


@admin.register(SlowQuery)
class SlowQueryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("duration_ms", "at", "short_statement", "user", "role", "path", "task")
    list_filter = ("task", "database")
    search_fields = ("statement", "path", "task", "user")
    ordering = ("-duration_ms", "-id")
    date_hierarchy = "at"

    @admin.display(description="statement")
    def short_statement(self, obj) -> str:
        return obj.statement[:160]

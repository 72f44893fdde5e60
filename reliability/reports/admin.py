"""Stored reliability snapshots in the admin: read-only (the weekly job writes them)."""

from __future__ import annotations

from django.contrib import admin

from opsportal.common.admin import ReadOnlyAdminMixin
from reliability.reports.models import ReliabilitySnapshot


@admin.register(ReliabilitySnapshot)
class ReliabilitySnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("period", "starts_at", "ends_at", "created_at", "created_by")
    search_fields = ("period",)

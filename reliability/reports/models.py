"""Stored reliability reports."""

from __future__ import annotations

from django.db import models


class ReliabilitySnapshot(models.Model):
    """The reliability report of one closed period, as it read when stored (written by the weekly job).

    ``data`` is exactly the JSON that ``GET /api/v1/reports/reliability/?period=<period>``
    answered then; outbox events and transitions may be purged later, the snapshot stays.
    """

    period = models.CharField(max_length=40, unique=True, help_text="e.g. week:2026-W48, month:2026-11")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-starts_at"]
        get_latest_by = "starts_at"

    def __str__(self) -> str:
        return f"reliability report {self.period}"

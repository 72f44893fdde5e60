"""The slowest recent SQL statements (telemetry: written by the monitor's service, no audit)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SlowQuery(models.Model):
    """A statement that took longer than SLOW_QUERY_MS. The text never includes parameters."""

    statement = models.TextField()
    duration_ms = models.FloatField(db_index=True)
    user = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=300, blank=True)
    task = models.CharField(max_length=200, blank=True)
    database = models.CharField(max_length=50, default="default")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "health"
        ordering = ["-duration_ms", "-id"]
        verbose_name_plural = "slow queries"

    def __str__(self) -> str:
        return f"{self.duration_ms:.0f} ms: {self.statement[:80]}"

"""SLI data: minute buckets, their hourly rollup, and budget corrections."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SLIBucket(models.Model):
    """Good and total events of one SLO in one minute (upserted: the last write for a minute wins)."""

    # no separate slo_id index: the unique (slo, minute) index serves it, and with a second one
    # PostgreSQL scanned every bucket of the SLO for the evaluation's ranges (38 ms → 0.8 ms)
    slo = models.ForeignKey("slos.SLO", on_delete=models.CASCADE, related_name="buckets", db_index=False)
    minute = models.DateTimeField()
    good = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slo", "minute"], name="slos_bucket_minute_unique")]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.minute:%Y-%m-%d %H:%M}: {self.good}/{self.total}"


class SLIHour(models.Model):
    """Sum of an hour's minute buckets, rewritten with every push that touches the hour.

    Long windows (1 d … a quarter) read these plus at most two partial hours of minutes,
    so an evaluation never scans every minute of 30 days.
    """

    slo = models.ForeignKey("slos.SLO", on_delete=models.CASCADE, related_name="hours", db_index=False)
    hour = models.DateTimeField()
    good = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slo", "hour"], name="slos_hour_unique")]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.hour:%Y-%m-%d %H}h: {self.good}/{self.total}"


class BudgetCorrection(models.Model):
    """An excluded time range (planned maintenance, a known bad probe): its events count for nothing."""

    slo = models.ForeignKey("slos.SLO", on_delete=models.CASCADE, related_name="corrections")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="slos_correction_range")]

    def __str__(self) -> str:
        return f"{self.slo_id}: {self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%Y-%m-%d %H:%M}"

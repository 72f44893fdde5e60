"""SLO definitions (OpenSLO-shaped), their burn-alert policy and tiers, and the evaluated status."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SLO(models.Model):
    """One objective for one service: ``objective`` percent of events good over ``window``.

    The SLI is a ratio of good to total events per minute (``SLIBucket``), pushed by the API,
    computed by the portal for itself (``internal``) or read from Prometheus (``prometheus``).
    A latency SLI is the same ratio where "good" means "under ``latency_threshold_ms``".
    """

    class SLI(models.TextChoices):
        RATIO = "ratio", "ratio (good / total)"
        LATENCY = "latency", "latency (share of events under a threshold)"

    class Window(models.TextChoices):
        D7 = "7d", "rolling 7 days"
        D28 = "28d", "rolling 28 days"
        D30 = "30d", "rolling 30 days"
        MONTH = "calendar-month", "calendar month"
        QUARTER = "calendar-quarter", "calendar quarter"

    class Budgeting(models.TextChoices):
        OCCURRENCES = "occurrences", "occurrences (events)"
        TIMESLICES = "timeslices", "timeslices (good minutes)"

    class Source(models.TextChoices):
        PUSH = "push", "pushed by the API"
        PROMETHEUS = "prometheus", "read from Prometheus"
        INTERNAL = "internal", "computed by the portal"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    service = models.ForeignKey("catalog.Service", on_delete=models.PROTECT, related_name="slos")
    description = models.TextField(blank=True)
    sli = models.CharField(max_length=10, choices=SLI.choices, default=SLI.RATIO)
    latency_threshold_ms = models.PositiveIntegerField(null=True, blank=True, help_text="latency SLIs: the threshold")
    objective = models.DecimalField(max_digits=7, decimal_places=4, help_text="percent, e.g. 99.9")
    window = models.CharField(max_length=20, choices=Window.choices, default=Window.D30)
    timezone = models.CharField(max_length=64, default="UTC", help_text="calendar windows start at midnight here")
    budgeting = models.CharField(max_length=12, choices=Budgeting.choices, default=Budgeting.OCCURRENCES)
    timeslice_minutes = models.PositiveSmallIntegerField(default=1, help_text="timeslices: length of a slice")
    timeslice_target = models.DecimalField(max_digits=7, decimal_places=4, default=99,
                                           help_text="timeslices: percent good for a slice to count as good")
    labels = models.JSONField(default=dict, blank=True, help_text="extra labels for exported rules and alerts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="owned_slos")
    protected = models.BooleanField(default=True, help_text="chaos drills stop when this SLO's budget is exhausted")
    sli_source = models.CharField(max_length=12, choices=Source.choices, default=Source.PUSH,
                                  help_text="where the buckets come from")
    internal_sli = models.CharField(max_length=100, blank=True,
                                    help_text="internal source: webhook-delivery:<destination>|ingestion|alert-to-incident")
    prometheus_good_query = models.TextField(blank=True, help_text="PromQL: good events per minute")
    prometheus_total_query = models.TextField(blank=True, help_text="PromQL: total events per minute")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "SLO"

    def __str__(self) -> str:
        return f"{self.slug} ({self.objective}% over {self.window})"

    @property
    def error_budget(self) -> float:
        """Allowed error ratio: 1 − objective (0.001 for 99.9 %)."""
        return 1.0 - float(self.objective) / 100.0


class BurnAlertPolicy(models.Model):
    """How an SLO alerts: its tiers, the low-traffic guard and the absent-data alarm."""

    slo = models.OneToOneField(SLO, on_delete=models.CASCADE, related_name="policy")
    min_events = models.PositiveIntegerField(default=100, help_text="fewer events in a window: insufficient data")
    absent_minutes = models.PositiveIntegerField(default=15, help_text="no bucket for this long: absent-data alarm "
                                                                       "(0 turns it off)")

    class Meta:
        verbose_name = "burn alert policy"
        verbose_name_plural = "burn alert policies"

    def __str__(self) -> str:
        return f"policy of {self.slo.slug}"


class BurnTier(models.Model):
    """One multiwindow tier (both windows over ``factor`` for ``for_seconds``) and its alarm state."""

    class Severity(models.TextChoices):
        PAGE = "page", "page (critical: pages)"
        TICKET = "ticket", "ticket (info: never pages)"

    class State(models.TextChoices):
        OK = "ok"
        PENDING = "pending"  # both windows over the factor, waiting out `for`
        FIRING = "firing"
        INSUFFICIENT = "insufficient_data"

    policy = models.ForeignKey(BurnAlertPolicy, on_delete=models.CASCADE, related_name="tiers")
    name = models.SlugField(max_length=40, help_text="e.g. page-fast")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    long_window_minutes = models.PositiveIntegerField()
    short_window_minutes = models.PositiveIntegerField()
    factor = models.FloatField(help_text="burn rate both windows must exceed")
    for_seconds = models.PositiveIntegerField(default=0)
    # state (written by the evaluator only)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OK)
    pending_since = models.DateTimeField(null=True, blank=True)
    firing_since = models.DateTimeField(null=True, blank=True)
    burn_long = models.FloatField(null=True, blank=True)
    burn_short = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "long_window_minutes"]
        constraints = [models.UniqueConstraint(fields=["policy", "name"], name="slos_tier_name_unique")]

    def __str__(self) -> str:
        return f"{self.name}: {self.long_window_minutes}m/{self.short_window_minutes}m ×{self.factor:g}"


class SLOStatus(models.Model):
    """The last evaluation of an SLO (one row each; the evaluator's bulk write)."""

    class State(models.TextChoices):
        OK = "ok"
        BURNING = "burning"
        EXHAUSTED = "exhausted"
        INSUFFICIENT = "insufficient_data"

    slo = models.OneToOneField(SLO, on_delete=models.CASCADE, related_name="status")
    state = models.CharField(max_length=20, choices=State.choices, default=State.INSUFFICIENT)
    budget_remaining = models.FloatField(null=True, blank=True, help_text="0–1 (may go below 0 when overspent)")
    sli = models.FloatField(null=True, blank=True, help_text="good / total over the SLO window")
    good = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    burn_rates = models.JSONField(default=dict, blank=True, help_text="window → burn rate")
    window_start = models.DateTimeField(null=True, blank=True)
    exhaustion_at = models.DateTimeField(null=True, blank=True, help_text="at the current 1h burn")
    last_bucket_at = models.DateTimeField(null=True, blank=True)
    absent = models.BooleanField(default=False)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLO status"
        verbose_name_plural = "SLO statuses"

    def __str__(self) -> str:
        return f"{self.slo_id}: {self.state}"

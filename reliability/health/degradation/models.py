"""Degradation overrides and the record of level transitions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from reliability.health.degradation.levels import LEVEL_CHOICES, Level


class DegradationOverride(models.Model):
    """An operator's level, with a reason, until it expires or is cleared. At most one is active."""

    level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)
    reason = models.TextField(max_length=2000)
    expires_at = models.DateTimeField()
    set_by = models.CharField(max_length=200)  # the actor's label (a user or a token)
    set_at = models.DateTimeField(default=timezone.now)
    cleared_by = models.CharField(max_length=200, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_reason = models.TextField(max_length=2000, blank=True)

    class Meta:
        app_label = "health"
        ordering = ["-set_at", "-id"]
        indexes = [models.Index(fields=["cleared_at", "expires_at"], name="health_override_active")]

    def __str__(self) -> str:
        return f"{Level(self.level).name} until {self.expires_at:%Y-%m-%d %H:%M} UTC"

    def is_active(self, now=None) -> bool:
        return self.cleared_at is None and self.expires_at > (now or timezone.now())


class DegradationTransition(models.Model):
    """One change of the effective level, and why (the computed rules or an override)."""

    class Cause(models.TextChoices):
        COMPUTED = "computed", "rules"
        OVERRIDE_SET = "override_set", "override set"
        OVERRIDE_CLEARED = "override_cleared", "override cleared"
        OVERRIDE_EXPIRED = "override_expired", "override expired"

    from_level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)
    to_level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)
    computed_level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)  # what the rules said
    cause = models.CharField(max_length=20, choices=Cause.choices)
    reasons = models.JSONField(default=list)  # the matching rules at the time
    override = models.ForeignKey(DegradationOverride, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "health"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{Level(self.from_level).name} → {Level(self.to_level).name} ({self.cause})"


class DegradationState(models.Model):
    """The one row of current state: effective and computed level, as last recorded (pk 1)."""

    level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES, default=Level.NORMAL)
    computed_level = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES, default=Level.NORMAL)
    reasons = models.JSONField(default=list)
    override = models.ForeignKey(DegradationOverride, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")  # the override in force when last recorded
    evaluated_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "health"

    def __str__(self) -> str:
        return f"{Level(self.level).name} (computed {Level(self.computed_level).name})"

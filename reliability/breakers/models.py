"""Circuit breakers as operators see and configure them (the runtime lives in runtime/)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from reliability.breakers.config import BreakerConfig


class BreakerState(models.TextChoices):
    CLOSED = "closed", "closed"
    OPEN = "open", "open"
    HALF_OPEN = "half_open", "half-open"
    FORCED_OPEN = "forced_open", "forced open"
    DISABLED = "disabled", "disabled"


class CircuitBreaker(models.Model):
    """One named breaker: its tuning and the last state recorded for the fleet."""

    class WindowType(models.TextChoices):
        COUNT = "count", "last N calls"
        TIME = "time", "last N seconds"

    name = models.CharField(max_length=100, unique=True)
    service = models.ForeignKey(
        "catalog.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="breakers"
    )
    failure_rate_threshold = models.FloatField(
        default=50.0, validators=[MinValueValidator(0.1), MaxValueValidator(100)],
        help_text="Percent of failed calls in the window that opens the breaker.",
    )
    minimum_calls = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="No decision before this many calls are in the window."
    )
    window_type = models.CharField(max_length=5, choices=WindowType.choices, default=WindowType.COUNT)
    window_size = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)], help_text="Calls (count window) or seconds (time window)."
    )
    slow_call_duration = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.001)], help_text="Seconds after which a call counts as slow."
    )
    slow_call_rate_threshold = models.FloatField(
        default=100.0, validators=[MinValueValidator(0.1), MaxValueValidator(100)],
        help_text="Percent of slow calls in the window that opens the breaker.",
    )
    open_duration = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1)], help_text="Seconds to stay open before probing."
    )
    half_open_permitted_calls = models.PositiveIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Probes allowed in half-open, across all processes."
    )
    success_threshold = models.PositiveIntegerField(
        default=2, validators=[MinValueValidator(1)], help_text="Successful probes that close the breaker."
    )
    call_timeout = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.001)],
        help_text="Seconds before an async call is cancelled and counted as a failure (empty: none).",
    )
    state = models.CharField(max_length=12, choices=BreakerState.choices, default=BreakerState.CLOSED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    CONFIG_FIELDS = (
        "failure_rate_threshold", "minimum_calls", "window_type", "window_size", "slow_call_duration",
        "slow_call_rate_threshold", "open_duration", "half_open_permitted_calls", "success_threshold",
        "call_timeout",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_config(self) -> BreakerConfig:
        return BreakerConfig(**{f: getattr(self, f) for f in self.CONFIG_FIELDS})

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.success_threshold and self.half_open_permitted_calls and self.success_threshold > self.half_open_permitted_calls:
            raise ValidationError({"success_threshold": "cannot exceed the half-open permitted calls"})


class BreakerTransition(models.Model):
    """Every state change of a breaker, automatic or manual, with its cause."""

    class Cause(models.TextChoices):
        FAILURE_RATE = "failure_rate", "failure rate over threshold"
        SLOW_CALL_RATE = "slow_call_rate", "slow-call rate over threshold"
        OPEN_ELAPSED = "open_duration_elapsed", "open duration elapsed"
        PROBE_SUCCESS = "probe_success", "half-open probes succeeded"
        PROBE_FAILURE = "probe_failure", "half-open probe failed"
        MANUAL = "manual", "manual"

    breaker = models.ForeignKey(CircuitBreaker, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=12, choices=BreakerState.choices)
    to_state = models.CharField(max_length=12, choices=BreakerState.choices)
    cause = models.CharField(max_length=24, choices=Cause.choices)
    action = models.CharField(max_length=20, blank=True, help_text="The manual action (force_open, reset, …).")
    failure_rate = models.FloatField(null=True, blank=True)
    slow_call_rate = models.FloatField(null=True, blank=True)
    calls_in_window = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=20, blank=True)
    scope = models.CharField(max_length=10, blank=True, help_text="shared: decided once for the fleet in Redis.")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["breaker", "-at"], name="breakers_tr_breaker_at")]

    def __str__(self) -> str:
        return f"{self.breaker.name}: {self.from_state} → {self.to_state} ({self.cause})"

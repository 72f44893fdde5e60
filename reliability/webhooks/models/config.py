"""Configuration: where webhooks come from (sources), where they go (destinations)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

ONE_MIB = 1024 * 1024


def destination_breaker_name(destination_id: int) -> str:
    """The circuit breaker guarding deliveries to a destination (one spelling, used by the engine too)."""
    return f"webhook-destination-{destination_id}"


class WebhookSource(models.Model):
    """A sender (Stripe, GitHub, a Standard Webhooks producer …) posting to ``/api/v1/webhooks/in/<slug>/``.

    ``secrets`` is a list so several can be active during a rotation: a request
    is accepted when any of them verifies it. They are stored as given (the
    signature schemes need the raw secret), never shown by the API or admin.
    """

    class Scheme(models.TextChoices):
        STANDARD = "standard", "Standard Webhooks"
        STRIPE = "stripe", "Stripe"
        GITHUB = "github", "GitHub"
        HMAC = "hmac", "generic HMAC-SHA256 header"

    class RetryStrategy(models.TextChoices):
        DEFAULT_SCHEDULE = "default-schedule", "default schedule (0, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 10 h)"
        EXPONENTIAL = "exponential", "exponential backoff, full jitter"
        LINEAR = "linear", "linear backoff, full jitter"
        FIXED = "fixed", "fixed delay, full jitter"
        FIBONACCI = "fibonacci", "Fibonacci backoff, full jitter"

    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    scheme = models.CharField(max_length=20, choices=Scheme.choices)
    secrets = models.JSONField(default=list, blank=True)
    tolerance_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1), MaxValueValidator(86_400)],
        help_text="how far a signed timestamp may be in the past or the future",
    )
    max_body_bytes = models.PositiveIntegerField(
        default=ONE_MIB, validators=[MinValueValidator(1), MaxValueValidator(16 * ONE_MIB)],
        help_text="larger requests are answered 413",
    )
    hmac_header = models.CharField(
        max_length=100, default="X-Signature", blank=True,
        help_text="generic HMAC scheme: the header carrying the hex HMAC-SHA256 of the body (an optional 'sha256=' prefix is accepted)",
    )
    hmac_event_id_header = models.CharField(
        max_length=100, blank=True,
        help_text="generic HMAC scheme: header carrying the event id; empty = the body's 'id'",
    )
    retry_strategy = models.CharField(max_length=20, choices=RetryStrategy.choices, default=RetryStrategy.DEFAULT_SCHEDULE)
    retry_max_attempts = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1), MaxValueValidator(50)])
    retry_base_seconds = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(86_400)],
        help_text="first delay of the exponential/linear/fixed/Fibonacci strategies",
    )
    retry_max_seconds = models.PositiveIntegerField(
        default=36_000, validators=[MinValueValidator(1), MaxValueValidator(7 * 86_400)],
        help_text="cap on a single delay",
    )
    dlq_strategies = models.JSONField(
        default=dict, blank=True,
        help_text="recovery strategy per failure class, overriding the defaults: {\"rejected\": \"auto_replay_on_recovery\"}",
    )
    dlq_discard_after_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="discard open DLQ items older than this many days (empty: keep until a person decides)",
    )
    destinations = models.ManyToManyField("webhooks.WebhookDestination", through="webhooks.WebhookRoute", related_name="sources", blank=True)
    enabled = models.BooleanField(default=True, help_text="a disabled source answers 404 like an unknown one")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def ingest_path(self) -> str:
        return f"/api/v1/webhooks/in/{self.slug}/"


class WebhookDestination(models.Model):
    """A receiver the portal delivers to, signing with its own Standard Webhooks secret.

    ``event_types`` lists the portal event types (``incident.opened``,
    ``dlq.*`` …) the destination subscribes to as outbound events; inbound
    webhooks reach it through a source's routes instead.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    signing_secret = models.CharField(max_length=200)
    timeout_seconds = models.PositiveSmallIntegerField(default=10, validators=[MinValueValidator(1), MaxValueValidator(120)])
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="subscribed portal event types; '*' wildcards allowed")
    dlq_strategies = models.JSONField(
        default=dict, blank=True,
        help_text="recovery strategy per failure class, overriding the defaults: {\"rejected\": \"auto_replay_on_recovery\"}",
    )
    dlq_discard_after_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="discard open DLQ items for this destination older than this many days (empty: keep until a person decides)",
    )
    rate_limit_per_second = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.1), MaxValueValidator(100_000)],
        help_text="at most this many deliveries per second (replays included), shared by every worker; empty: unpaced",
    )
    concurrency_limit = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="at most this many deliveries in flight at once, across every worker; empty: unlimited",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def breaker_name(self) -> str:
        """Derived from the id so renaming a destination keeps its breaker history."""
        return destination_breaker_name(self.pk)


class WebhookRoute(models.Model):
    """Source → destination, optionally only for some event types (``charge.*``)."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="routes")
    destination = models.ForeignKey(WebhookDestination, on_delete=models.PROTECT, related_name="routes")
    event_types = models.JSONField(default=list, blank=True, help_text="empty = every event type; '*' wildcards allowed")

    class Meta:
        ordering = ["source_id", "destination_id"]
        constraints = [models.UniqueConstraint(fields=["source", "destination"], name="webhooks_route_unique")]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.destination_id}"

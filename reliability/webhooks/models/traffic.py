"""Traffic: received events, their deliveries and attempts, sampled rejections."""

from __future__ import annotations

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reliability.webhooks.models.config import WebhookDestination, WebhookSource


def event_public_id(event_id: int) -> str:
    """``evt_<id>``: the ``webhook-id`` of every delivery of an event (one spelling, used by the engine too)."""
    return f"evt_{event_id}"


class WebhookEvent(models.Model):
    """One accepted webhook, stored before it is acknowledged (202 after commit).

    Inbound events have a ``source`` and are unique on (source, provider event
    id): the provider's retries and replays are answered 200 with the original
    id and never delivered again. Outbound portal events (outbox events a
    destination subscribed to) have no source; their ``provider_event_id`` is
    the outbox event's uuid, unique among outbound events.
    """

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"

    # Indexed by the (source, provider_event_id) unique constraint; a second index only slows ingestion.
    source = models.ForeignKey(
        WebhookSource, on_delete=models.PROTECT, null=True, blank=True, related_name="events", db_index=False
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND, db_default=Direction.INBOUND)
    provider_event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=255, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="a safe subset; never secrets, cookies or Authorization")
    body = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)  # BRIN-indexed below: append-only, range-scanned
    body_purged_at = models.DateTimeField(null=True, blank=True, help_text="set when retention emptied the body")
    # Only for schemes whose event id is unsigned (GitHub, HMAC with an event-id header): replays of
    # a captured body under a fresh id are duplicates within WEBHOOK_BODY_DEDUPE_SECONDS.
    body_sha256 = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "provider_event_id"], name="webhooks_event_provider_id_unique"),
            models.UniqueConstraint(
                fields=["provider_event_id"], condition=Q(source__isnull=True), name="webhooks_outbound_event_unique"
            ),
        ]
        indexes = [
            BrinIndex(fields=["received_at"], name="webhooks_event_received_brin"),
            models.Index(fields=["source", "body_sha256", "received_at"], name="webhooks_event_body_hash_idx",
                         condition=Q(body_sha256__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type or '-'} ({self.provider_event_id})"

    @property
    def public_id(self) -> str:
        """The id deliveries carry as ``webhook-id``: the same on every attempt and replay, so receivers dedupe."""
        return event_public_id(self.pk)


class Delivery(models.Model):
    """One event to one destination. The retry schedule lives here, not in Celery.

    A worker claims a due row (``SELECT … FOR UPDATE SKIP LOCKED`` on
    ``next_attempt_at``), sets ``in_flight`` with a fresh ``lease_token`` and
    ``lease_expires_at``, and completes it only while the token still matches,
    so a reclaimed lease can never produce a second send.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first attempt (or deferred by an open breaker)
        IN_FLIGHT = "in_flight"  # claimed under a lease
        DELIVERED = "delivered"
        FAILED = "failed"  # last attempt failed, another is scheduled at next_attempt_at
        DEAD = "dead"  # attempts exhausted (or destination gone): a WebhookFailure exists

    # Indexed by the (event, destination) unique constraint.
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    destination = models.ForeignKey(WebhookDestination, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    attempt_budget = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="total attempts allowed; empty = the source's retry_max_attempts (a DLQ replay sets attempts + 1)",
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "destination"], name="webhooks_delivery_unique")]
        indexes = [
            # The beat sweep: due rows only, so the index stays small as history grows.
            models.Index(fields=["next_attempt_at"], name="webhooks_delivery_due_idx", condition=Q(status__in=["pending", "failed"])),
            # Lease reclaim: in-flight rows whose worker died.
            models.Index(fields=["lease_expires_at"], name="webhooks_delivery_lease_idx", condition=Q(status="in_flight")),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} event {self.event_id} → destination {self.destination_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery (deferrals by an open breaker are not attempts)."""

    class Result(models.TextChoices):
        SUCCESS = "success"
        HTTP_ERROR = "http_error"
        TIMEOUT = "timeout"
        NETWORK_ERROR = "network_error"
        GONE = "gone"  # 410: the destination is disabled
        LEASE_EXPIRED = "lease_expired"  # the worker died (or stalled) holding the claim; the sweep reclaimed it

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(db_index=True)
    result = models.CharField(max_length=20, choices=Result.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="an excerpt (response body or exception), at most 1,000 characters")
    chaos = models.BooleanField(db_default=False, default=False, help_text=(
        "the outcome came from a chaos drill's injected fault, not the destination; SLIs leave these out"))

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"attempt #{self.pk} of delivery {self.delivery_id}: {self.result} {self.status_code or ''}".strip()


class WebhookRejection(models.Model):
    """A sample of rejected requests (bad signature, stale timestamp) for operators.

    At most one row per source, reason and minute (unique on the window), so a
    flood of forged requests costs at most one INSERT a minute; the Prometheus
    counter ``webhook_ingest_total`` has the exact numbers.
    """

    class Reason(models.TextChoices):
        BAD_SIGNATURE = "bad_signature"
        STALE = "stale"

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="rejections")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    window_start = models.DateTimeField(help_text="the minute this sample stands for")
    detail = models.CharField(max_length=300, blank=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    header_names = models.JSONField(default=list, blank=True, help_text="names only, never values")
    body_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "reason", "window_start"], name="webhooks_rejection_sample_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} on {self.source_id} at {self.window_start:%Y-%m-%d %H:%M}"

"""The dead-letter queue: deliveries that exhausted their attempts, kept until resolved."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reliability.webhooks.models.config import WebhookDestination, WebhookSource
from reliability.webhooks.models.traffic import Delivery

PORTAL_PROVIDER = "portal"  # WebhookFailure.provider of outbound portal events (they have no source)


class WebhookFailure(models.Model):
    """The dead-letter queue: a delivery that exhausted its attempts, kept until resolved.

    At most one open failure per delivery. A retry re-arms the delivery and
    marks the failure ``retried``; if it dies again the same row is reopened
    (``retry_count`` and ``last_retry_at`` say how often and when).
    """

    class Resolution(models.TextChoices):
        OPEN = "open"
        RETRIED = "retried"
        DISCARDED = "discarded"

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="failures")
    source = models.ForeignKey(WebhookSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="failures")
    destination = models.ForeignKey(WebhookDestination, on_delete=models.SET_NULL, null=True, blank=True, related_name="failures")
    provider = models.CharField(max_length=100, help_text="the source's slug, or 'portal' for outbound events")
    event_type = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.BinaryField(help_text="the body as received; kept while the failure is unresolved")
    error_message = models.TextField(blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    last_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, default=Resolution.OPEN, db_index=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_by_label = models.CharField(max_length=200, blank=True, help_text="user, token or system that resolved it")
    resolution_reason = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery"], condition=Q(resolution="open"), name="webhooks_failure_one_open_per_delivery"),
        ]
        indexes = [models.Index(fields=["resolution", "created_at"], name="webhooks_failure_queue_idx")]

    def __str__(self) -> str:
        return f"DLQ #{self.pk} {self.provider} {self.event_type or '-'} ({self.resolution})"

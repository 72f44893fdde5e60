"""The dead-letter queue: deliveries that exhausted their attempts, kept until resolved."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reliability.webhooks.classes import FailureClass, hint
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
    # What killed it (reliability/webhooks/classes.py) and its "issue": destination + class + status + normalised error.
    failure_class = models.CharField(max_length=24, choices=FailureClass.choices, blank=True, default="", db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="the last answer's HTTP status, if any")
    group_signature = models.CharField(max_length=16, blank=True, default="", db_index=True)
    signature_text = models.CharField(max_length=200, blank=True, default="", help_text="the normalised error text")
    replay = models.ForeignKey("webhooks.DlqReplay", on_delete=models.SET_NULL, null=True, blank=True, related_name="items",
                               help_text="the last replay that handed this item back to delivery")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery"], condition=Q(resolution="open"), name="webhooks_failure_one_open_per_delivery"),
        ]
        indexes = [models.Index(fields=["resolution", "created_at"], name="webhooks_failure_queue_idx")]

    def __str__(self) -> str:
        return f"DLQ #{self.pk} {self.provider} {self.event_type or '-'} ({self.resolution})"

    @property
    def hint(self) -> str:
        return hint(self.failure_class)


class DlqReplay(models.Model):
    """One replay operation (manual or automatic): what the live progress (done/total, rate, ETA) is read from."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    total = models.PositiveIntegerField()
    actor_label = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=40, help_text="the interface: admin, dashboard, api, cli, dlq-processor …")
    strategy = models.CharField(max_length=40, blank=True, help_text="the strategy that decided an automatic replay")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"replay #{self.pk} of {self.total} item(s) by {self.actor_label or self.source}"

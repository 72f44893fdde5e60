from __future__ import annotations

import uuid

from django.db import models


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change it describes.

    ``id`` orders events (catch-up after a reconnect); ``uuid`` is the public
    event id clients dedupe on.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=100, db_index=True)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)  # every subscriber has had it
    broadcast_at = models.DateTimeField(null=True, blank=True)  # the live channel layer has had it

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created_at"], name="outbox_unpublished_idx", condition=models.Q(published_at__isnull=True)),
            models.Index(fields=["created_at"], name="outbox_unbroadcast_idx", condition=models.Q(broadcast_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id}"

    def envelope(self) -> dict:
        """The public event JSON: ``{id, type, at, aggregate: {type, id}, data}``."""
        return {
            "id": str(self.uuid),
            "type": self.type,
            "at": self.created_at.isoformat(),
            "aggregate": {"type": self.aggregate_type, "id": self.aggregate_id},
            "data": self.data,
        }

"""Retention: delivered webhook payloads are emptied after ``WEBHOOK_RETENTION_DAYS`` (DESIGN §7.2).

An event's body is purged when it was received more than N days ago, none of
its deliveries is still waiting or in flight, and none has an open DLQ item
(the DLQ is kept until resolved). The row, its headers, deliveries and attempts
stay: only the body goes, and ``body_purged_at`` says when.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure
from reliability.webhooks.names import Action, Event

DEFAULT_RETENTION_DAYS = 7
SYSTEM_ACTOR = "webhook-retention"
_WAITING = (Delivery.Status.PENDING, Delivery.Status.FAILED, Delivery.Status.IN_FLIGHT)


def retention_days() -> int:
    return int(getattr(settings, "WEBHOOK_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def _purgeable_events(*, cutoff: datetime):
    """Events whose payload may go: old enough, nothing left to deliver, nothing open in the DLQ."""
    return (
        WebhookEvent.objects.filter(received_at__lt=cutoff, body_purged_at__isnull=True)
        .exclude(deliveries__status__in=_WAITING)
        .exclude(deliveries__failures__resolution=WebhookFailure.Resolution.OPEN)
    )


def webhook_payloads_purge(*, now: datetime | None = None, days: int | None = None, batch: int = 1000) -> int:
    """Empty the bodies of delivered events older than the retention; returns how many.

    Works in batches, each its own transaction with one audit entry (system
    actor) and one ``webhook.payloads_purged`` event, so a large backlog never
    holds long locks and the trail says what went when.
    """
    now = now or timezone.now()
    days = retention_days() if days is None else days
    cutoff = now - timedelta(days=days)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                _purgeable_events(cutoff=cutoff)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("id")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return total
            WebhookEvent.objects.filter(pk__in=ids).update(body=b"", body_purged_at=now)
            target = ("webhooks.webhookevent", str(ids[0])) if len(ids) == 1 else ("webhooks.webhookevent", f"{len(ids)} events")
            changes = {"body": ["<payload>", "<purged>"], "count": len(ids), "first_id": ids[0], "last_id": ids[-1]}
            audit_record(
                actor=Actor.for_system(SYSTEM_ACTOR),
                action=Action.PAYLOADS_PURGE,
                target=target,
                changes=changes,
                reason=f"delivered more than {days} day{'s' if days != 1 else ''} ago (WEBHOOK_RETENTION_DAYS)",
                source="retention",
            )
            emit(Event.PAYLOADS_PURGED, target, {"count": len(ids), "first_id": ids[0], "last_id": ids[-1],
                                                     "retention_days": days})
        total += len(ids)
        if len(ids) < batch:
            return total

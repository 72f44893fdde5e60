"""Dead-lettering: the engine's exhausted deliveries and a disabled destination's backlog enter the DLQ here.

Each item is classed (``reliability.webhooks.classes``) from what killed it and
gets its group signature, so the DLQ processor, the groups and the filters
read columns, never error text.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from opsportal.common.text import clean_text
from opsportal.events.services import emit
from reliability.webhooks.classes import FailureClass, group_signature
from reliability.webhooks.metrics import DLQ_MESSAGES_ADDED_TOTAL
from reliability.webhooks.models import PORTAL_PROVIDER, Delivery, WebhookFailure
from reliability.webhooks.names import Event
from reliability.webhooks.services.dlq import _BULK_AGGREGATE, _event_ids, dlq_depth_check


@dataclass(frozen=True)
class DeadLetter:
    """A delivery going into the DLQ, with what its ``WebhookFailure`` row keeps."""

    delivery_id: int
    destination_id: int
    destination_name: str
    source_id: int | None
    provider: str
    event_type: str
    body: bytes
    error: str
    failure_class: str = FailureClass.SERVER_ERROR
    status_code: int | None = None

    @classmethod
    def of(cls, delivery: Delivery, error: str, failure_class: str = FailureClass.GONE) -> DeadLetter:
        """From a delivery loaded with its event, source and destination."""
        event, destination = delivery.event, delivery.destination
        return cls(
            delivery_id=delivery.pk, destination_id=destination.pk, destination_name=destination.name,
            source_id=event.source_id, provider=event.source.slug if event.source_id else PORTAL_PROVIDER,
            event_type=event.event_type, body=bytes(event.body or b""), error=error, failure_class=failure_class,
            status_code=delivery.last_status_code,
        )

    def signature(self) -> tuple[str, str]:
        return group_signature(destination_id=self.destination_id, failure_class=self.failure_class,
                               status_code=self.status_code, error=self.error)


def dlq_dead_letter(items: list[DeadLetter], *, now: datetime) -> list[WebhookFailure]:
    """Put dead deliveries into the DLQ (inside the caller's transaction).

    A delivery that already has a failure row (it was replayed and died again)
    gets that row reopened, never a second one. One ``dlq.added`` event per
    destination and direction, listing the ids; then the depth check.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("dlq_dead_letter() must run inside the transaction that marked the deliveries dead")
    by_delivery = {item.delivery_id: item for item in items}
    latest: dict[int, WebhookFailure] = {}
    for failure in WebhookFailure.objects.filter(delivery_id__in=list(by_delivery)).order_by("-id"):
        latest.setdefault(failure.delivery_id, failure)
    reopened, created = [], []
    for delivery_id, item in by_delivery.items():
        failure = latest.get(delivery_id)
        signature, signature_text = item.signature()
        if failure is not None:
            failure.resolution = WebhookFailure.Resolution.OPEN
            failure.error_message = item.error
            failure.failure_class = item.failure_class
            failure.status_code = item.status_code
            failure.group_signature = signature
            failure.signature_text = signature_text
            failure.resolved_by = None
            failure.resolved_by_label = ""
            failure.resolution_reason = ""
            failure.resolved_at = None
            reopened.append(failure)
        else:
            created.append(WebhookFailure(
                delivery_id=delivery_id, source_id=item.source_id, destination_id=item.destination_id,
                provider=item.provider[:100], event_type=item.event_type, payload=item.body,
                error_message=item.error, created_at=now, resolution=WebhookFailure.Resolution.OPEN,
                failure_class=item.failure_class, status_code=item.status_code, group_signature=signature,
                signature_text=signature_text,
            ))
    if reopened:
        WebhookFailure.objects.bulk_update(
            reopened, ["resolution", "error_message", "resolved_by", "resolved_by_label", "resolution_reason", "resolved_at",
                       "failure_class", "status_code", "group_signature", "signature_text"]
        )
    if created:
        created = WebhookFailure.objects.bulk_create(created)
    failures = reopened + created

    groups: dict[tuple[int, bool], list[WebhookFailure]] = defaultdict(list)
    names: dict[int, str] = {}
    for failure in failures:
        item = by_delivery[failure.delivery_id]
        names[item.destination_id] = item.destination_name
        groups[(item.destination_id, item.provider == PORTAL_PROVIDER)].append(failure)
    for (destination_id, outbound), group in groups.items():
        ids = sorted(f.pk for f in group)
        target = group[0] if len(group) == 1 else (_BULK_AGGREGATE, f"{len(ids)} items")
        emit(Event.DLQ_ADDED, target, {
            "count": len(ids),
            **_event_ids(ids),
            "destination": names[destination_id],
            "destination_id": destination_id,
            # Outbound portal events that die are not offered to subscribers again (no feedback loop).
            "outbound": outbound,
            "error": group[0].error_message[:200],
            "classes": sorted({f.failure_class for f in group}),
        })
        transaction.on_commit(partial(DLQ_MESSAGES_ADDED_TOTAL.labels(destination=names[destination_id]).inc, len(ids)))
    if failures:
        dlq_depth_check()
    return failures


def deliveries_dead_letter_for_destination(*, destination_id: int, reason: str, chunk: int = 500,
                                           failure_class: str = FailureClass.GONE) -> int:
    """Dead-letter every waiting (pending/failed) delivery of a destination, in chunks.

    In-flight deliveries are left to their worker: its claim saw the
    destination enabled, and its outcome (or the 410 again) is recorded as usual.
    """
    text = clean_text(reason, 1000)  # an error excerpt: engine.policy.ERROR_EXCERPT_CHARS
    waiting = (Delivery.Status.PENDING, Delivery.Status.FAILED)
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("event", "event__source", "destination")
                .defer("event__headers")
                .filter(destination_id=destination_id, status__in=waiting)
                .order_by("id")[:chunk]
            )
            if not rows:
                return total
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Delivery.Status.DEAD, next_attempt_at=None, lease_token=None, lease_expires_at=None,
                last_error=text,
            )
            dlq_dead_letter([DeadLetter.of(r, text, failure_class) for r in rows], now=timezone.now())
        total += len(rows)

"""Outbound event subscriptions: portal events delivered to destinations (DESIGN §7.2, "Outbound events").

A destination's ``event_types`` (``incident.opened``, ``breaker.*``, ``*`` …)
subscribes it to committed outbox events. The outbox relay calls
``outbound_event_relay`` for every event it publishes; a matching event becomes
an outbound ``WebhookEvent`` (``provider_event_id`` = the outbox uuid, unique
among outbound events) whose body is the event envelope JSON, plus one
``Delivery`` per subscribed destination — the same pipeline, schedule, DLQ
and signing as inbound webhooks.

The relay is at-least-once: a second relay of the same event finds the
WebhookEvent already there and creates nothing, so each subscriber gets the
event once.
"""

from __future__ import annotations

import json
import logging
from fnmatch import fnmatchcase

from django.db import IntegrityError, transaction
from django.utils import timezone

from opsportal.events.models import OutboxEvent
from reliability.webhooks.delivery import deliveries_dispatch_for_events
from reliability.webhooks.models import Delivery, WebhookDestination, WebhookEvent

log = logging.getLogger("reliability.webhooks.subscriptions")

RELAY_KEY = "webhooks.outbound"


def subscribed(event_type: str, patterns: list[str]) -> bool:
    return any(isinstance(p, str) and fnmatchcase(event_type, p) for p in patterns or ())


def destinations_subscribed_to(event_type: str) -> list[int]:
    """Enabled destinations whose subscriptions match (a disabled destination's subscription is paused)."""
    rows = WebhookDestination.objects.filter(enabled=True).values_list("pk", "event_types")
    return [pk for pk, patterns in rows if patterns and subscribed(event_type, patterns)]


def _loops_back(event: OutboxEvent) -> bool:
    # An outbound delivery that dies emits dlq.added; offering that to subscribers again could
    # ping-pong forever between two dead destinations subscribed to dlq.*.
    return event.type == "dlq.added" and bool((event.data or {}).get("outbound"))


def webhook_outbound_event_record(*, outbox_event: OutboxEvent, destination_ids: list[int]) -> WebhookEvent | None:
    """Store a portal event for its subscribers and dispatch its deliveries after commit.

    Idempotent on the outbox uuid: returns None when the event was already
    recorded by an earlier relay. Traffic, not an operator action: no audit
    entry and no outbox event (that would feed the relay its own output).
    """
    if not destination_ids:
        return None
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    source=None,
                    direction=WebhookEvent.Direction.OUTBOUND,
                    provider_event_id=str(outbox_event.uuid),
                    event_type=outbox_event.type[:255],
                    headers={"Content-Type": "application/json"},
                    body=json.dumps(outbox_event.envelope(), separators=(",", ":"), default=str).encode(),
                    received_at=now,
                )
        except IntegrityError:
            return None  # relayed before: its deliveries exist already
        Delivery.objects.bulk_create(
            [Delivery(event=event, destination_id=d, next_attempt_at=now, created_at=now) for d in sorted(set(destination_ids))]
        )
        deliveries_dispatch_for_events([event.pk])
    return event


def outbound_event_relay(event: OutboxEvent) -> None:
    """The relay subscriber (registered in the webhooks AppConfig.ready())."""
    if _loops_back(event):
        return
    # A savepoint: the relay runs subscribers inside its own transaction, which must
    # survive a failure here.
    with transaction.atomic():
        destination_ids = destinations_subscribed_to(event.type)
        if destination_ids:
            webhook_outbound_event_record(outbox_event=event, destination_ids=destination_ids)

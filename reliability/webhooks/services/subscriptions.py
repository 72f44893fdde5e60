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

from django.db import transaction
from django.utils import timezone

from opsportal.events.groups import domain_for
from opsportal.events.models import OutboxEvent
from opsportal.observability import current_traceparent
from reliability.webhooks.dispatch import deliveries_dispatch_for_events
from reliability.webhooks.models import WebhookEvent
from reliability.webhooks.names import Event
from reliability.webhooks.selectors.config import destinations_subscribed_to
from reliability.webhooks.services.ingest import event_with_deliveries_insert

RELAY_KEY = "webhooks.outbound"


def _auditors_only(event: OutboxEvent) -> bool:
    # auth.*, token.*, audit.*: failed logins with usernames, token grants, the trail itself.
    return domain_for(event.type) == "audit"


def _loops_back(event: OutboxEvent) -> bool:
    # An outbound delivery that dies emits dlq.added; offering that to subscribers again could
    # ping-pong forever between two dead destinations subscribed to dlq.*.
    return event.type == Event.DLQ_ADDED and bool((event.data or {}).get("outbound"))


def _headers() -> dict:
    traceparent = current_traceparent()  # the trace of whatever emitted the event, when tracing is on
    return {"Content-Type": "application/json", **({"traceparent": traceparent} if traceparent else {})}


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
        event = event_with_deliveries_insert(
            event=WebhookEvent(
                source=None,
                direction=WebhookEvent.Direction.OUTBOUND,
                provider_event_id=str(outbox_event.uuid),
                event_type=outbox_event.type[:255],
                headers=_headers(),
                body=json.dumps(outbox_event.envelope(), separators=(",", ":"), default=str).encode(),
                received_at=now,
            ),
            destination_ids=destination_ids, now=now,
        )
        if event is None:
            return None  # relayed before: its deliveries exist already
        deliveries_dispatch_for_events([event.pk])
    return event


def outbound_event_relay(event: OutboxEvent) -> None:
    """The relay subscriber (registered in the webhooks AppConfig.ready())."""
    if _loops_back(event) or _auditors_only(event):
        return
    # A savepoint: the relay runs subscribers inside its own transaction, which must
    # survive a failure here.
    with transaction.atomic():
        destination_ids = destinations_subscribed_to(event.type)
        if destination_ids:
            webhook_outbound_event_record(outbox_event=event, destination_ids=destination_ids)

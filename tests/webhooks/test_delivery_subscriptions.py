"""Outbound event subscriptions: portal outbox events delivered through the same pipeline."""

from __future__ import annotations

import json

import pytest
import standardwebhooks
from django.db import transaction

from opsportal.events.models import OutboxEvent
from opsportal.events.relay import relay_event_ids
from opsportal.events.services import emit
from reliability.webhooks.engine import deliveries_sweep
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure
from reliability.webhooks.selectors.config import subscribed
from reliability.webhooks.services.subscriptions import outbound_event_relay
from tests.webhooks.receiver import DEST_SECRET, Receiver


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


def emit_committed(type_: str, data: dict, capture) -> OutboxEvent:
    """Emit in a transaction and run what its commit runs (the relay, then our subscriber)."""
    with capture(execute=True), transaction.atomic():
        event = emit(type_, ("breakers.circuitbreaker", "7"), data)
    event.refresh_from_db()
    assert event.published_at is not None
    return event


def test_patterns():
    assert subscribed("breaker.opened", ["breaker.*"])
    assert subscribed("incident.opened", ["*"])
    assert not subscribed("dlq.added", ["breaker.*", "incident.opened"])
    assert not subscribed("breaker.opened", [])


def test_a_portal_event_reaches_each_subscriber_once_even_when_relayed_again(
    make_destination, receiver, django_capture_on_commit_callbacks
):
    feed = make_destination("breaker-feed", url=receiver.url + "/breakers", signing_secret=DEST_SECRET, event_types=["breaker.*"])
    firehose = make_destination("firehose", url=receiver.url + "/all", signing_secret=DEST_SECRET, event_types=["*"])
    make_destination("incidents", url=receiver.url + "/incidents", signing_secret=DEST_SECRET, event_types=["incident.opened"])
    make_destination("paused", url=receiver.url + "/paused", signing_secret=DEST_SECRET, event_types=["*"], enabled=False,
                     disabled_reason="maintenance")
    make_destination("inbound-only", url=receiver.url + "/inbound", signing_secret=DEST_SECRET)

    outbox = emit_committed("breaker.opened", {"name": "stripe-api", "failure_rate": 62.5}, django_capture_on_commit_callbacks)

    # The relay is at-least-once: run it again, and the subscriber directly once more.
    OutboxEvent.objects.filter(pk=outbox.pk).update(published_at=None)
    assert relay_event_ids([outbox.pk]) == 1
    outbound_event_relay(outbox)

    (event,) = WebhookEvent.objects.filter(direction=WebhookEvent.Direction.OUTBOUND)
    assert event.source_id is None and event.provider_event_id == str(outbox.uuid) and event.event_type == "breaker.opened"
    assert json.loads(bytes(event.body)) == outbox.envelope()
    assert set(Delivery.objects.filter(event=event).values_list("destination_id", flat=True)) == {feed.pk, firehose.pk}

    deliveries_sweep()
    deliveries_sweep()
    assert sorted(s.path for s in receiver.seen) == ["/hook/all", "/hook/breakers"]
    for seen in receiver.seen:
        assert seen.webhook_id == event.public_id and seen.verified
        assert json.loads(seen.body) == outbox.envelope()
        standardwebhooks.Webhook(DEST_SECRET).verify(seen.body, seen.headers)


def test_dead_outbound_deliveries_are_not_fed_back_to_subscribers(make_destination, receiver, django_capture_on_commit_callbacks):
    """A dead portal event emits dlq.added (outbound=true); offering that to dlq.* subscribers could loop forever."""
    watcher = make_destination("dlq-watcher", url=receiver.url + "/dlq", signing_secret=DEST_SECRET, event_types=["dlq.*", "breaker.*"])
    receiver.respond(500)
    outbox = emit_committed("breaker.opened", {"name": "stripe-api"}, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(destination=watcher, event__provider_event_id=str(outbox.uuid))
    Delivery.objects.filter(pk=delivery.pk).update(attempt_budget=1)

    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()

    failure = WebhookFailure.objects.get(delivery=delivery)
    assert failure.provider == "portal" and failure.event_type == "breaker.opened"
    added = OutboxEvent.objects.get(type="dlq.added")
    assert added.published_at is not None and added.data["outbound"] is True
    assert WebhookEvent.objects.filter(direction="outbound").count() == 1, "the dlq.added about it was not re-delivered"

    # An inbound DLQ addition is an ordinary portal event: subscribers get it.
    inbound_added = emit_committed("dlq.added", {"count": 1, "ids": [99], "outbound": False}, django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.filter(direction="outbound", provider_event_id=str(inbound_added.uuid)).exists()

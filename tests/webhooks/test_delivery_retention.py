"""Retention: delivered payloads are emptied after WEBHOOK_RETENTION_DAYS; the open DLQ is never touched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure
from reliability.webhooks.services.retention import webhook_payloads_purge
from reliability.webhooks.tasks import purge_delivered_payloads

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
BODY = b'{"id": "evt", "type": "charge.succeeded"}'


@pytest.fixture
def world(make_destination, make_source):
    destination = make_destination("orders")
    source = make_source("shop", destinations=[destination])

    def event(age_days: float, status: str | None, failure: str | None = None) -> WebhookEvent:
        ev = WebhookEvent.objects.create(
            source=source, provider_event_id=uuid.uuid4().hex, event_type="charge.succeeded", body=BODY,
            received_at=NOW - timedelta(days=age_days),
        )
        if status is not None:
            delivery = Delivery.objects.create(event=ev, destination=destination, status=status, attempts=1)
            if failure is not None:
                WebhookFailure.objects.create(delivery=delivery, source=source, destination=destination, provider="shop",
                                              payload=BODY, resolution=failure)
        return ev

    return event


def test_only_delivered_payloads_past_the_retention_are_purged(world):
    purge = {
        "delivered": world(8, "delivered"),
        "dead, discarded": world(9, "dead", failure="discarded"),
        "no destination": world(30, None),
    }
    keep = {
        "open DLQ item": world(20, "dead", failure="open"),
        "still retrying": world(8, "failed"),
        "in flight": world(8, "in_flight"),
        "recent": world(6.9, "delivered"),
    }

    with time_machine.travel(NOW, tick=False):
        assert webhook_payloads_purge() == 3
        assert webhook_payloads_purge() == 0, "idempotent"

    for name, event in purge.items():
        event.refresh_from_db()
        assert bytes(event.body) == b"" and event.body_purged_at == NOW, name
    for name, event in keep.items():
        event.refresh_from_db()
        assert bytes(event.body) == BODY and event.body_purged_at is None, name
    assert bytes(WebhookFailure.objects.get(resolution="open").payload) == BODY
    (entry,) = AuditEntry.objects.filter(action="webhooks.payloads.purge")
    assert entry.actor_kind == "system" and entry.actor_label == "webhook-retention" and entry.changes["count"] == 3
    (purged,) = OutboxEvent.objects.filter(type="webhook.payloads_purged")
    assert purged.data["count"] == 3 and purged.data["retention_days"] == 7


def test_the_retention_is_a_setting(world, settings):
    settings.WEBHOOK_RETENTION_DAYS = 10
    event = world(8, "delivered")
    older = world(11, "delivered")
    with time_machine.travel(NOW, tick=False):
        assert purge_delivered_payloads.run() == 1
    event.refresh_from_db()
    older.refresh_from_db()
    assert event.body_purged_at is None and older.body_purged_at is not None


def test_purges_in_batches_each_audited(world):
    for _ in range(5):
        world(8, "delivered")
    with time_machine.travel(NOW, tick=False):
        assert webhook_payloads_purge(batch=2) == 5
    assert AuditEntry.objects.filter(action="webhooks.payloads.purge").count() == 3
    assert not WebhookEvent.objects.filter(body_purged_at__isnull=True).exists()

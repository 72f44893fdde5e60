"""seed_demo's DLQ step: a few real dead-letter items, each with a recorded attempt, once."""

from __future__ import annotations

import pytest

from opsportal.demo import SeedContext
from opsportal.events.models import OutboxEvent
from reliability.webhooks.demo import (
    DEMO_DESTINATION,
    DEMO_DLQ_EVENTS,
    DEMO_OUTAGE_SOURCE,
    seed_dlq,
    seed_webhooks,
)
from reliability.webhooks.models import Delivery, DeliveryAttempt, WebhookFailure

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_creates_demo_dlq_items_with_real_attempts_through_the_delivery_engine_once(settings):
    settings.OPSPORTAL_DEMO_BASE_URL = "http://127.0.0.1:9"  # nothing listens: the portal is not serving yet
    ctx = SeedContext()
    seed_webhooks(ctx)
    seed_dlq(ctx)

    failures = list(WebhookFailure.objects.select_related("destination", "delivery__event"))
    assert len(failures) == len(DEMO_DLQ_EVENTS)
    assert {f.provider for f in failures} == {DEMO_OUTAGE_SOURCE}
    assert {f.destination.name for f in failures} == {DEMO_DESTINATION}
    assert {f.event_type for f in failures} == {t for t, _ in DEMO_DLQ_EVENTS}
    assert all(f.resolution == "open" and f.error_message for f in failures)
    assert set(Delivery.objects.values_list("status", "attempts")) == {("dead", 1)}
    attempts = DeliveryAttempt.objects.filter(delivery__in=[f.delivery for f in failures])
    assert attempts.count() == len(DEMO_DLQ_EVENTS) and {a.result for a in attempts} == {"network_error"}
    assert OutboxEvent.objects.filter(type="dlq.added").exists()
    assert any("DLQ item(s)" in line for line in ctx.created_items)
    assert not Delivery.objects.filter(attempt_budget__isnull=False).exists(), "the source's policy, not a row edit"

    again = SeedContext()
    seed_webhooks(again)
    seed_dlq(again)
    assert again.created_items == []
    assert WebhookFailure.objects.count() == len(DEMO_DLQ_EVENTS)

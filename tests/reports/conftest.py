"""Reliability report fixtures: a small world built through the services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from audit.actors import Actor
from opsportal.catalog.services import service_create
from reliability.breakers.config import BreakerConfig
from reliability.breakers.runtime import TransitionEvent
from reliability.breakers.services import breaker_create, breaker_force_open, breaker_transition_record
from reliability.incidents.services import incident_acknowledge, incident_open, incident_resolve
from reliability.webhooks.models import Delivery, WebhookEvent
from reliability.webhooks.services.config import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.services.dlq import dlq_discard, dlq_retry
from reliability.webhooks.services.dlq_intake import DeadLetter, dlq_dead_letter
from tests.webhooks.helpers import SECRETS

SYS = Actor.for_system("test")
T = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # when the data happened (inside month:2026-11)


def _dead_letters(destination, source, n: int, at: datetime) -> list[int]:
    """n deliveries that exhausted their attempts, put into the DLQ by the webhooks service."""
    items = []
    with transaction.atomic():
        for i in range(n):
            event = WebhookEvent.objects.create(source=source, provider_event_id=f"evt_{destination.pk}_{i}",
                                                event_type="charge.failed", body=b"{}", received_at=at)
            delivery = Delivery.objects.create(event=event, destination=destination, status=Delivery.Status.DEAD,
                                               attempts=8, last_status_code=500, last_error="HTTP 500", created_at=at)
            delivery = Delivery.objects.select_related("event__source", "destination").get(pk=delivery.pk)
            items.append(DeadLetter.of(delivery, "HTTP 500"))
        return [f.pk for f in dlq_dead_letter(items, now=at)]


@pytest.fixture
def world(operator):
    """Two services; incidents with known MTTA/MTTR; breaker trips; DLQ traffic; one thing outside the month."""
    op = Actor(user=operator)
    with time_machine.travel(T, tick=False) as clock:
        payments = service_create(name="payments", team="core", tier=0, actor=SYS, source="test")
        service_create(name="search", team="discovery", tier=2, actor=SYS, source="test")
        # payments P1: acked after 2 min, resolved after 30 min; and a second, acked after 4 min, resolved after 60
        for ack, resolve, key in ((120, 1800, "a"), (240, 3600, "b")):
            incident = incident_open(title=f"P1 {key}", severity="P1", group_key=f"pay-{key}", actor=SYS,
                                     source="test", service=payments)
            clock.shift(ack)
            incident_acknowledge(incident_id=incident.pk, actor=op, source="api")
            clock.shift(resolve - ack)
            incident_resolve(incident_id=incident.pk, actor=op, source="api")
        # payments P0, still open (no ack, no resolve)
        incident_open(title="P0 open", severity="P0", group_key="pay-c", actor=SYS, source="test", service=payments)
        # no service: a P2 acked after 10 min
        loose = incident_open(title="loose", severity="P2", group_key="loose", actor=SYS, source="test")
        clock.shift(600)
        incident_acknowledge(incident_id=loose.pk, actor=op, source="api")

        breaker_create(name="stripe-api", config=BreakerConfig(), actor=SYS, source="test", service=payments)
        for _ in range(2):
            breaker_transition_record(event=TransitionEvent(name="stripe-api", from_state="closed", to_state="open",
                                                            cause="failure_rate", failure_rate=0.9,
                                                            at=datetime.now(UTC).timestamp()))
            breaker_transition_record(event=TransitionEvent(name="stripe-api", from_state="open",
                                                            to_state="half_open", cause="open_duration_elapsed",
                                                            at=datetime.now(UTC).timestamp()))
            breaker_transition_record(event=TransitionEvent(name="stripe-api", from_state="half_open",
                                                            to_state="closed", cause="probe_success",
                                                            at=datetime.now(UTC).timestamp()))
        breaker_force_open(name="stripe-api", actor=op, reason="provider outage", source="api")

        billing = webhook_destination_create(name="billing", url="http://127.0.0.1:9/hook", actor=SYS, source="test")
        ledger = webhook_destination_create(name="ledger", url="http://127.0.0.1:9/hook2", actor=SYS, source="test")
        source = webhook_source_create(slug="stripe", scheme="stripe", secrets=[SECRETS["stripe"]], actor=SYS,
                                       source="test", routes=[RouteSpec(destination_id=billing.pk),
                                                              RouteSpec(destination_id=ledger.pk)])
        now = datetime.now(UTC)
        billing_ids = _dead_letters(billing, source, 3, now)
        ledger_ids = _dead_letters(ledger, source, 2, now)
        dlq_retry(failure_ids=billing_ids[:2], actor=op, source="api")
        dlq_discard(failure_ids=ledger_ids, reason="test data", actor=op, source="api")
    # outside the month: an incident in December must not count in November
    with time_machine.travel(datetime(2026, 12, 3, tzinfo=UTC), tick=False):
        incident_open(title="december", severity="P1", group_key="dec", actor=SYS, source="test", service=payments)
    return payments



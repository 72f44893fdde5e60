"""The development sink (/ops/_sink/<name>/) and the demo destination that really delivers to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from audit.models import AuditEntry
from opsportal.demo import SeedContext
from reliability.webhooks.demo import (
    DEMO_DESTINATION,
    DEMO_OUTAGE_SOURCE,
    DEMO_SOURCE,
    seed_dlq,
    seed_webhooks,
)
from reliability.webhooks.engine import deliveries_attempt
from reliability.webhooks.engine.send import sign
from reliability.webhooks.models import Delivery, WebhookDestination, WebhookFailure, WebhookSource
from reliability.webhooks.services.dlq import dlq_retry
from reliability.webhooks.views.sink import sink_log
from tests.webhooks.conftest import SYSTEM
from tests.webhooks.helpers import post, standard_headers

SINK = "/ops/_sink/"


@pytest.fixture(autouse=True)
def _clean_sink_log():
    sink_log.clear()
    yield
    sink_log.clear()


def signed(secret: str, msg_id: str, body: bytes) -> dict:
    at = datetime.now(UTC)
    return {
        "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, at=at, body=body),
    }


@pytest.mark.django_db
def test_the_sink_verifies_the_portal_signature_records_ids_and_answers_2xx(client, make_destination, settings):
    settings.OPSPORTAL_ENV = "development"
    destination = make_destination("to-sink", url="http://127.0.0.1:8000/ops/_sink/demo/")
    body = b'{"type":"invoice.paid"}'
    headers = signed(destination.signing_secret, "evt_41", body)

    assert client.post(f"{SINK}demo/", body, content_type="application/json", headers=headers).status_code == 200
    assert client.post(f"{SINK}demo/", body, content_type="application/json", headers=headers).json()["seen"] == 2
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    assert client.post(f"{SINK}demo/", body, content_type="application/json", headers=forged).status_code == 401
    other = signed(destination.signing_secret, "evt_42", b"not json")
    assert client.post(f"{SINK}demo/", b"not json", content_type="application/json", headers=other).status_code == 400
    assert client.post(f"{SINK}nobody/", body, content_type="application/json", headers=headers).status_code == 404
    assert client.get(f"{SINK}demo/").json() == {"name": "demo", "total": 2, "received": {"evt_41": 2}}


@pytest.mark.django_db
def test_the_sink_answers_the_status_asked_for_and_still_records(client, make_destination, settings):
    settings.OPSPORTAL_ENV = "development"
    destination = make_destination("flaky", url="http://127.0.0.1:8000/ops/_sink/flaky/?status=503")
    body = b'{"type":"x"}'
    response = client.post(f"{SINK}flaky/?status=503", body, content_type="application/json",
                           headers=signed(destination.signing_secret, "evt_7", body))
    assert response.status_code == 503 and sink_log.received("flaky") == {"evt_7": 1}


@pytest.mark.django_db
def test_the_sink_is_off_outside_development_unless_a_setting_enables_it(client, make_destination, settings):
    destination = make_destination("to-sink", url="http://127.0.0.1:8000/ops/_sink/demo/")
    body = b'{"type":"x"}'
    headers = signed(destination.signing_secret, "evt_1", body)
    settings.OPSPORTAL_ENV, settings.WEBHOOK_SINK_ENABLED = "staging", False
    assert client.post(f"{SINK}demo/", body, content_type="application/json", headers=headers).status_code == 404
    assert client.get(f"{SINK}demo/").status_code == 404
    settings.WEBHOOK_SINK_ENABLED = True
    assert client.post(f"{SINK}demo/", body, content_type="application/json", headers=headers).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_demo_delivers_to_the_served_portal_and_its_dlq_items_replay_there(live_server, client, settings):
    settings.OPSPORTAL_ENV = "development"
    # seed_demo runs before the portal serves (make run): nothing answers, the DLQ items get a real attempt.
    settings.OPSPORTAL_DEMO_BASE_URL = "http://127.0.0.1:9"
    seed_webhooks(SeedContext())
    seed_dlq(SeedContext())
    items = list(WebhookFailure.objects.filter(provider=DEMO_OUTAGE_SOURCE).values_list("pk", flat=True))
    assert len(items) == 4

    # The portal now serves on another address: a seed run re-points the destination (one audited update).
    settings.OPSPORTAL_DEMO_BASE_URL = live_server.url
    ctx = SeedContext()
    seed_webhooks(ctx)
    destination = WebhookDestination.objects.get(name=DEMO_DESTINATION)
    assert destination.url == f"{live_server.url}/ops/_sink/demo/" and destination.enabled
    assert AuditEntry.objects.filter(action="webhooks.destination.update", target_id=str(destination.pk)).count() == 1
    seed_webhooks(again := SeedContext())
    assert again.created_items == []

    # A signed webhook to the demo source is delivered to the sink, signature checked there.
    secret = WebhookSource.objects.get(slug=DEMO_SOURCE).secrets[0]
    body = json.dumps({"type": "invoice.paid", "id": "demo-1"}).encode()
    accepted = post(client, DEMO_SOURCE, body, standard_headers(body, secret=secret, msg_id="msg_demo_1"))
    assert accepted.status_code == 202
    deliveries_attempt(event_ids=[accepted.json()["id"]])
    delivery = Delivery.objects.get(event_id=accepted.json()["id"])
    assert delivery.status == Delivery.Status.DELIVERED, delivery.last_error
    assert sink_log.received("demo") == {f"evt_{accepted.json()['id']}": 1}

    # The DLQ items replay to the running portal.
    result = dlq_retry(failure_ids=items, actor=SYSTEM, source="test")
    deliveries_attempt(delivery_ids=result.delivery_ids)
    assert set(Delivery.objects.filter(pk__in=result.delivery_ids).values_list("status", flat=True)) == {"delivered"}
    assert len(sink_log.received("demo")) == 5

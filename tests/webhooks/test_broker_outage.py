"""Issue 11 item 5: the broker or the channel layer is gone; nothing accepted is lost.

Broker at a closed port: signed webhooks and alerts are still accepted (2xx)
and stored. Broker back (the real Redis, a real worker, the beat sweep's task
sent as beat sends it): every webhook delivered exactly once. Channel layer at
a closed port: outbound subscriber deliveries still happen.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from channels.layers import channel_layers

from opsportal.celery import app
from opsportal.events.models import OutboxEvent
from reliability.breakers import default_registry
from reliability.incidents.models import Alert, Incident
from reliability.webhooks.dispatch import dispatch_flush
from reliability.webhooks.engine import deliveries_sweep
from reliability.webhooks.models import Delivery, WebhookEvent
from tests.incidents.conftest import group_payload
from tests.webhooks.receiver import DEST_SECRET
from tests.webhooks.test_worker_delivery import celery_worker, ingest, receiver  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def broker_at(url: str):
    """Point this process' Celery publisher at ``url`` (its pools are rebuilt, as after a fork)."""
    before = app.conf.broker_url
    app.conf.broker_url = url
    app._after_fork()
    try:
        yield
    finally:
        app.conf.broker_url = before
        app._after_fork()


@pytest.fixture(autouse=True)
def _fresh_breakers():
    default_registry.reset()  # the dispatch and channel-layer breakers open during these tests
    yield
    default_registry.reset()


def _trigger(dedup: str) -> dict:
    return {"routing_key": "x" * 32, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": f"{dedup} down", "severity": "critical", "source": "db-1"}}


def test_accepted_while_the_broker_is_down_and_delivered_once_when_it_is_back(
    client, token_client, make_destination, make_source, receiver, celery_worker,  # noqa: F811
):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
    make_source("shop", destinations=[destination])
    alerts = token_client("alerts:write")

    with broker_at(f"redis://127.0.0.1:{_closed_port()}/0"):
        events = [ingest(client, "shop") for _ in range(5)]  # each answered 202 (ingest asserts it)
        dispatch_flush()  # the nudges fail against the dead broker, quietly
        for group in ("DiskFull", "HighLatency"):
            response = alerts.post("/api/v1/alerts/alertmanager/", group_payload(group, 2), format="json")
            assert response.status_code in (200, 202), response.content
        response = alerts.post("/api/v1/alerts/events/", _trigger("db-primary"), format="json")
        assert response.status_code == 202, response.content

    # stored: the database is the source of truth
    assert WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).count() == 5
    assert set(Delivery.objects.filter(event__in=events).values_list("status", flat=True)) == {"pending"}
    assert receiver.count() == 0
    assert Incident.objects.count() == 3 and Alert.objects.count() == 5

    # the broker is back: a worker runs what beat sends, one sweep a second (each expires after
    # 10 s, so the first ones may expire while the worker is still starting on a loaded box)
    celery_worker()
    deadline = time.monotonic() + 120
    while Delivery.objects.filter(event__in=events, status="delivered").count() < 5:
        assert time.monotonic() < deadline, "timed out waiting for the deliveries"
        app.send_task("webhooks.sweep_deliveries")
        time.sleep(1.0)  # beat's interval
    app.send_task("webhooks.sweep_deliveries")  # another sweep (and beat's next one) finds nothing to do
    app.send_task("incidents.sweep_escalations")
    assert deliveries_sweep().claimed == 0
    assert receiver.ids() == {e.public_id: 1 for e in events}
    assert all(s.verified for s in receiver.seen)
    assert list(Delivery.objects.filter(event__in=events).values_list("attempts", flat=True)) == [1] * 5
    assert Incident.objects.count() == 3 and Alert.objects.count() == 5  # each alert in one incident, once


@pytest.fixture
def channel_layer_down(settings):
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "opsportal.redis_layer.BoundedRedisChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{_closed_port()}/0", "socket_connect_timeout": 0.5}],
                   "send_timeout": 0.5},
    }}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_outbound_subscribers_are_served_while_the_channel_layer_is_down(
    token_client, make_destination, receiver, channel_layer_down,  # noqa: F811
):
    make_destination("pager-bridge", url=receiver.url, signing_secret=DEST_SECRET, event_types=["incident.*"])
    response = token_client("alerts:write").post("/api/v1/alerts/alertmanager/", group_payload("DiskFull", 1),
                                                 format="json")
    assert response.status_code in (200, 202), response.content

    opened = OutboxEvent.objects.get(type="incident.opened")
    assert opened.published_at is not None  # handed to the subscribers ...
    assert opened.broadcast_at is None  # ... although the live push failed (the sweep retries it)
    outbound = WebhookEvent.objects.get(direction="outbound", provider_event_id=str(opened.uuid))
    assert deliveries_sweep().delivered >= 1
    assert receiver.ids()[outbound.public_id] == 1
    assert receiver.for_id(outbound.public_id)[0].verified

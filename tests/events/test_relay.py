"""The outbox relay: publish after commit, survive failures, sweep what was missed."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from opsportal.events import relay
from opsportal.events.models import OutboxEvent
from opsportal.events.services import emit

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribers(monkeypatch):
    registered = {}
    monkeypatch.setattr(relay, "_subscribers", registered)
    return registered


def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(channel: str) -> dict:
    return async_to_sync(get_channel_layer().receive)(channel)


@pytest.mark.django_db(transaction=True)
def test_emit_needs_the_services_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        emit("catalog.service_created", ("catalog.service", 1), {})


def test_event_is_published_to_its_domain_group_after_commit(django_capture_on_commit_callbacks):
    channel = _listen("ops.catalog")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit("catalog.service_created", ("catalog.service", 7), {"name": "payments"})
        assert OutboxEvent.objects.get(pk=event.pk).published_at is None
    message = _receive(channel)
    assert message["type"] == "ops.event"
    assert message["event"] == {
        "id": str(event.uuid), "type": "catalog.service_created", "at": event.created_at.isoformat(),
        "aggregate": {"type": "catalog.service", "id": "7"}, "data": {"name": "payments"},
    }
    assert OutboxEvent.objects.get(pk=event.pk).published_at is not None


def test_a_subscriber_whose_sql_fails_spoils_neither_the_others_nor_the_publish(subscribers, django_capture_on_commit_callbacks):
    seen = []

    def broken(event):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    subscribers["broken"] = broken
    subscribers["working"] = lambda event: seen.append(event.type)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit("incident.opened", ("incident", 1), {})
    assert seen == ["incident.opened"]
    assert OutboxEvent.objects.get(pk=event.pk).published_at is not None


def test_a_relay_failure_leaves_the_event_for_the_sweep(monkeypatch, django_capture_on_commit_callbacks):
    class DownLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(relay, "get_channel_layer", lambda: DownLayer())
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit("breaker.opened", ("breaker", "pay"), {})
    # and the caller saw no error; subscribers had it anyway (they do not wait on the layer)
    assert OutboxEvent.objects.get(pk=event.pk).broadcast_at is None


def test_sweep_republishes_only_what_is_old_enough_and_unpublished(settings):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 2
    now = timezone.now()
    make = lambda **kw: OutboxEvent.objects.create(type="catalog.x", aggregate_type="t", aggregate_id="1", **kw)  # noqa: E731
    stale = make(created_at=now - timedelta(seconds=30))
    fresh = make(created_at=now)
    done = make(created_at=now - timedelta(seconds=30), published_at=now - timedelta(seconds=29),
                broadcast_at=now - timedelta(seconds=29))
    channel = _listen("ops.catalog")
    assert relay.sweep_unpublished() == 1
    assert _receive(channel)["event"]["id"] == str(stale.uuid)
    stale.refresh_from_db(), fresh.refresh_from_db(), done.refresh_from_db()
    assert stale.published_at is not None and fresh.published_at is None
    assert done.published_at == now - timedelta(seconds=29)


def _down_layer():
    class DownLayer:
        sent = 0

        async def group_send(self, group, message):
            DownLayer.sent += 1
            raise ConnectionError("redis is down")

    return DownLayer()


@pytest.fixture
def layer_breaker_reset():
    from reliability.breakers import default_registry

    default_registry.reset()
    yield
    default_registry.reset()


def test_subscribers_get_the_event_while_the_channel_layer_is_down(subscribers, monkeypatch, layer_breaker_reset,
                                                                  django_capture_on_commit_callbacks):
    seen = []
    subscribers["outbound"] = lambda event: seen.append(event.uuid)
    monkeypatch.setattr(relay, "get_channel_layer", _down_layer)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit("incident.opened", ("incident", 1), {})
    row = OutboxEvent.objects.get(pk=event.pk)
    assert seen == [event.uuid]
    assert row.published_at is not None and row.broadcast_at is None
    # the layer comes back: the sweep broadcasts it, and the subscriber is not offered it again
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    monkeypatch.setattr(relay, "get_channel_layer", get_channel_layer)  # the real layer again
    channel = _listen("ops.incident")
    relay.sweep_unpublished()
    assert _receive(channel)["event"]["id"] == str(event.uuid)
    assert OutboxEvent.objects.get(pk=event.pk).broadcast_at is not None
    assert seen == [event.uuid]


def test_a_dead_channel_layer_is_skipped_by_its_breaker_after_a_few_failures(subscribers, monkeypatch, layer_breaker_reset,
                                                                            django_capture_on_commit_callbacks):
    layer = _down_layer()
    monkeypatch.setattr(relay, "get_channel_layer", lambda: layer)
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            emit("incident.opened", ("incident", i), {})
    assert type(layer).sent == 2  # then the breaker refuses at once: no connect timeout per request
    assert OutboxEvent.objects.filter(broadcast_at__isnull=True).count() == 5
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0


def test_a_deferring_subscriber_leaves_the_event_unpublished_for_the_sweep(subscribers, django_capture_on_commit_callbacks):
    calls = []

    def deferring(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise relay.SubscriberRetry("broker down")

    subscribers["signal"] = deferring
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit("incident.opened", ("incident", 1), {})
    assert OutboxEvent.objects.get(pk=event.pk).published_at is None
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    assert relay.sweep_unpublished() == 1
    assert OutboxEvent.objects.get(pk=event.pk).published_at is not None and calls == [event.pk, event.pk]


def test_events_too_old_for_a_live_push_are_marked_without_sending(settings, monkeypatch):
    settings.OUTBOX_BROADCAST_MAX_AGE_SECONDS = 60
    sent = []

    class CountingLayer:
        async def group_send(self, group, message):
            sent.append(message["event"]["id"])

    monkeypatch.setattr(relay, "get_channel_layer", CountingLayer)
    now = timezone.now()
    make = lambda age: OutboxEvent.objects.create(  # noqa: E731
        type="catalog.x", aggregate_type="t", aggregate_id="1", created_at=now - timedelta(seconds=age), published_at=now)
    old, recent = make(120), make(30)
    relay.sweep_unpublished()
    old.refresh_from_db(), recent.refresh_from_db()
    assert old.broadcast_at is not None and recent.broadcast_at is not None
    assert sent == [str(recent.uuid)]

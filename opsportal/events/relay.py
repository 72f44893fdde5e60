"""Deliver committed outbox events to subscribers and to channel-layer groups.

Two independent hand-offs, each with its own mark on the row:

- ``published_at``: every subscriber (outbound webhook destinations, portal
  signals) has had the event. Durable work: it runs first and never waits on
  the channel layer, so a Redis outage does not stall outbound deliveries.
- ``broadcast_at``: the live dashboard's channel layer has it. Best effort
  behind a breaker: while the layer is down each relay costs nothing and the
  sweep sends it later; an event older than ``OUTBOX_BROADCAST_MAX_AGE_SECONDS``
  is marked without sending (dashboards catch up from the event API on
  reconnect, a stale live push helps nobody).

At-least-once: the on-commit relay tries immediately; the beat sweep picks up
whatever it missed. Subscribers and clients dedupe on the event id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterable

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from opsportal.events.groups import group_for
from opsportal.events.models import OutboxEvent

log = logging.getLogger(__name__)

CHANNEL_LAYER_BREAKER = "events-channel-layer"

# Extra subscribers (e.g. outbound webhook destinations) register here from
# their AppConfig.ready(); each gets every committed event once per relay.
_subscribers: dict[str, Callable[[OutboxEvent], None]] = {}


class SubscriberRetry(Exception):  # noqa: N818 - a signal to the relay, not an error
    """Raised by a subscriber that could not take the event now (its broker is down).

    The event stays unpublished and the sweep offers it again (to every
    subscriber: they are idempotent).
    """


def subscribe(key: str, handler: Callable[[OutboxEvent], None]) -> None:
    _subscribers[key] = handler


async def _send_all(layer, events: list[OutboxEvent]) -> None:
    for event in events:
        await layer.group_send(group_for(event.type), {"type": "ops.event", "event": event.envelope()})


def _hand_over(events: list[OutboxEvent]) -> list[int]:
    """Run every subscriber on each event; the ids every subscriber took."""
    done = []
    for event in events:
        taken = True
        for key, handler in _subscribers.items():
            try:
                with transaction.atomic():  # a failing subscriber rolls back its own work only
                    handler(event)
            except SubscriberRetry as exc:
                taken = False
                log.warning("outbox subscriber %s deferred event %s: %s", key, event.uuid, exc)
            except Exception:
                log.exception("outbox subscriber %s failed for event %s", key, event.uuid)
        if taken:
            done.append(event.pk)
    return done


def _layer_breaker():
    # a function import: the breakers record transitions through the outbox
    from reliability.breakers import BreakerConfig, breaker, declare, default_registry

    if default_registry.core(CHANNEL_LAYER_BREAKER) is not None:
        return breaker(CHANNEL_LAYER_BREAKER)
    return declare(CHANNEL_LAYER_BREAKER, BreakerConfig(minimum_calls=2, failure_rate_threshold=50.0,
                                                        open_duration=5.0, half_open_permitted_calls=1,
                                                        success_threshold=1))


_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _relay_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop per process (a daemon thread) for the relay's sends.

    ``async_to_sync`` from a plain request thread makes a new loop in a new thread for every
    call, and the Redis channel layer keeps its connections per loop, so each relay paid a
    thread, a loop and a Redis connection (~10 ms of a 100-alert intake, bench/incidents).
    Here they are made once per process (again after a fork: the pid is checked).
    """
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="outbox-relay-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def _send_on_relay_loop(layer, events: list[OutboxEvent]) -> None:
    future = asyncio.run_coroutine_threadsafe(_send_all(layer, events), _relay_loop())
    try:  # each send is bounded by the layer (send_timeout); this only guards a wedged loop
        future.result(timeout=10 + len(events))
    except BaseException:
        future.cancel()
        raise


def _broadcast(events: list[OutboxEvent]) -> list[int]:
    """Send to the channel layer; the ids sent (or too old to be worth sending)."""
    if not events:
        return []
    max_age = timezone.now() - timezone.timedelta(seconds=settings.OUTBOX_BROADCAST_MAX_AGE_SECONDS)
    stale = [e.pk for e in events if e.created_at < max_age]
    live = [e for e in events if e.created_at >= max_age]
    layer = get_channel_layer()
    if not live or layer is None:
        return stale + [e.pk for e in live]
    try:
        _layer_breaker().call(_send_on_relay_loop, layer, live)
    except Exception as exc:  # the sweep retries; never fail the request that emitted
        log.warning("outbox broadcast to the channel layer failed (%s); the sweep retries", type(exc).__name__)
        return stale
    return stale + [e.pk for e in live]


def _relay(pending: Q, *, limit: int | None) -> int:
    """One transaction: subscribers for the unpublished, the layer for the unbroadcast, then the marks."""
    with transaction.atomic():
        qs = (OutboxEvent.objects.select_for_update(skip_locked=True)
              .filter(pending).filter(Q(published_at__isnull=True) | Q(broadcast_at__isnull=True)).order_by("id"))
        events = list(qs[:limit] if limit else qs)
        handed = set(_hand_over([e for e in events if e.published_at is None]))
        sent = set(_broadcast([e for e in events if e.broadcast_at is None]))
        now = timezone.now()
        both = handed & sent
        if both:  # the usual case: one UPDATE
            OutboxEvent.objects.filter(pk__in=both).update(published_at=now, broadcast_at=now)
        if handed - both:
            OutboxEvent.objects.filter(pk__in=handed - both).update(published_at=now)
        if sent - both:
            OutboxEvent.objects.filter(pk__in=sent - both).update(broadcast_at=now)
    return len(handed)


def relay_event_ids(ids: Iterable[int]) -> int:
    """Hand these events to subscribers and the channel layer if not done yet; returns how many were published."""
    return _relay(Q(pk__in=list(ids)), limit=None)


def sweep_unpublished(*, limit: int = 500) -> int:
    """Relay what the on-commit relay missed (crash, broker or channel layer down)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    return _relay(Q(created_at__lte=cutoff), limit=limit)

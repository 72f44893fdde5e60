"""Deliver committed outbox events to channel-layer groups (and, later, destinations).

At-least-once: the on-commit relay tries immediately; the beat sweep picks up
whatever it missed. Clients dedupe on the event id.
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
from django.utils import timezone

from opsportal.events.groups import group_for
from opsportal.events.models import OutboxEvent

log = logging.getLogger(__name__)

# Extra subscribers (e.g. outbound webhook destinations) register here from
# their AppConfig.ready(); each gets every committed event once per relay.
_subscribers: dict[str, Callable[[OutboxEvent], None]] = {}


def subscribe(key: str, handler: Callable[[OutboxEvent], None]) -> None:
    _subscribers[key] = handler


async def _send_all(layer, events: list[OutboxEvent]) -> None:
    for event in events:
        await layer.group_send(group_for(event.type), {"type": "ops.event", "event": event.envelope()})


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


def _publish(events: list[OutboxEvent]) -> list[int]:
    layer = get_channel_layer()
    if events and layer is not None:
        try:
            _send_on_relay_loop(layer, events)
        except Exception:  # the sweep retries; never fail the request that emitted
            log.warning("outbox relay to channel layer failed", exc_info=True)
            return []
    for event in events:
        for key, handler in _subscribers.items():
            try:
                with transaction.atomic():  # a failing subscriber rolls back its own work only
                    handler(event)
            except Exception:
                log.exception("outbox subscriber %s failed for event %s", key, event.uuid)
    return [e.pk for e in events]


def relay_event_ids(ids: Iterable[int]) -> int:
    """Publish these events if still unpublished; returns how many were published."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(ids), published_at__isnull=True)
            .order_by("id")
        )
        done = _publish(events)
        if done:
            OutboxEvent.objects.filter(pk__in=done).update(published_at=timezone.now())
    return len(done)


def sweep_unpublished(*, limit: int = 500) -> int:
    """Republish events the on-commit relay missed (crash, layer down)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, created_at__lte=cutoff)
            .order_by("id")[:limit]
        )
        done = _publish(events)
        if done:
            OutboxEvent.objects.filter(pk__in=done).update(published_at=timezone.now())
    return len(done)

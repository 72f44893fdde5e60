"""Dispatch: nudging the workers after commit, by task name.

Only a prompt nudge: the beat sweep finds every due delivery anyway, so a
lost message delays a delivery by at most a sweep interval. The delivery task
is published by name (``webhooks.deliver_batch``, ``send_task``), so nothing
here imports ``tasks.py`` or the engine: services and the engine can dispatch
without an import circle.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.db import transaction

from opsportal import observability
from opsportal.celery import app
from reliability.breakers import BreakerConfig, breaker, declare
from reliability.webhooks.names import TASK_DELIVER_BATCH

log = logging.getLogger("reliability.webhooks.delivery")

DISPATCH_BREAKER = "webhooks-dispatch"
_DISPATCH_BREAKER_CONFIG = BreakerConfig(minimum_calls=3, failure_rate_threshold=50.0, open_duration=10.0,
                                         half_open_permitted_calls=1, success_threshold=1)
_dispatch_declared = False


def dispatch_interval() -> float:
    """Busy ingestion publishes its delivery nudges at most this often per process (seconds)."""
    return float(getattr(settings, "WEBHOOK_DISPATCH_INTERVAL", 0.1))


def _batch_size() -> int:
    return int(getattr(settings, "WEBHOOK_DELIVERY_BATCH_SIZE", 100))


def _dispatch_breaker():
    global _dispatch_declared
    if not _dispatch_declared:
        _dispatch_declared = True
        return declare(DISPATCH_BREAKER, _DISPATCH_BREAKER_CONFIG)
    return breaker(DISPATCH_BREAKER)


def _publish(kind: str, chunk: list[int]) -> None:
    # retry=False: a broker outage must not hold the request that accepted the webhook.
    app.send_task(TASK_DELIVER_BATCH, kwargs={kind: chunk}, retry=False)


def _enqueue(kind: str, ids: list[int]) -> None:
    size = _batch_size()
    guard = _dispatch_breaker()
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        try:
            # The breaker stops even trying after a few failures; the sweep delivers them anyway.
            guard.call(_publish, kind, chunk)
        except Exception as exc:
            log.warning("could not enqueue %d webhook deliveries (%s); the sweep will pick them up", len(ids) - start, exc)
            return


def deliveries_dispatch(delivery_ids: Iterable[int]) -> None:
    """Hand deliveries to the workers once the caller's transaction commits (batched tasks)."""
    ids = sorted({int(i) for i in delivery_ids})
    if ids:
        transaction.on_commit(partial(_enqueue, "delivery_ids", ids), robust=True)


class DispatchBuffer:
    """Coalesces the on-commit nudges of the hot paths into few tasks.

    Ingestion accepts hundreds of webhooks a second per process, and
    publishing one Celery message costs ~1 ms of CPU (bench/webhooks), more
    than the ingest itself. The request only adds its event id here; a daemon
    thread publishes the gathered ids as ``deliver_batch`` tasks: ``WINDOW``
    after the first id when traffic is quiet (a prompt delivery), and at most
    once per ``WEBHOOK_DISPATCH_INTERVAL`` seconds when it is busy (bounded
    broker work, bigger batches the worker runs on its threads). A process
    that dies with ids buffered loses only the nudge: the beat sweep delivers
    those events within a second.
    """

    WINDOW = 0.01

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        # The trace of the first request since the last flush: the batch task continues it (with
        # one event per batch, ingestion, task and delivery are one trace; see observability.py).
        self._traceparent: str | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_flush = 0.0

    def add(self, ids: Iterable[int]) -> None:
        traceparent = observability.current_traceparent()
        with self._lock:
            self._ids.update(ids)
            if self._traceparent is None:
                self._traceparent = traceparent
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.WINDOW)
            pause = dispatch_interval() - (time.monotonic() - self._last_flush)
            if pause > 0:
                time.sleep(pause)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the thread die; the sweep is the backstop
                log.exception("webhook dispatch flush failed")

    def flush(self) -> None:
        with self._lock:
            ids, self._ids = sorted(self._ids), set()
            traceparent, self._traceparent = self._traceparent, None
        self._last_flush = time.monotonic()
        if ids:
            with observability.continued(traceparent):  # the Celery instrumentation injects it into the task
                _enqueue("event_ids", ids)


_buffer = DispatchBuffer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_buffer._reset)  # threads and held locks do not survive a fork
atexit.register(_buffer.flush)  # management commands exit right after their work


def dispatch_flush() -> None:
    """Publish buffered event dispatches now (tests, shutdown)."""
    _buffer.flush()


def deliveries_dispatch_for_events(event_ids: Iterable[int]) -> None:
    """Like ``deliveries_dispatch`` for every delivery of these events (ingestion, outbound events).

    On commit the ids go to the per-process dispatch buffer (one task per
    ~10 ms window), so the accepting request pays no broker round trip.
    """
    ids = sorted({int(i) for i in event_ids})
    if ids:
        transaction.on_commit(partial(_buffer.add, ids), robust=True)

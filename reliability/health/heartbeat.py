"""The worker side of the dead-man switch: a thread in each Celery worker's main process.

Started on ``worker_ready`` (so it beats only once the worker consumes), stopped on
``worker_shutdown`` (which also retires the row: a clean stop is not a dead worker). It is
not a task: a task would queue behind the work it is meant to vouch for. A worker killed
with SIGKILL simply stops beating, and the beat sweep (``services.workers_sweep``) notices.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger(__name__)

_thread: threading.Thread | None = None
_stop = threading.Event()
_identity: dict = {}


def _queues(consumer) -> tuple[str, ...]:
    try:
        return tuple(q.name for q in consumer.task_consumer.queues)
    except Exception:
        try:
            return tuple(consumer.app.amqp.queues.consume_from or ()) or ("celery",)
        except Exception:
            return ("celery",)


def beat_once() -> None:
    """Write this worker's heartbeat now (errors are logged: the next beat tries again)."""
    from celery.worker import state as worker_state

    from reliability.health.probes import queue_depths
    from reliability.health.services import Beat, worker_heartbeat_record

    close_old_connections()
    try:
        depths = queue_depths() or {}
    except Exception:
        depths = {}
    queues = _identity.get("queues", ())
    depth = sum(v for k, v in depths.items() if k in queues) if depths else None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    beat = Beat(worker_id=_identity["worker_id"], hostname=socket.gethostname(), pid=os.getpid(),
                started_at=_identity.get("started_at"), load=load, active_tasks=len(worker_state.active_requests),
                queue_depth=depth, queues=queues)
    worker_heartbeat_record(beat=beat)


def _run() -> None:
    interval = float(settings.HEALTH_HEARTBEAT_SECONDS)
    while not _stop.is_set():
        try:
            beat_once()
        except Exception:
            log.warning("worker heartbeat failed", exc_info=True)
        _stop.wait(interval)


def on_worker_ready(sender=None, **_kwargs) -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    _identity.update(worker_id=getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}",
                     queues=_queues(sender), started_at=timezone.now())
    _stop.clear()
    _thread = threading.Thread(target=_run, name="health-heartbeat", daemon=True)
    _thread.start()


def on_worker_shutdown(**_kwargs) -> None:
    global _thread
    if _thread is None:
        return
    _stop.set()
    _thread.join(5)
    _thread = None
    try:
        from reliability.health.services import worker_heartbeat_retire

        close_old_connections()
        worker_heartbeat_retire(worker_id=_identity["worker_id"])
    except Exception:
        log.warning("could not retire the worker heartbeat", exc_info=True)


def connect() -> None:
    from celery.signals import worker_ready, worker_shutdown

    worker_ready.connect(on_worker_ready, dispatch_uid="health.heartbeat.ready", weak=False)
    worker_shutdown.connect(on_worker_shutdown, dispatch_uid="health.heartbeat.shutdown", weak=False)

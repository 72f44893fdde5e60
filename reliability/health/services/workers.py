"""The workers' dead-man switch: heartbeats in, the stale sweep, clean retirement.

A worker writes its own row every HEALTH_HEARTBEAT_SECONDS (``heartbeat.py``, a thread of the
worker's main process, never a task that could queue behind others). The beat sweep marks rows
not seen for HEALTH_HEARTBEAT_STALE_SECONDS stale: outbox ``worker.stale`` and a portal
incident. The next heartbeat of that worker (the same node name, e.g. after a restart) makes it
alive again: ``worker.recovered`` and the alarm resolved, so the incident resolves.
Telemetry: no audit entries (docs/decisions.md "Health results are telemetry").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from opsportal.events.services import emit
from reliability.health.models import WorkerHeartbeat
from reliability.health.names import Event
from reliability.health.services.alarms import worker_alarm

State = WorkerHeartbeat.State


def _payload(row: WorkerHeartbeat) -> dict:
    return {"worker_id": row.worker_id, "hostname": row.hostname, "pid": row.pid,
            "last_seen": row.last_seen.isoformat(), "state": row.state}


@dataclass(frozen=True)
class Beat:
    worker_id: str
    hostname: str = ""
    pid: int | None = None
    started_at: datetime | None = None
    load: float | None = None
    active_tasks: int = 0
    queue_depth: int | None = None
    queues: tuple[str, ...] = ()


@transaction.atomic
def worker_heartbeat_record(*, beat: Beat, at: datetime | None = None) -> WorkerHeartbeat:
    """Upsert the worker's row; a stale worker beating again is recovered (event, alarm resolved)."""
    at = at or timezone.now()
    row = WorkerHeartbeat.objects.select_for_update().filter(worker_id=beat.worker_id[:200]).first()
    fields = {"hostname": beat.hostname[:200], "pid": beat.pid, "started_at": beat.started_at, "last_seen": at,
              "load": beat.load, "active_tasks": beat.active_tasks, "queue_depth": beat.queue_depth,
              "queues": list(beat.queues)}
    if row is None:
        return WorkerHeartbeat.objects.create(worker_id=beat.worker_id[:200], state=State.ALIVE, state_changed_at=at,
                                              **fields)
    was_stale = row.state == State.STALE
    for key, value in fields.items():
        setattr(row, key, value)
    if was_stale and worker_alarm(worker_id=row.worker_id, firing=False, last_seen=at):
        row.state, row.state_changed_at = State.ALIVE, at
        emit(Event.WORKER_RECOVERED, row, _payload(row))
    row.save()
    return row


@transaction.atomic
def workers_sweep(*, now: datetime | None = None, stale_after: float | None = None) -> list[str]:
    """Mark alive workers not seen for ``stale_after`` seconds stale; returns their ids."""
    now = now or timezone.now()
    stale_after = float(settings.HEALTH_HEARTBEAT_STALE_SECONDS if stale_after is None else stale_after)
    cutoff = now - timedelta(seconds=stale_after)
    rows = list(WorkerHeartbeat.objects.select_for_update(skip_locked=True)
                .filter(state=State.ALIVE, last_seen__lt=cutoff).order_by("worker_id"))
    marked = []
    for row in rows:
        if not worker_alarm(worker_id=row.worker_id, firing=True, last_seen=row.last_seen):
            continue  # intake refused: stays alive here, the next sweep tries again
        row.state, row.state_changed_at = State.STALE, now
        row.save(update_fields=["state", "state_changed_at"])
        emit(Event.WORKER_STALE, row, _payload(row))
        marked.append(row.worker_id)
    return marked


@transaction.atomic
def worker_heartbeat_retire(*, worker_id: str) -> bool:
    """A clean shutdown: the row goes (a worker scaled down is not a dead worker); its alarm resolves."""
    row = WorkerHeartbeat.objects.select_for_update().filter(worker_id=worker_id[:200]).first()
    if row is None:
        return False
    if row.state == State.STALE:
        worker_alarm(worker_id=row.worker_id, firing=False, last_seen=row.last_seen)
    payload = _payload(row)
    emit(Event.WORKER_STOPPED, row, payload)
    row.delete()
    return True

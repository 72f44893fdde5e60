"""The health app's names: outbox event types, one spelling each.

Probe results and heartbeats are telemetry, not operator actions: no audit actions are written
for them (docs/decisions.md "Health results are telemetry"). Events are emitted only on
transitions, never per probe run.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions: none yet (health results are telemetry; see the module docstring)."""


class Event(enum.StrEnum):
    """Outbox event types (``health.*`` and ``worker.*`` both reach the ``ops.health`` group)."""

    CHECK_CHANGED = "health.check_changed"  # a check's status changed (ok/warn/fail)
    QUEUE_ALARM_CHANGED = "health.queue_alarm_changed"  # a queue went over/under its depth threshold or stalled
    WORKER_STALE = "worker.stale"
    WORKER_RECOVERED = "worker.recovered"
    WORKER_STOPPED = "worker.stopped"  # a clean shutdown retired the heartbeat row


class Source(enum.StrEnum):
    PROBE = "probe"
    WORKER = "worker"
    SWEEP = "sweep"
    SEED = "seed"


TASK_RUN_PROBES = "health.run_probes"
TASK_SWEEP_WORKERS = "health.sweep_workers"
TASK_PURGE_EVENTS = "health.purge_events"

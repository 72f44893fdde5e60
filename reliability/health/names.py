"""The health app's names, in one spelling: audit actions, outbox event types, task names.

Probe results and heartbeats are telemetry, not operator actions: no audit actions are written
for them (docs/decisions.md "Health results are telemetry"). Events are emitted only on
transitions, never per probe run. ``degradation.changed`` is a public contract: emitted on every
change of the effective level and on every override set or cleared. Never rename a value; add
new ones.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions written by the health services (degradation only; probes are telemetry)."""

    DEGRADATION_OVERRIDE_SET = "degradation.override_set"
    DEGRADATION_OVERRIDE_CLEAR = "degradation.override_clear"
    DEGRADATION_CHANGED = "degradation.changed"  # automatic: the rules or an expiry moved the level


class Event(enum.StrEnum):
    """Outbox event types (``health.*``, ``worker.*`` and ``degradation.*`` reach ``ops.health``)."""

    CHECK_CHANGED = "health.check_changed"  # a check's status changed (ok/warn/fail)
    QUEUE_ALARM_CHANGED = "health.queue_alarm_changed"  # a queue went over/under its depth threshold or stalled
    WORKER_STALE = "worker.stale"
    WORKER_RECOVERED = "worker.recovered"
    WORKER_STOPPED = "worker.stopped"  # a clean shutdown retired the heartbeat row
    DEGRADATION_CHANGED = "degradation.changed"
    RESTORE_DRILL = "health.restore_drill"  # a sandbox_restore drill ran (passed or failed)


class Source(enum.StrEnum):
    PROBE = "probe"
    WORKER = "worker"
    SWEEP = "sweep"
    SEED = "seed"


# Celery task names (published by name, never imported by services).
TASK_RUN_PROBES = "health.run_probes"
TASK_SWEEP_WORKERS = "health.sweep_workers"
TASK_PURGE_EVENTS = "health.purge_events"
TASK_EVALUATE_DEGRADATION = "health.evaluate_degradation"
TASK_PURGE_SLOW_QUERIES = "health.purge_slow_queries"

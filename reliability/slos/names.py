"""The app's names in one registry: audit actions and outbox event types, one spelling each."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions (``audit.AuditEntry.action``)."""

    SLO_CREATE = "slo.create"
    SLO_UPDATE = "slo.update"
    SLO_DELETE = "slo.delete"
    TIER_UPDATE = "slo.tier_update"
    CORRECTION_CREATE = "slo.correction_create"
    CORRECTION_UPDATE = "slo.correction_update"
    TIER_FIRE = "slo.tier_fire"
    TIER_RECOVER = "slo.tier_recover"
    ABSENT_FIRE = "slo.absent_fire"
    ABSENT_RECOVER = "slo.absent_recover"


class Event(enum.StrEnum):
    """Outbox event types; the first segment ``slo`` picks the live group ``ops.slo``."""

    SLO_CREATED = "slo.created"
    SLO_UPDATED = "slo.updated"
    SLO_DELETED = "slo.deleted"
    CORRECTION_CHANGED = "slo.correction_changed"
    TIER_FIRING = "slo.tier_firing"
    TIER_RECOVERED = "slo.tier_recovered"
    DATA_ABSENT = "slo.data_absent"
    DATA_RESUMED = "slo.data_resumed"
    EVALUATED = "slo.evaluated"  # one per cycle: the live pages refresh


class Source(enum.StrEnum):
    API = "api"
    ADMIN = "admin"
    TASK = "task"
    SEED = "seed"
    CLI = "cli"


# Celery task names (published by name: engines never import tasks.py)
TASK_EVALUATE = "slos.evaluate"
TASK_INTERNAL = "slos.compute_internal"
TASK_PROMETHEUS = "slos.pull_prometheus"

"""The health app's names, in one spelling: audit actions and outbox event types.

``degradation.changed`` is a public contract (HELPERS.md): emitted on every change of the
effective level and on every override set or cleared. Never rename a value; add new ones.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions written by the health services."""

    # degradation (health-degrade)
    DEGRADATION_OVERRIDE_SET = "degradation.override_set"
    DEGRADATION_OVERRIDE_CLEAR = "degradation.override_clear"
    DEGRADATION_CHANGED = "degradation.changed"  # automatic: the rules or an expiry moved the level


class Event(enum.StrEnum):
    """Outbox event types emitted by the health services."""

    # degradation (health-degrade)
    DEGRADATION_CHANGED = "degradation.changed"


# Celery task names (published by name, never imported by services).
TASK_EVALUATE_DEGRADATION = "health.evaluate_degradation"
TASK_PURGE_SLOW_QUERIES = "health.purge_slow_queries"

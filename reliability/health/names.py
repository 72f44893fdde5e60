"""Audit actions and outbox event types of the health app (issue 11)."""

from enum import StrEnum


class Action(StrEnum):
    pass


class Event(StrEnum):
    RESTORE_DRILL = "health.restore_drill"  # health-outage: a sandbox_restore drill ran (passed or failed)

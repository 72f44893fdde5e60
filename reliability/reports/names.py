"""The reports app's names: audit actions and outbox event types, one spelling each."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    SNAPSHOT_STORE = "report.snapshot_store"


class Event(enum.StrEnum):
    SNAPSHOT_STORED = "report.snapshot_stored"


TASK_WEEKLY_SNAPSHOT = "reports.store_weekly_snapshot"

"""Audit actions and outbox event types of the chaos app, declared once."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    DRILL_CREATE = "chaos.drill_create"
    DRILL_UPDATE = "chaos.drill_update"
    DRILL_SUBMIT = "chaos.drill_submit"
    DRILL_APPROVE = "chaos.drill_approve"
    DRILL_SCHEDULE = "chaos.drill_schedule"
    DRILL_CANCEL = "chaos.drill_cancel"
    RUN_START = "chaos.run_start"
    RUN_SKIP = "chaos.run_skip"
    RUN_COMPLETE = "chaos.run_complete"
    RUN_ABORT = "chaos.run_abort"
    RUN_HALT = "chaos.run_halt"
    FAULT_APPLY = "chaos.fault_apply"
    FAULT_REMOVE = "chaos.fault_remove"
    KILL_SWITCH_ENGAGE = "chaos.kill_switch_engage"
    KILL_SWITCH_RELEASE = "chaos.kill_switch_release"


class Event(enum.StrEnum):
    DRILL_CREATED = "chaos.drill_created"
    DRILL_UPDATED = "chaos.drill_updated"
    DRILL_SUBMITTED = "chaos.drill_submitted"
    DRILL_APPROVED = "chaos.drill_approved"
    DRILL_SCHEDULED = "chaos.drill_scheduled"
    DRILL_CANCELLED = "chaos.drill_cancelled"
    RUN_STARTED = "chaos.run_started"
    RUN_SKIPPED = "chaos.run_skipped"
    RUN_COMPLETED = "chaos.run_completed"
    RUN_ABORTED = "chaos.run_aborted"
    RUN_HALTED = "chaos.run_halted"
    RUN_JOURNAL = "chaos.run_journal"  # one journal entry: the live panel appends it
    FAULT_APPLIED = "chaos.fault_applied"
    FAULT_REMOVED = "chaos.fault_removed"
    KILL_SWITCH_ENGAGED = "chaos.kill_switch_engaged"
    KILL_SWITCH_RELEASED = "chaos.kill_switch_released"


# Celery task names (published by name: services and the engine never import tasks.py).
TASK_START_SLOT = "chaos.start_slot"
TASK_EXECUTE_RUN = "chaos.execute_run"
TASK_SWEEP = "chaos.sweep"

"""Audit actions and event types of the audit trail itself (opsportal/common/names.py)."""

from enum import StrEnum


class Action(StrEnum):
    EXPORT = "audit.export"


class Event(StrEnum):
    EXPORTED = "audit.exported"

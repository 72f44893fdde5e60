"""Audit actions and outbox event types of the runbooks app, declared once."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    CREATE = "runbook.create"
    UPDATE = "runbook.update"
    PUBLISH = "runbook.publish"
    ARCHIVE = "runbook.archive"
    REVIEW = "runbook.review"


class Event(enum.StrEnum):
    CREATED = "runbook.created"
    UPDATED = "runbook.updated"
    PUBLISHED = "runbook.published"
    ARCHIVED = "runbook.archived"
    REVIEWED = "runbook.reviewed"

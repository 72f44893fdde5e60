"""Reads of the degradation state."""

from __future__ import annotations

import time
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from reliability.health.degradation.levels import Level
from reliability.health.degradation.models import DegradationOverride, DegradationState, DegradationTransition
from reliability.health.degradation.state import Snapshot


def active_override(*, now: datetime | None = None) -> DegradationOverride | None:
    now = now or timezone.now()
    return DegradationOverride.objects.filter(cleared_at__isnull=True, expires_at__gt=now).order_by("-set_at", "-id").first()


def state_row() -> DegradationState | None:
    return DegradationState.objects.filter(pk=1).first()


def recorded_level() -> Level:
    """The effective level as last recorded (NORMAL before the first evaluation)."""
    state = state_row()
    return Level(state.level) if state else Level.NORMAL


def last_computed() -> tuple[Level, list[str]]:
    state = state_row()
    return (Level(state.computed_level), list(state.reasons or [])) if state else (Level.NORMAL, [])


def snapshot_from_database(*, now: datetime | None = None) -> Snapshot:
    """What current_level() uses when the cache is empty: the last computed level plus the override."""
    computed, reasons = last_computed()
    override = active_override(now=now)
    return Snapshot(
        computed=int(computed),
        override_level=override.level if override else None,
        override_expires_at=override.expires_at.timestamp() if override else None,
        reasons=tuple(reasons),
        at=time.time(),
    )


def overrides() -> QuerySet[DegradationOverride]:
    return DegradationOverride.objects.order_by("-set_at", "-id")


def transitions(*, limit: int = 20) -> QuerySet[DegradationTransition]:
    return DegradationTransition.objects.order_by("-at", "-id")[:limit]


def override_json(override: DegradationOverride | None) -> dict | None:
    if override is None:
        return None
    return {
        "id": override.pk,
        "level": Level(override.level).name,
        "reason": override.reason,
        "expires_at": override.expires_at.isoformat(),
        "set_by": override.set_by,
        "set_at": override.set_at.isoformat(),
        "cleared_by": override.cleared_by or None,
        "cleared_at": override.cleared_at.isoformat() if override.cleared_at else None,
    }


def degradation_state(*, now: datetime | None = None) -> dict:
    """The state as /health/degradation, the API and /ops/ show it (from the database)."""
    now = now or timezone.now()
    computed, reasons = last_computed()
    override = active_override(now=now)
    level = Level(override.level) if override else computed
    state = state_row()
    return {
        "level": level.name,
        "value": int(level),
        "computed": {"level": computed.name, "value": int(computed), "reasons": reasons},
        "override": override_json(override),
        "since": state.changed_at.isoformat() if state and state.changed_at else None,
        "evaluated_at": state.evaluated_at.isoformat() if state and state.evaluated_at else None,
        "transitions": [
            {"from": Level(t.from_level).name, "to": Level(t.to_level).name, "cause": t.cause, "actor": t.actor,
             "at": t.at.isoformat()}
            for t in transitions(limit=10)
        ],
    }


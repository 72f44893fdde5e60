"""The only writers of degradation state: overrides and recorded transitions.

Each service writes its rows, one audit entry and one ``degradation.changed`` outbox event in
one transaction, and shares the new snapshot with every process after commit.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.health.degradation import selectors
from reliability.health.degradation.levels import Level
from reliability.health.degradation.models import DegradationOverride, DegradationState, DegradationTransition
from reliability.health.degradation.rules import Inputs, compute_level
from reliability.health.degradation.state import Snapshot, publish
from reliability.health.names import Action, Event

EVALUATOR = Actor.for_system("health:degradation")


class NoActiveOverride(Exception):
    """Clearing when no override is active."""


def _max_override() -> timedelta:
    return timedelta(hours=float(getattr(settings, "DEGRADATION_OVERRIDE_MAX_HOURS", 72)))


def _snapshot(computed: Level, reasons: list[str], override: DegradationOverride | None) -> Snapshot:
    return Snapshot(
        computed=int(computed),
        override_level=override.level if override else None,
        override_expires_at=override.expires_at.timestamp() if override else None,
        reasons=tuple(reasons),
        at=time.time(),
    )


def _publish_on_commit(snapshot: Snapshot) -> None:
    transaction.on_commit(lambda: publish(snapshot), robust=True)


def _count_on_commit(to_level: Level, cause: str) -> None:
    from reliability.health.degradation.metrics import DEGRADATION_EVENTS

    transaction.on_commit(lambda: DEGRADATION_EVENTS.labels(to=to_level.name, cause=cause).inc(), robust=True)


def _record_transition(*, before: Level, after: Level, computed: Level, reasons: list[str], cause: str,
                       override: DegradationOverride | None, actor: Actor, now: datetime) -> DegradationTransition:
    transition = DegradationTransition.objects.create(
        from_level=int(before), to_level=int(after), computed_level=int(computed), cause=cause,
        reasons=reasons, override=override, actor=actor.label[:200], at=now,
    )
    _count_on_commit(after, cause)
    return transition


def _event_data(*, before: Level, after: Level, computed: Level, cause: str, override: DegradationOverride | None,
                reasons: list[str]) -> dict:
    return {
        "from": before.name, "to": after.name, "level": int(after), "computed": computed.name, "cause": cause,
        "reasons": reasons, "override": selectors.override_json(override),
    }


def _lock() -> DegradationState:
    """The state row, locked: overrides and evaluations are serialised (no change recorded twice)."""
    DegradationState.objects.get_or_create(pk=1)
    return DegradationState.objects.select_for_update().get(pk=1)


def _save_state(state: DegradationState, *, level: Level, override: DegradationOverride | None, now: datetime,
                computed: Level | None = None, reasons: list[str] | None = None, evaluated: bool = False) -> None:
    if level != state.level:
        state.changed_at = now
    state.level = int(level)
    state.override = override
    if computed is not None:
        state.computed_level = int(computed)
        state.reasons = reasons or []
    if evaluated:
        state.evaluated_at = now
    state.save()


@transaction.atomic
def degradation_override_set(*, level: Level | int | str, reason: str, expires_at: datetime, actor: Actor,
                             source: str) -> DegradationOverride:
    """Pin the effective level to ``level`` until ``expires_at`` (replaces an active override)."""
    try:
        level = Level.parse(level)
    except ValueError as exc:
        raise ValidationError({"level": [str(exc)]}) from exc
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["a reason is required"]})
    if len(reason) > 2000 or "\x00" in reason:
        raise ValidationError({"reason": ["at most 2000 characters, no NUL"]})
    now = timezone.now()
    if timezone.is_naive(expires_at):
        raise ValidationError({"expires_at": ["give a time zone (e.g. 2026-12-02T10:00:00Z)"]})
    if expires_at <= now:
        raise ValidationError({"expires_at": ["must be in the future"]})
    if expires_at - now > _max_override():
        raise ValidationError({"expires_at": [f"at most {_max_override()} ahead"]})

    state = _lock()
    before, computed, reasons = Level(state.level), Level(state.computed_level), list(state.reasons or [])
    replaced = selectors.active_override(now=now)
    if replaced is not None:
        replaced.cleared_at = now
        replaced.cleared_by = actor.label[:200]
        replaced.clear_reason = "replaced by a new override"
        replaced.save(update_fields=["cleared_at", "cleared_by", "clear_reason"])
    override = DegradationOverride.objects.create(
        level=int(level), reason=reason, expires_at=expires_at, set_by=actor.label[:200], set_at=now,
    )
    cause = DegradationTransition.Cause.OVERRIDE_SET
    if level != before:
        _record_transition(before=before, after=level, computed=computed, reasons=reasons, cause=cause,
                           override=override, actor=actor, now=now)
    _save_state(state, level=level, override=override, now=now)
    audit_record(
        actor=actor, action=Action.DEGRADATION_OVERRIDE_SET, target=override, reason=reason, source=source,
        changes={"level": [before.name, level.name], "expires_at": [None, expires_at.isoformat()],
                 **({"replaced_override": [replaced.pk, None]} if replaced else {})},
    )
    emit(Event.DEGRADATION_CHANGED, override,
         _event_data(before=before, after=level, computed=computed, cause=cause, override=override, reasons=reasons))
    _publish_on_commit(_snapshot(computed, reasons, override))
    return override


@transaction.atomic
def degradation_override_clear(*, actor: Actor, source: str, reason: str = "") -> DegradationOverride:
    """End the active override now; the level returns to the computed one."""
    reason = (reason or "").strip()[:2000]
    now = timezone.now()
    state = _lock()
    override = selectors.active_override(now=now)
    if override is None:
        raise NoActiveOverride("no degradation override is active")
    before, computed, reasons = Level(state.level), Level(state.computed_level), list(state.reasons or [])
    override.cleared_at = now
    override.cleared_by = actor.label[:200]
    override.clear_reason = reason
    override.save(update_fields=["cleared_at", "cleared_by", "clear_reason"])
    cause = DegradationTransition.Cause.OVERRIDE_CLEARED
    if computed != before:
        _record_transition(before=before, after=computed, computed=computed, reasons=reasons, cause=cause,
                           override=override, actor=actor, now=now)
    _save_state(state, level=computed, override=None, now=now)
    audit_record(actor=actor, action=Action.DEGRADATION_OVERRIDE_CLEAR, target=override, reason=reason,
                 source=source, changes={"level": [before.name, computed.name], "cleared_at": [None, now.isoformat()]})
    emit(Event.DEGRADATION_CHANGED, override,
         _event_data(before=before, after=computed, computed=computed, cause=cause, override=override, reasons=reasons))
    _publish_on_commit(_snapshot(computed, reasons, None))
    return override


@transaction.atomic
def degradation_evaluate(*, inputs: Inputs, now: datetime | None = None) -> DegradationTransition | None:
    """Apply the rules to ``inputs``; record a transition when the effective level changed.

    Run by beat (``health.evaluate_degradation``). Also notices an override that expired
    since the last run (cause ``override_expired``). Returns the transition, or None.
    """
    now = now or timezone.now()
    computed, reasons = compute_level(inputs)
    state = _lock()
    override = selectors.active_override(now=now)
    before = Level(state.level)
    after = Level(override.level) if override else computed
    previous = state.override
    _publish_on_commit(_snapshot(computed, reasons, override))
    _save_state(state, level=after, override=override, now=now, computed=computed, reasons=reasons, evaluated=True)
    if after == before:
        return None
    cause = DegradationTransition.Cause.COMPUTED
    if override is None and previous is not None and previous.cleared_at is None and previous.expires_at <= now:
        cause = DegradationTransition.Cause.OVERRIDE_EXPIRED
    transition = _record_transition(before=before, after=after, computed=computed, reasons=reasons, cause=cause,
                                    override=override or previous, actor=EVALUATOR, now=now)
    audit_record(actor=EVALUATOR, action=Action.DEGRADATION_CHANGED, target=transition, source="beat",
                 changes={"level": [before.name, after.name]}, reason="; ".join(reasons)[:2000])
    emit(Event.DEGRADATION_CHANGED, transition,
         _event_data(before=before, after=after, computed=computed, cause=cause, override=override, reasons=reasons))
    return transition

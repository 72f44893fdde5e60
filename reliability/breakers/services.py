"""Every breaker state change: automatic ones from the runtime, manual ones from people.

Each writes the row, one BreakerTransition, one audit entry and one outbox
event in one transaction. Manual changes reach the runtime after commit
(Redis in shared mode, so every process sees them within a flush interval).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.events.services import emit
from reliability.breakers.config import BreakerConfig
from reliability.breakers.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.breakers.names import Action, Event
from reliability.breakers.runtime import TransitionEvent, default_registry

SYSTEM_ACTOR = "breaker"

# Automatic transitions: to-state → (audit action, event type).
_AUTOMATIC: dict[str, tuple[Action, Event]] = {
    BreakerState.OPEN: (Action.OPENED, Event.OPENED),
    BreakerState.HALF_OPEN: (Action.HALF_OPENED, Event.HALF_OPENED),
    BreakerState.CLOSED: (Action.CLOSED, Event.CLOSED),
}

# Manual actions: action → (target state, states it may start from, audit action, event type).
MANUAL_ACTIONS: dict[str, tuple[str, tuple[str, ...], Action, Event]] = {
    "force_open": (BreakerState.FORCED_OPEN, (BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.DISABLED), Action.FORCE_OPEN, Event.FORCED_OPEN),
    "force_close": (BreakerState.CLOSED, (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.FORCED_OPEN, BreakerState.DISABLED), Action.FORCE_CLOSE, Event.CLOSED),
    "reset": (BreakerState.CLOSED, tuple(BreakerState.values), Action.RESET, Event.RESET),
    "disable": (BreakerState.DISABLED, (BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.FORCED_OPEN), Action.DISABLE, Event.DISABLED),
}


def _text(value: str, limit: int) -> str:
    """PostgreSQL text cannot hold NUL; keep what an operator or an exception wrote otherwise."""
    return (value or "").replace("\x00", "\ufffd")[:limit]


class BreakerActionRefused(Exception):
    """The manual action does not apply to the breaker's current state (API: 409)."""


def _payload(cb: CircuitBreaker, transition: BreakerTransition) -> dict:
    return {
        "name": cb.name,
        "from": transition.from_state,
        "to": transition.to_state,
        "cause": transition.cause,
        "failure_rate": transition.failure_rate,
        "reason": transition.reason,
        "transition_id": transition.pk,
    }


def _config_snapshot(cb: CircuitBreaker) -> dict:
    return {f: getattr(cb, f) for f in CircuitBreaker.CONFIG_FIELDS}


def _get_or_create_locked(name: str, config: BreakerConfig | None = None) -> tuple[CircuitBreaker, bool]:
    cb = CircuitBreaker.objects.select_for_update().filter(name=name).first()
    if cb is not None:
        return cb, False
    fields = config.as_dict() if config is not None else {}
    try:
        with transaction.atomic():
            cb = CircuitBreaker.objects.create(name=name, **fields)
    except IntegrityError:  # another process created it first
        cb = CircuitBreaker.objects.select_for_update().get(name=name)
        return cb, False
    return cb, True


@transaction.atomic
def breaker_register(*, name: str, config: BreakerConfig, actor: Actor | None = None,
                     source: str = "runtime") -> CircuitBreaker:
    """Make a breaker used in code visible to operators (a row with its declared config)."""
    existing = CircuitBreaker.objects.filter(name=name).first()
    if existing is not None:
        return existing
    cb, created = _get_or_create_locked(name, config)
    if created:
        _record_registered(cb, actor=actor or Actor.for_system(SYSTEM_ACTOR), source=source)
    return cb


@transaction.atomic
def breaker_create(*, name: str, config: BreakerConfig, actor: Actor, source: str,
                   service=None) -> CircuitBreaker:
    """An operator adds a breaker (before or without code using it): one row, one audit entry, one event.

    Unlike ``breaker_register`` an existing name is an error, not a no-op.
    """
    taken = ValidationError({"name": [f"a breaker named {name!r} exists"]})
    cb = CircuitBreaker(name=name, service=service, **config.as_dict())
    cb.full_clean(validate_unique=False)
    if CircuitBreaker.objects.filter(name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            cb.save(force_insert=True)
    except IntegrityError:  # created by the runtime or another operator meanwhile
        raise taken from None
    _record_registered(cb, actor=actor, source=source)
    return cb


def _record_registered(cb: CircuitBreaker, *, actor: Actor, source: str) -> None:
    after = _config_snapshot(cb)
    if cb.service_id is not None:
        after["service"] = cb.service_id
    audit_record(actor=actor, action=Action.REGISTER, target=cb, changes=diff({}, after), source=source)
    emit(Event.REGISTERED, cb, {"name": cb.name, **after})


@transaction.atomic
def breaker_transition_record(*, event: TransitionEvent) -> BreakerTransition | None:
    """Record an automatic transition that this process decided (system actor)."""
    actions = _AUTOMATIC.get(event.to_state)
    if actions is None:
        raise ValidationError(f"{event.to_state!r} is not an automatic transition")
    cb, _ = _get_or_create_locked(event.name)
    if cb.state in (BreakerState.FORCED_OPEN, BreakerState.DISABLED):
        # decided before an operator took over; the manual state stands
        return None
    before = cb.state
    at = datetime.fromtimestamp(event.at, tz=UTC)
    cb.state = event.to_state
    cb.state_changed_at = at
    cb.save(update_fields=["state", "state_changed_at", "updated_at"])
    transition = BreakerTransition.objects.create(
        breaker=cb, from_state=event.from_state, to_state=event.to_state, cause=event.cause,
        failure_rate=event.failure_rate, slow_call_rate=event.slow_call_rate,
        calls_in_window=max(0, event.calls_in_window), last_error=_text(event.last_error, 2000),
        actor_label=SYSTEM_ACTOR, source="runtime", scope=event.scope, at=at,
    )
    action, event_type = actions
    changes = {"state": [before, event.to_state]}
    if event.failure_rate is not None:
        changes["failure_rate"] = [None, event.failure_rate]
    audit_record(actor=Actor.for_system(SYSTEM_ACTOR), action=action, target=cb, changes=changes,
                 reason=event.cause, source="runtime")
    emit(event_type, cb, _payload(cb, transition))
    return transition


def _manual(action: str, *, name: str, actor: Actor, reason: str, source: str) -> BreakerTransition:
    reason = _text(reason, 2000).strip()
    if not reason:
        raise ValidationError({"reason": ["a reason is required"]})
    target, allowed_from, audit_action, event_type = MANUAL_ACTIONS[action]
    cb = None if "\x00" in name else CircuitBreaker.objects.select_for_update().filter(name=name).first()
    if cb is None:
        raise CircuitBreaker.DoesNotExist(f"no breaker named {name!r}")
    before = cb.state
    if before not in allowed_from:
        raise BreakerActionRefused(f"breaker {name!r} is {before}; {action.replace('_', ' ')} does not apply")
    cb.state = target
    cb.state_changed_at = timezone.now()
    cb.save(update_fields=["state", "state_changed_at", "updated_at"])
    transition = BreakerTransition.objects.create(
        breaker=cb, from_state=before, to_state=target, cause=BreakerTransition.Cause.MANUAL, action=action,
        actor_label=actor.label[:200], reason=reason, source=source, at=cb.state_changed_at,
    )
    audit_record(actor=actor, action=audit_action, target=cb, changes={"state": [before, target]},
                 reason=reason, source=source)
    emit(event_type, cb, _payload(cb, transition))
    transaction.on_commit(partial(default_registry.apply_manual, cb.name, str(target)))
    return transition


@transaction.atomic
def breaker_force_open(*, name: str, actor: Actor, reason: str, source: str) -> BreakerTransition:
    """Refuse every call until an operator closes it (no automatic recovery)."""
    return _manual("force_open", name=name, actor=actor, reason=reason, source=source)


@transaction.atomic
def breaker_force_close(*, name: str, actor: Actor, reason: str, source: str) -> BreakerTransition:
    """Close an open, half-open, forced-open or disabled breaker with a fresh window."""
    return _manual("force_close", name=name, actor=actor, reason=reason, source=source)


@transaction.atomic
def breaker_reset(*, name: str, actor: Actor, reason: str, source: str) -> BreakerTransition:
    """Back to closed from any state, forgetting the window's outcomes."""
    return _manual("reset", name=name, actor=actor, reason=reason, source=source)


@transaction.atomic
def breaker_disable(*, name: str, actor: Actor, reason: str, source: str) -> BreakerTransition:
    """Let every call through and never trip (the breaker only counts)."""
    return _manual("disable", name=name, actor=actor, reason=reason, source=source)


MANUAL_SERVICES = {
    "force_open": breaker_force_open,
    "force_close": breaker_force_close,
    "reset": breaker_reset,
    "disable": breaker_disable,
}


@transaction.atomic
def breaker_update_config(*, breaker_id: int, actor: Actor, source: str, **fields) -> CircuitBreaker:
    """Change a breaker's tuning (or service); this process applies it at once, others within a refresh."""
    editable = set(CircuitBreaker.CONFIG_FIELDS) | {"service"}
    unknown = set(fields) - editable
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    cb = CircuitBreaker.objects.select_for_update().get(pk=breaker_id)
    before = {**_config_snapshot(cb), "service": cb.service_id}
    for key, value in fields.items():
        setattr(cb, key, value)
    cb.full_clean()
    try:
        config = cb.to_config()
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    changes = diff(before, {**_config_snapshot(cb), "service": cb.service_id})
    if not changes:
        return cb
    cb.save()
    audit_record(actor=actor, action=Action.CONFIGURE, target=cb, changes=changes, source=source)
    emit(Event.CONFIGURED, cb, {"name": cb.name, "changes": changes})
    name = cb.name
    transaction.on_commit(lambda: default_registry.apply_config(name, config))
    return cb

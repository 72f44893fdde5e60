"""Configuration writers: notification channels, on-call rotations, escalation policies, routing rules.

Each function writes its rows in one transaction with one audit entry and one
outbox event. A channel's ``config`` holds secrets (webhook URLs, tokens): the
audit entry and the event name its keys only, never its values.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.matching import MatcherError, validate_matchers
from reliability.incidents.models import (
    EscalationPolicy,
    EscalationStep,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    RoutingRule,
)
from reliability.incidents.names import Action, Event

_CHANNEL_FIELDS = ("name", "kind", "config", "fallback", "enabled")
_ROTATION_FIELDS = ("name", "timezone", "starts_at", "handoff_time", "shift_hours")
_POLICY_FIELDS = ("name", "description", "ack_timeout_minutes", "loops", "severities", "service")
_RULE_FIELDS = ("name", "order", "matchers", "service", "severity", "escalation_policy", "threshold_count",
                "threshold_window_seconds", "enabled")


def _shown(field: str, value):
    if field == "config":
        return sorted((value or {}).keys())  # keys only: the values may be secrets
    if hasattr(value, "pk"):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _changes(obj, values: dict, *, new: bool) -> dict:
    return {f: [None if new else _shown(f, getattr(obj, f)), _shown(f, v)] for f, v in values.items()}


def _matchers(value) -> list[dict]:
    try:
        return validate_matchers(value)
    except MatcherError as exc:
        raise ValidationError({"matchers": str(exc)}) from exc


def _apply(obj, values: dict) -> None:
    for field, value in values.items():
        setattr(obj, field, value)


# --- notification channels -------------------------------------------------------------------

def _channel_payload(channel: NotificationChannel) -> dict:
    return {"id": channel.pk, "name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
            "fallback": channel.fallback_id, "config_keys": sorted(channel.config.keys())}


@transaction.atomic
def notification_channel_create(*, actor: Actor, source: str, **values) -> NotificationChannel:
    values = {k: values[k] for k in _CHANNEL_FIELDS if k in values}
    channel = NotificationChannel(**values)
    channel.full_clean(exclude=["fallback"])
    channel.save()
    audit_record(actor=actor, action=Action.CHANNEL_CREATE, target=channel, source=source,
                 changes=_changes(channel, values, new=True))
    emit(Event.CHANNEL_CHANGED, channel, _channel_payload(channel))
    return channel


@transaction.atomic
def notification_channel_update(*, channel_id: int, actor: Actor, source: str, **values) -> NotificationChannel:
    channel = NotificationChannel.objects.select_for_update().get(pk=channel_id)
    values = {k: values[k] for k in _CHANNEL_FIELDS if k in values}
    changes = _changes(channel, values, new=False)
    _apply(channel, values)
    channel.full_clean(exclude=["fallback"])
    channel.save()
    audit_record(actor=actor, action=Action.CHANNEL_UPDATE, target=channel, source=source, changes=changes)
    emit(Event.CHANNEL_CHANGED, channel, _channel_payload(channel))
    return channel


# --- on-call rotations -----------------------------------------------------------------------

def _set_members(rotation: OnCallRotation, user_ids: list[int]) -> None:
    RotationMember.objects.filter(rotation=rotation).delete()
    RotationMember.objects.bulk_create(
        [RotationMember(rotation=rotation, user_id=uid, position=i) for i, uid in enumerate(user_ids)])


def _rotation_payload(rotation: OnCallRotation, user_ids: list[int]) -> dict:
    return {"id": rotation.pk, "name": rotation.name, "shift_hours": rotation.shift_hours, "members": user_ids}


@transaction.atomic
def rotation_create(*, actor: Actor, source: str, member_ids: list[int] = (), **values) -> OnCallRotation:
    """A rotation with its members in shift order (``member_ids``: user ids)."""
    values = {k: values[k] for k in _ROTATION_FIELDS if k in values}
    rotation = OnCallRotation.objects.create(**values)
    member_ids = list(member_ids)
    _set_members(rotation, member_ids)
    audit_record(actor=actor, action=Action.ROTATION_CREATE, target=rotation, source=source,
                 changes={**_changes(rotation, values, new=True), "members": [None, member_ids]})
    emit(Event.ROTATION_CHANGED, rotation, _rotation_payload(rotation, member_ids))
    return rotation


@transaction.atomic
def rotation_update(*, rotation_id: int, actor: Actor, source: str, member_ids: list[int] | None = None,
                    **values) -> OnCallRotation:
    """Edit fields; ``member_ids`` (when given) replaces the members in that order."""
    rotation = OnCallRotation.objects.select_for_update().get(pk=rotation_id)
    values = {k: values[k] for k in _ROTATION_FIELDS if k in values}
    changes = _changes(rotation, values, new=False)
    _apply(rotation, values)
    rotation.save()
    before = list(rotation.members.order_by("position").values_list("user_id", flat=True))
    if member_ids is not None:
        member_ids = list(member_ids)
        _set_members(rotation, member_ids)
        changes["members"] = [before, member_ids]
    audit_record(actor=actor, action=Action.ROTATION_UPDATE, target=rotation, source=source, changes=changes)
    emit(Event.ROTATION_CHANGED, rotation, _rotation_payload(rotation, before if member_ids is None else member_ids))
    return rotation


# --- escalation policies ---------------------------------------------------------------------

def _set_steps(policy: EscalationPolicy, steps: list[dict]) -> list[dict]:
    """Replace the steps: each ``{"wait_minutes", "channel_ids", "user_ids", "rotation_id"}``, in order."""
    EscalationStep.objects.filter(policy=policy).delete()
    shown = []
    for order, spec in enumerate(steps):
        step = EscalationStep.objects.create(policy=policy, order=order, wait_minutes=spec.get("wait_minutes", 15),
                                             rotation_id=spec.get("rotation_id"))
        step.channels.set(spec.get("channel_ids", []))
        step.users.set(spec.get("user_ids", []))
        shown.append({"order": order, "wait_minutes": step.wait_minutes, "rotation": step.rotation_id,
                      "channels": list(spec.get("channel_ids", [])), "users": list(spec.get("user_ids", []))})
    return shown


def _policy_payload(policy: EscalationPolicy, steps: list[dict] | None) -> dict:
    return {"id": policy.pk, "name": policy.name, "severities": policy.severities, "loops": policy.loops,
            "ack_timeout_minutes": policy.ack_timeout_minutes, **({"steps": steps} if steps is not None else {})}


@transaction.atomic
def escalation_policy_create(*, actor: Actor, source: str, steps: list[dict] = (), **values) -> EscalationPolicy:
    values = {k: values[k] for k in _POLICY_FIELDS if k in values}
    policy = EscalationPolicy.objects.create(**values)
    shown = _set_steps(policy, list(steps))
    audit_record(actor=actor, action=Action.ESCALATION_POLICY_CREATE, target=policy, source=source,
                 changes={**_changes(policy, values, new=True), "steps": [None, shown]})
    emit(Event.ESCALATION_POLICY_CREATED, policy, _policy_payload(policy, shown))
    return policy


@transaction.atomic
def escalation_policy_update(*, policy_id: int, actor: Actor, source: str, steps: list[dict] | None = None,
                             **values) -> EscalationPolicy:
    """Edit fields; ``steps`` (when given) replaces every step."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy_id)
    values = {k: values[k] for k in _POLICY_FIELDS if k in values}
    changes = _changes(policy, values, new=False)
    _apply(policy, values)
    policy.save()
    shown = None
    if steps is not None:
        shown = _set_steps(policy, list(steps))
        changes["steps"] = ["replaced", shown]
    audit_record(actor=actor, action=Action.ESCALATION_POLICY_UPDATE, target=policy, source=source, changes=changes)
    emit(Event.ESCALATION_POLICY_CHANGED, policy, _policy_payload(policy, shown))
    return policy


# --- routing rules ---------------------------------------------------------------------------

def _rule_payload(rule: RoutingRule) -> dict:
    return {"id": rule.pk, "name": rule.name, "order": rule.order, "matchers": rule.matchers,
            "enabled": rule.enabled, "escalation_policy": rule.escalation_policy_id}


@transaction.atomic
def routing_rule_create(*, actor: Actor, source: str, **values) -> RoutingRule:
    values = {k: values[k] for k in _RULE_FIELDS if k in values}
    values["matchers"] = _matchers(values.get("matchers", []))
    rule = RoutingRule.objects.create(**values)
    audit_record(actor=actor, action=Action.ROUTING_RULE_CREATE, target=rule, source=source,
                 changes=_changes(rule, values, new=True))
    emit(Event.ROUTING_RULE_CHANGED, rule, _rule_payload(rule))
    return rule


@transaction.atomic
def routing_rule_update(*, rule_id: int, actor: Actor, source: str, **values) -> RoutingRule:
    rule = RoutingRule.objects.select_for_update().get(pk=rule_id)
    values = {k: values[k] for k in _RULE_FIELDS if k in values}
    if "matchers" in values:
        values["matchers"] = _matchers(values["matchers"])
    changes = _changes(rule, values, new=False)
    _apply(rule, values)
    rule.save()
    audit_record(actor=actor, action=Action.ROUTING_RULE_UPDATE, target=rule, source=source, changes=changes)
    emit(Event.ROUTING_RULE_CHANGED, rule, _rule_payload(rule))
    return rule

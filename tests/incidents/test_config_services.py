"""Configuration services: each write is one audit entry and one outbox event; channel secrets stay out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import EscalationStep, RotationMember
from reliability.incidents.services.config import (
    escalation_policy_create,
    escalation_policy_update,
    notification_channel_create,
    notification_channel_update,
    rotation_create,
    rotation_update,
    routing_rule_create,
    routing_rule_update,
)

pytestmark = pytest.mark.django_db
ACTOR = Actor.for_system("test")


def _counts(action: str, event: str) -> tuple[int, int]:
    return AuditEntry.objects.filter(action=action).count(), OutboxEvent.objects.filter(type=event).count()


def test_channel_create_and_update_audit_once_and_never_show_the_secret():
    channel = notification_channel_create(actor=ACTOR, source="test", name="slack", kind="slack",
                                          config={"url": "http://127.0.0.1:1/hook-SECRET-abc"})
    assert _counts("notification.channel_create", "incident.channel_changed") == (1, 1)
    notification_channel_update(channel_id=channel.pk, actor=ACTOR, source="test", enabled=False,
                                config={"url": "http://127.0.0.1:1/hook-SECRET-xyz"})
    assert _counts("notification.channel_update", "incident.channel_changed") == (1, 2)
    channel.refresh_from_db()
    assert channel.enabled is False and channel.config["url"].endswith("xyz")
    dumped = json.dumps(list(AuditEntry.objects.values("changes"))) + json.dumps(
        list(OutboxEvent.objects.values_list("data", flat=True)))
    assert "SECRET" not in dumped and '"url"' in dumped  # the key is named, never its value


def test_channel_with_an_unknown_kind_is_refused_and_writes_nothing():
    with pytest.raises(ValidationError):
        notification_channel_create(actor=ACTOR, source="test", name="x", kind="pigeon")
    assert _counts("notification.channel_create", "incident.channel_changed") == (0, 0)


def test_rotation_members_in_order_and_replaced_on_update():
    users = [get_user_model().objects.create_user(f"u{i}") for i in range(3)]
    rotation = rotation_create(actor=ACTOR, source="test", name="primary", starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                               member_ids=[users[1].pk, users[0].pk])
    assert list(rotation.members.values_list("user_id", flat=True)) == [users[1].pk, users[0].pk]
    rotation_update(rotation_id=rotation.pk, actor=ACTOR, source="test", shift_hours=24, member_ids=[users[2].pk])
    assert list(RotationMember.objects.filter(rotation=rotation).values_list("user_id", flat=True)) == [users[2].pk]
    assert _counts("rotation.create", "incident.rotation_changed") == (1, 2)  # one event per write
    assert AuditEntry.objects.filter(action="rotation.update").count() == 1


def test_policy_steps_created_and_replaced():
    email = notification_channel_create(actor=ACTOR, source="test", name="mail", kind="email", config={})
    policy = escalation_policy_create(actor=ACTOR, source="test", name="p", loops=1,
                                      steps=[{"wait_minutes": 5, "channel_ids": [email.pk]}, {"wait_minutes": 10}])
    assert [(s.order, s.wait_minutes) for s in policy.steps.all()] == [(0, 5), (1, 10)]
    assert list(policy.steps.get(order=0).channels.all()) == [email]
    escalation_policy_update(policy_id=policy.pk, actor=ACTOR, source="test", loops=2,
                             steps=[{"wait_minutes": 1}])
    assert list(EscalationStep.objects.filter(policy=policy).values_list("wait_minutes", flat=True)) == [1]
    assert _counts("escalation.policy_create", "incident.escalation_policy_created") == (1, 1)
    assert _counts("escalation.policy_update", "incident.escalation_policy_changed") == (1, 1)


def test_routing_rule_matchers_validated():
    with pytest.raises(ValidationError):
        routing_rule_create(actor=ACTOR, source="test", name="bad", matchers=[{"op": "="}])
    rule = routing_rule_create(actor=ACTOR, source="test", name="r", matchers=[{"label": "team", "value": "pay"}])
    routing_rule_update(rule_id=rule.pk, actor=ACTOR, source="test", order=5)
    rule.refresh_from_db()
    assert rule.order == 5 and rule.matchers[0]["op"] == "="
    assert _counts("routing.rule_create", "incident.routing_rule_changed") == (1, 2)  # one event per write
    assert AuditEntry.objects.filter(action="routing.rule_update").count() == 1

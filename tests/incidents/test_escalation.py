"""Escalation with a controlled clock and real local receivers (Slack-style, SMS-style) on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.escalation.oncall import Override, shift_at
from reliability.incidents.escalation.plan import after_firing
from reliability.incidents.models import (
    Alert,
    EscalationPolicy,
    EscalationStep,
    Incident,
    IncidentEvent,
    Notification,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from reliability.incidents.services import incident_acknowledge, incident_open, incident_resolve
from reliability.incidents.services.escalation import ack_timeout_sweep, escalation_sweep, oncall_user
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_pages(settings):
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"
    settings.OPSPORTAL_BASE_URL = "https://ops.example.test"


@pytest.fixture
def slack():
    with Receiver.running() as r:
        yield r


@pytest.fixture
def sms():
    with Receiver.running() as r:
        yield r


@pytest.fixture
def policy(slack, sms):
    email = NotificationChannel.objects.create(name="oncall-mail", kind="email", config={"to": ["oncall@example.test"]})
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": slack.url}, fallback=email)
    phone = NotificationChannel.objects.create(name="phone", kind="sms", config={"url": sms.url, "to": ["+100"]})
    p = EscalationPolicy.objects.create(name="payments", ack_timeout_minutes=30, loops=1)
    s1 = EscalationStep.objects.create(policy=p, order=1, wait_minutes=5)
    s1.channels.add(chat)
    s2 = EscalationStep.objects.create(policy=p, order=2, wait_minutes=10)
    s2.channels.add(phone)
    return p


def _open(policy, key="g", severity="P1") -> Incident:
    return incident_open(title="Checkout down", severity=severity, group_key=key, actor=SYS, source="test",
                         escalation_policy=policy)


def _bodies(receiver) -> list[dict]:
    return [json.loads(s.body) for s in receiver.seen]


def test_steps_fire_in_order_and_loops_repeat_then_stop(policy, slack, sms):
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(policy)
        assert escalation_sweep()["incidents"] == 1  # step 1 at once
        assert slack.count() == 1 and sms.count() == 0
        page = _bodies(slack)[0]
        assert page["text"].startswith("[P1] #") and "Checkout down" in page["text"]
        assert any("https://ops.example.test/ops/incidents/" in json.dumps(b) for b in page["blocks"])

        clock.move_to(T0 + timedelta(minutes=4, seconds=59))
        assert escalation_sweep()["incidents"] == 0  # not due yet
        clock.move_to(T0 + timedelta(minutes=5))
        escalation_sweep()
        assert sms.count() == 1 and _bodies(sms)[0]["to"] == "+100"
        assert "ack: https://ops.example.test/ops/incidents/" in _bodies(sms)[0]["body"]

        clock.move_to(T0 + timedelta(minutes=15))  # step 2 waited 10: the second loop starts
        escalation_sweep()
        assert slack.count() == 2
        clock.move_to(T0 + timedelta(minutes=20))
        escalation_sweep()
        assert sms.count() == 2
        clock.move_to(T0 + timedelta(hours=5))  # loops=1: two passes, then nothing more
        assert escalation_sweep()["incidents"] == 0
    incident.refresh_from_db()
    assert incident.next_escalation_at is None and incident.escalation_loop == 1
    steps = list(IncidentEvent.objects.filter(incident=incident, kind="escalation_step").values_list("data", flat=True))
    assert [(d["step"], d["loop"]) for d in steps] == [(1, 0), (2, 0), (1, 1), (2, 1)]
    assert steps[-1]["exhausted"] is True
    assert Notification.objects.filter(incident=incident, status="sent").count() == 4
    assert AuditEntry.objects.filter(action="escalation.step", target_id=str(incident.pk)).count() == 4
    assert OutboxEvent.objects.filter(type="incident.escalation_step", aggregate_id=str(incident.pk)).count() == 4


def test_acknowledgement_stops_the_steps(policy, slack, sms, operator):
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(policy)
        escalation_sweep()
        clock.move_to(T0 + timedelta(minutes=2))
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        clock.move_to(T0 + timedelta(minutes=29))
        assert escalation_sweep()["incidents"] == 0
        assert ack_timeout_sweep() == 0
    assert slack.count() == 1 and sms.count() == 0


def test_ack_timeout_restarts_escalation_from_the_first_step(policy, slack, sms, operator):
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(policy)
        escalation_sweep()
        clock.move_to(T0 + timedelta(minutes=6))
        escalation_sweep()  # step 2 (sms)
        assert (slack.count(), sms.count()) == (1, 1)
        clock.move_to(T0 + timedelta(minutes=7))
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        audits = AuditEntry.objects.count()
        events = OutboxEvent.objects.count()
        clock.move_to(T0 + timedelta(minutes=37))  # ack_timeout_minutes=30 ran out, still firing
        assert ack_timeout_sweep() == 1
        assert AuditEntry.objects.count() - audits == 1 and OutboxEvent.objects.count() - events == 1
        assert AuditEntry.objects.order_by("-id").first().action == "incident.ack_expire"
        assert OutboxEvent.objects.order_by("-id").first().type == "incident.ack_expired"
        incident.refresh_from_db()
        assert incident.status == "triggered" and incident.escalation_step == 0
        assert incident.acknowledged_at is not None  # MTTA keeps the first acknowledgement
        escalation_sweep()
        assert (slack.count(), sms.count()) == (2, 1)  # step 1 again, a new escalation run
    assert IncidentEvent.objects.filter(incident=incident, kind="ack_expired").count() == 1


def test_ack_timeout_of_an_incident_no_longer_firing_does_not_restart(policy, slack, operator):
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(policy)
        Alert.objects.create(fingerprint="f1", incident=incident, status="resolved", labels={},
                             first_received_at=T0, last_received_at=T0)
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        clock.move_to(T0 + timedelta(hours=1))
        assert ack_timeout_sweep() == 0
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and incident.ack_expires_at is None


def test_resolve_cancels_pages_and_p3_never_pages(policy, slack):
    with time_machine.travel(T0, tick=False):
        p3 = _open(policy, key="info", severity="P3")
        assert p3.next_escalation_at is None
        incident = _open(policy)
        incident_resolve(incident_id=incident.pk, actor=SYS, source="api")
        assert escalation_sweep()["incidents"] == 0
    assert slack.count() == 0


def test_breaker_open_on_the_slack_channel_falls_back_to_email(policy, slack):
    from reliability import http
    from reliability.breakers import BreakerConfig, declare
    from reliability.breakers.runtime import default_registry

    chat = NotificationChannel.objects.get(name="chat")
    default_registry.reset()
    declare(chat.breaker_name, BreakerConfig(minimum_calls=2, window_size=4, failure_rate_threshold=50))
    slack.respond(500)
    for _ in range(2):  # Slack is down: two failures trip the breaker
        http.request("POST", slack.url, target=chat.breaker_name, json={})
    seen_before = slack.count()
    try:
        with time_machine.travel(T0, tick=False):
            incident = _open(policy)
            escalation_sweep()
    finally:
        default_registry.reset()
    assert slack.count() == seen_before  # the breaker kept us off the receiver
    original = Notification.objects.get(incident=incident, channel=chat)
    assert original.status == "fell_back" and "open" in original.last_error
    fallback = Notification.objects.get(fallback_of=original)
    assert fallback.channel.kind == "email" and fallback.status == "sent"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oncall@example.test"]
    assert "[P1]" in mail.outbox[0].subject and "https://ops.example.test/ops/incidents/" in mail.outbox[0].body
    kinds = list(IncidentEvent.objects.filter(incident=incident).values_list("kind", flat=True))
    assert "notification_fell_back" in kinds and "notification_sent" in kinds


def test_a_failing_slack_receiver_falls_back_after_its_retries(policy, slack):
    slack.respond(503)
    with time_machine.travel(T0, tick=False):
        incident = _open(policy)
        escalation_sweep()
    assert slack.count() == 1  # INCIDENT_NOTIFY_RETRY_POLICY = "none" here: one attempt
    assert Notification.objects.get(incident=incident, channel__name="chat").status == "fell_back"
    assert len(mail.outbox) == 1


def test_rotation_oncall_with_anchor_shift_and_override(make_user, slack):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    for u in (alice, bob, carol):
        u.email = f"{u.username}@example.test"
        u.save()
    rotation = OnCallRotation.objects.create(name="primary", starts_at=T0, shift_hours=24)
    RotationMember.objects.create(rotation=rotation, user=alice, position=1)
    RotationMember.objects.create(rotation=rotation, user=bob, position=2)
    assert oncall_user(rotation, T0 + timedelta(hours=1)) == alice
    assert oncall_user(rotation, T0 + timedelta(hours=25)) == bob
    assert oncall_user(rotation, T0 + timedelta(hours=49)) == alice
    assert oncall_user(rotation, T0 - timedelta(hours=1)) is None
    RotationOverride.objects.create(rotation=rotation, user=carol, starts_at=T0 + timedelta(hours=24),
                                    ends_at=T0 + timedelta(hours=30))
    assert oncall_user(rotation, T0 + timedelta(hours=25)) == carol
    assert oncall_user(rotation, T0 + timedelta(hours=31)) == bob

    policy = EscalationPolicy.objects.create(name="rota")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5, rotation=rotation)
    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        incident = _open(policy)
        escalation_sweep()
    n = Notification.objects.get(incident=incident)
    assert n.user == carol and n.status == "sent"
    assert mail.outbox[-1].to == ["carol@example.test"]


def test_pure_shift_and_plan_maths():
    members = ["a", "b", "c"]
    assert shift_at(anchor=T0, shift_hours=8, members=members, at=T0 + timedelta(hours=17)).who == "c"
    assert shift_at(anchor=T0, shift_hours=8, members=members, at=T0 + timedelta(hours=24)).who == "a"
    over = [Override(T0, T0 + timedelta(hours=2), "x"), Override(T0 + timedelta(hours=1), T0 + timedelta(hours=2), "y")]
    assert shift_at(anchor=T0, shift_hours=8, members=members, overrides=over, at=T0 + timedelta(minutes=90)).who == "y"
    assert shift_at(anchor=T0, shift_hours=8, members=[], at=T0) is None
    pos = after_firing(step=0, loop=0, waits=[5, 10], loops=0, now=T0)
    assert (pos.step, pos.loop, pos.next_at) == (1, 0, T0 + timedelta(minutes=5))
    pos = after_firing(step=1, loop=0, waits=[5, 10], loops=0, now=T0)
    assert pos.exhausted and pos.step == 2
    pos = after_firing(step=1, loop=0, waits=[5, 10], loops=2, now=T0)
    assert (pos.step, pos.loop, pos.next_at) == (0, 1, T0 + timedelta(minutes=10))


def test_default_policies_p0_pages_everyone_at_once_with_sms_and_p3_never_pages(slack, sms, post_am):
    from reliability.incidents.services.escalation import escalation_defaults_ensure

    email = NotificationChannel.objects.create(name="mail", kind="email", config={"to": ["all@example.test"]})
    NotificationChannel.objects.create(name="chat", kind="slack", config={"url": slack.url}, fallback=email)
    NotificationChannel.objects.create(name="phone", kind="sms", config={"url": sms.url, "to": ["+1"]})
    created = escalation_defaults_ensure(actor=SYS, source="test")
    assert [p.severities for p in created] == [["P0"], ["P1"], ["P2"]]
    assert escalation_defaults_ensure(actor=SYS, source="test") == []  # idempotent
    assert AuditEntry.objects.filter(action="escalation.policy_create").count() == 3

    with time_machine.travel(T0, tick=False) as clock:
        from tests.incidents.conftest import group_payload

        post_am(group_payload("Outage", 1, severity="page"))
        post_am(group_payload("Chatter", 1, severity="info"))
        escalation_sweep()
        assert (slack.count(), sms.count(), len(mail.outbox)) == (1, 1, 1)  # P0: every channel at once
        p0 = Incident.objects.get(severity="P0")
        assert p0.escalation_policy.name.startswith("Default P0")
        assert Incident.objects.get(severity="P3").next_escalation_at is None
        clock.move_to(T0 + timedelta(minutes=5))
        escalation_sweep()
        assert (slack.count(), sms.count()) == (2, 2)  # repeats every 5 minutes
        post_am(group_payload("Degraded", 1, severity="critical"))  # P1: chat and email now, SMS after 15 min
        escalation_sweep()
        assert (slack.count(), sms.count()) == (3, 2)
        clock.move_to(T0 + timedelta(minutes=20))
        escalation_sweep()
        assert sms.count() == 4  # P0's next pass and P1's SMS step
    assert Notification.objects.filter(incident__severity="P3").count() == 0


def test_a_policy_without_steps_stops_with_one_audit_entry_and_one_event():
    policy = EscalationPolicy.objects.create(name="empty")
    incident = _open(policy)
    audits, events = AuditEntry.objects.count(), OutboxEvent.objects.count()
    escalation_sweep()
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert (AuditEntry.objects.count() - audits, OutboxEvent.objects.count() - events) == (1, 1)
    assert IncidentEvent.objects.filter(incident=incident, kind="escalation_step").get().data == {
        "stopped": "the policy has no steps"}


def test_opening_an_incident_kicks_a_sweep_through_the_broker_after_commit(settings, policy,
                                                                         django_capture_on_commit_callbacks):
    import time

    import redis

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs the Redis broker")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _open(policy)
    assert client.llen("celery") == 0  # nothing before commit
    for callback in callbacks:
        callback()
    deadline = time.monotonic() + 20
    while client.llen("celery") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = [json.loads(m) for m in client.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages][:1] == ["incidents.sweep_escalations"]
    client.delete("celery")

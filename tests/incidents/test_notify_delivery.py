"""Notification delivery: concurrent sends, durable retry with backoff, per-user SMS with masked numbers.

Real local receivers on 127.0.0.1; the clock is moved with time_machine, never slept.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import (
    EscalationPolicy,
    EscalationStep,
    IncidentEvent,
    Notification,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    UserContact,
    mask_phone,
)
from reliability.incidents.services import incident_acknowledge, incident_open, user_contact_set
from reliability.incidents.services.escalation import escalation_sweep
from reliability.incidents.services.notifications import notifications_deliver
from tests.webhooks.receiver import DEST_SECRET, Receiver, Reply

SYS = Actor.for_system("test")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PHONE = "+46701234567"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"
    settings.OPSPORTAL_BASE_URL = "https://ops.example.test/"


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


def _policy(*channels, name="p", rotation=None, users=()) -> EscalationPolicy:
    policy = EscalationPolicy.objects.create(name=name)
    step = EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5, rotation=rotation)
    step.channels.add(*channels)
    step.users.add(*users)
    return policy


def _open(policy, key="g"):
    return incident_open(title="Queue stuck", severity="P1", group_key=key, actor=SYS, source="test",
                         escalation_policy=policy)


# --- B1: concurrent sends ------------------------------------------------------------------


@pytest.mark.django_db
def test_two_hundred_steps_go_out_concurrently_each_exactly_once(receiver, settings):
    settings.INCIDENT_NOTIFY_CONCURRENCY = 16
    hook = NotificationChannel.objects.create(name="hook", kind="webhook",
                                              config={"url": receiver.url, "secret": DEST_SECRET})
    policy = _policy(hook)
    for i in range(200):
        _open(policy, key=f"g{i}")
    receiver.respond(200, delay=0.2)  # a slow receiver: sequentially this would be 200 × 0.2 s = 40 s

    result = escalation_sweep(limit=500)

    assert result["incidents"] == 200 and result["sent"] == 200
    assert receiver.max_in_flight > 1  # pages overlapped at the receiver: they were not sent one by one
    ids = receiver.ids()
    keys = set(Notification.objects.values_list("idempotency_key", flat=True))
    assert len(ids) == 200 and set(ids) == keys and set(ids.values()) == {1}  # each page exactly once
    assert Notification.objects.filter(status="sent").count() == 200
    assert AuditEntry.objects.filter(action="notification.send").count() == 200


@pytest.mark.django_db
def test_the_pool_is_bounded_by_the_setting(receiver, settings):
    settings.INCIDENT_NOTIFY_CONCURRENCY = 3
    hook = NotificationChannel.objects.create(name="hook", kind="webhook",
                                              config={"url": receiver.url, "secret": DEST_SECRET})
    policy = _policy(hook)
    for i in range(12):
        _open(policy, key=f"g{i}")
    receiver.respond(200, delay=0.2)
    assert escalation_sweep()["sent"] == 12
    assert 1 < receiver.max_in_flight <= 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_senders_never_send_a_page_twice(receiver):
    hook = NotificationChannel.objects.create(name="hook", kind="webhook",
                                              config={"url": receiver.url, "secret": DEST_SECRET})
    policy = _policy(hook)
    for i in range(40):
        _open(policy, key=f"g{i}")
    escalation_sweep(limit=100, deliver=False)
    ids = list(Notification.objects.values_list("pk", flat=True))
    receiver.respond(200, delay=0.05)
    results, start = [], threading.Barrier(2)

    def sender():
        try:
            start.wait(30)
            results.append(notifications_deliver(notification_ids=ids))
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r["sent"] for r in results) == 40
    assert receiver.count() == 40 and set(receiver.ids().values()) == {1}


# --- B3: durable retry ---------------------------------------------------------------------


def _kinds(incident) -> list[str]:
    return list(IncidentEvent.objects.filter(incident=incident, kind__startswith="notification")
                .order_by("pk").values_list("kind", flat=True))


@pytest.mark.django_db
def test_a_failed_page_without_fallback_is_retried_with_backoff_then_marked_failed(receiver, settings):
    settings.INCIDENT_NOTIFY_MAX_ATTEMPTS = 3
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    receiver.respond(503)
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(_policy(chat))
        assert escalation_sweep()["retrying"] == 1
        n = Notification.objects.get()
        assert n.status == "pending" and n.attempts == 1
        assert T0 + timedelta(seconds=27) <= n.next_attempt_at <= T0 + timedelta(seconds=33)  # 30 s ± 10 %
        assert notifications_deliver() == {"sent": 0, "failed": 0, "cancelled": 0, "fell_back": 0}  # not due
        assert receiver.count() == 1

        clock.shift(34)
        assert notifications_deliver()["retrying"] == 1
        n.refresh_from_db()
        assert n.attempts == 2
        assert clock_now() + timedelta(seconds=54) <= n.next_attempt_at <= clock_now() + timedelta(seconds=66)

        clock.shift(67)
        assert notifications_deliver()["failed"] == 1
    n.refresh_from_db()
    assert n.status == "failed" and n.attempts == 3 and n.next_attempt_at is None and n.last_error == "HTTP 503"
    assert receiver.count() == 3
    assert len({s.headers["idempotency-key"] for s in receiver.seen}) == 1  # one key over every attempt
    assert _kinds(incident) == ["notification_retry", "notification_retry", "notification_failed"]
    final = IncidentEvent.objects.filter(incident=incident, kind="notification_failed").get()
    assert final.data["gave_up_after"] == 3
    assert AuditEntry.objects.filter(action="notification.retry", target_id=str(n.pk)).count() == 2
    assert AuditEntry.objects.filter(action="notification.send", target_id=str(n.pk)).count() == 1
    types = list(OutboxEvent.objects.filter(type__startswith="incident.notification").order_by("id")
                 .values_list("type", flat=True))
    assert types == ["incident.notification_retry_scheduled"] * 2 + ["incident.notification_failed"]


def clock_now():
    from django.utils import timezone

    return timezone.now()


@pytest.mark.django_db
def test_a_retried_page_that_gets_through_is_sent_once(receiver):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    receiver.script(Reply(500))
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(_policy(chat))
        escalation_sweep()
        clock.shift(40)
        assert notifications_deliver()["sent"] == 1
        clock.shift(3600)
        assert notifications_deliver()["sent"] == 0
    assert Notification.objects.get().status == "sent"
    assert receiver.count() == 2 and [s.status for s in receiver.seen] == [500, 200]
    assert _kinds(incident) == ["notification_retry", "notification_sent"]


@pytest.mark.django_db
def test_a_page_waiting_for_its_retry_is_cancelled_by_an_acknowledgement(receiver, operator):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    receiver.script(Reply(500))
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(_policy(chat))
        escalation_sweep()
        incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        clock.shift(40)
        assert notifications_deliver()["cancelled"] == 1
    assert Notification.objects.get().status == "cancelled" and receiver.count() == 1


@pytest.mark.django_db
def test_a_configuration_fault_fails_at_once(settings):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={})  # no url
    _open(_policy(chat))
    assert escalation_sweep()["failed"] == 1
    assert Notification.objects.get().status == "failed"


# --- B2: per-user SMS, number masked ---------------------------------------------------------


@pytest.fixture
def oncall(make_user):
    user = make_user("alice")
    user.email = "alice@example.test"
    user.save()
    return user


def _rotation(user) -> OnCallRotation:
    rotation = OnCallRotation.objects.create(name="primary", starts_at=T0 - timedelta(days=1), shift_hours=168)
    RotationMember.objects.create(rotation=rotation, user=user, position=1)
    return rotation


def _leaks(number: str) -> list[str]:
    """Every stored trace of a page that shows ``number`` (audit, outbox, timeline)."""
    digits = number.lstrip("+")
    found = []
    for entry in AuditEntry.objects.all():
        if digits in json.dumps([entry.changes, entry.reason, entry.target_repr], default=str, ensure_ascii=False):
            found.append(f"audit {entry.action}")
    for event in OutboxEvent.objects.all():
        if digits in json.dumps(event.data, default=str, ensure_ascii=False):
            found.append(f"event {event.type}")
    for row in IncidentEvent.objects.all():
        if digits in json.dumps(row.data, default=str, ensure_ascii=False):
            found.append(f"timeline {row.kind}")
    return found


@pytest.mark.django_db
def test_an_sms_channel_texts_the_oncall_users_own_number_and_never_shows_it(receiver, oncall, caplog, settings):
    settings.INCIDENT_NOTIFY_MAX_ATTEMPTS = 2
    caplog.set_level(logging.DEBUG)
    user_contact_set(user=oncall, phone_number="+46 70-123 45 67", actor=SYS, source="test")
    sms = NotificationChannel.objects.create(name="sms", kind="sms", config={
        "url": receiver.url, "token": "t0ken", "page_users": True})
    receiver.script(Reply(500))  # the first text fails and is retried: error paths log too
    with time_machine.travel(T0, tick=False) as clock:
        incident = _open(_policy(sms, rotation=_rotation(oncall)))
        escalation_sweep()
        clock.shift(40)
        assert notifications_deliver()["sent"] == 1

    bodies = [json.loads(s.body) for s in receiver.seen]
    assert [b["to"] for b in bodies] == [PHONE, PHONE]  # the user's number, normalised to E.164
    assert bodies[-1]["body"].startswith("[P1] #")
    assert receiver.seen[-1].headers["authorization"] == "Bearer t0ken"
    assert [m.to for m in mail.outbox] == [["alice@example.test"]]  # the user is paged by email too
    text_row = Notification.objects.get(channel=sms)
    assert text_row.user == oncall and text_row.status == "sent"
    assert _leaks(PHONE) == []
    assert PHONE.lstrip("+") not in caplog.text and "4670" not in caplog.text
    entry = AuditEntry.objects.get(action="notification.contact_set")
    assert entry.changes == {"phone_number": [None, mask_phone(PHONE)]} and mask_phone(PHONE).endswith("67")
    sent = IncidentEvent.objects.get(incident=incident, kind="notification_sent", data__kind="sms")
    assert sent.data["target"] == "sms → alice"


@pytest.mark.django_db
def test_a_user_without_a_number_is_not_texted_and_the_timeline_says_so(receiver, oncall):
    sms = NotificationChannel.objects.create(name="sms", kind="sms", config={"url": receiver.url,
                                                                            "page_users": True})
    with time_machine.travel(T0, tick=False):
        incident = _open(_policy(sms, users=[oncall]))
        escalation_sweep()
    assert receiver.count() == 0
    assert not Notification.objects.filter(channel=sms).exists()
    step = IncidentEvent.objects.get(incident=incident, kind="escalation_step")
    assert {"channel": "sms", "kind": "sms", "user": "alice", "skipped": "no phone number"} in step.data["targets"]


@pytest.mark.django_db
def test_a_static_sms_channel_still_texts_its_configured_numbers(receiver, oncall):
    user_contact_set(user=oncall, phone_number=PHONE, actor=SYS, source="test")
    sms = NotificationChannel.objects.create(name="sms", kind="sms", config={"url": receiver.url, "to": ["+15550001"]})
    with time_machine.travel(T0, tick=False):
        _open(_policy(sms, users=[oncall]))
        escalation_sweep()
    assert [json.loads(s.body)["to"] for s in receiver.seen] == ["+15550001"]  # not page_users: no user text


@pytest.mark.django_db
def test_contact_numbers_are_validated_masked_and_cleared(oncall):
    with pytest.raises(ValidationError):
        user_contact_set(user=oncall, phone_number="0701234567", actor=SYS, source="test")  # not E.164
    assert not UserContact.objects.exists()
    contact = user_contact_set(user=oncall, phone_number=PHONE, actor=SYS, source="test")
    assert str(contact) == "alice +•••••••••67" and contact.masked_phone == "+•••••••••67"
    user_contact_set(user=oncall, phone_number=PHONE, actor=SYS, source="test")  # unchanged: no entry
    user_contact_set(user=oncall, phone_number="", actor=SYS, source="test")
    contact.refresh_from_db()
    assert contact.phone_number == ""
    assert [e.changes["phone_number"] for e in AuditEntry.objects.filter(action="notification.contact_set")
            .order_by("id")] == [[None, "+•••••••••67"], ["+•••••••••67", None]]
    assert _leaks(PHONE) == []


@pytest.mark.django_db
def test_the_admin_saves_the_number_through_the_service(client, make_user, oncall):
    admin_user = make_user("root", superuser=True)
    client.force_login(admin_user)
    resp = client.post("/admin/incidents/usercontact/add/", {"user": oncall.pk, "phone_number": PHONE})
    assert resp.status_code == 302, resp.content[:500]
    assert UserContact.objects.get(user=oncall).phone_number == PHONE
    assert AuditEntry.objects.filter(action="notification.contact_set").count() == 1
    listing = client.get("/admin/incidents/usercontact/").content.decode()
    assert "+•••••••••67" in listing and PHONE not in listing

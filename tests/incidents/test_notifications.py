"""Each channel kind against a real local receiver; failures, cancellation and the metric."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from prometheus_client import REGISTRY

from audit.actors import Actor
from audit.models import AuditEntry
from reliability.incidents.models import EscalationPolicy, EscalationStep, Notification, NotificationChannel
from reliability.incidents.services import incident_acknowledge, incident_open
from reliability.incidents.services.escalation import escalation_sweep
from reliability.incidents.services.notifications import linked_runbook_url, notifications_deliver
from tests.webhooks.receiver import DEST_SECRET, Receiver

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"
    settings.OPSPORTAL_BASE_URL = "https://ops.example.test/"


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


def _page(*channels, runbook_url="") -> Notification:
    policy = EscalationPolicy.objects.create(name=f"p{EscalationPolicy.objects.count()}")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(*channels)
    incident = incident_open(title="Queue stuck", severity="P0", group_key=f"g{policy.pk}", actor=SYS, source="test",
                             escalation_policy=policy, runbook_url=runbook_url)
    escalation_sweep()
    return incident


def _metric(channel: str, result: str) -> float:
    return REGISTRY.get_sample_value("notifications_total", {"channel": channel, "result": result}) or 0.0


def test_signed_webhook_verifies_with_the_standard_webhooks_library(receiver):
    hook = NotificationChannel.objects.create(name="hook", kind="webhook",
                                              config={"url": receiver.url, "secret": DEST_SECRET})
    incident = _page(hook, runbook_url="https://runbooks.example.test/queue")
    [seen] = receiver.seen
    assert seen.verified
    body = json.loads(seen.body)
    assert body["incident"]["id"] == incident.pk and body["incident"]["severity"] == "P0"
    assert body["links"]["acknowledge"] == f"https://ops.example.test/ops/incidents/{incident.pk}/?do=acknowledge#actions"
    assert body["links"]["runbook"] == "https://runbooks.example.test/queue"
    assert seen.webhook_id == body["idempotency_key"] == Notification.objects.get().idempotency_key


def test_sms_posts_to_and_body_per_number_with_the_token(receiver):
    phone = NotificationChannel.objects.create(name="sms", kind="sms",
                                               config={"url": receiver.url, "to": ["+1", "+2"], "token": "t0ken"})
    _page(phone)
    assert [json.loads(s.body)["to"] for s in receiver.seen] == ["+1", "+2"]
    assert all(s.headers["authorization"] == "Bearer t0ken" for s in receiver.seen)
    assert all(json.loads(s.body)["body"].startswith("[P0] #") for s in receiver.seen)


def test_email_channel_and_a_failure_without_fallback(receiver, make_user, settings):
    settings.INCIDENT_NOTIFY_MAX_ATTEMPTS = 1  # one try, then given up (the durable retry: test_notify_retry.py)
    mailbox = NotificationChannel.objects.create(name="mail", kind="email", config={"to": ["team@example.test"]})
    broken = NotificationChannel.objects.create(name="broken", kind="slack", config={"url": receiver.url})
    receiver.respond(400)
    with_cb = _page(mailbox, broken)
    assert [m.to for m in mail.outbox] == [["team@example.test"]]
    assert Notification.objects.get(channel=broken).status == "failed"
    assert Notification.objects.get(channel=mailbox).status == "sent"
    kinds = set(with_cb.timeline.values_list("kind", flat=True))
    assert {"notification_sent", "notification_failed"} <= kinds
    assert AuditEntry.objects.filter(action="notification.send").count() == 2


def test_metric_counts_each_result(receiver, django_capture_on_commit_callbacks):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    before = _metric("slack", "sent")
    with django_capture_on_commit_callbacks(execute=True):
        _page(chat)
    assert _metric("slack", "sent") == before + 1


def test_a_page_whose_incident_was_acknowledged_before_it_went_out_is_cancelled(receiver, operator):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    policy = EscalationPolicy.objects.create(name="p")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(chat)
    incident = incident_open(title="x", severity="P1", group_key="g", actor=SYS, source="test",
                             escalation_policy=policy)
    escalation_sweep(deliver=False)  # the step fired; its sender has not run yet
    incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
    notifications_deliver(notification_ids=list(Notification.objects.values_list("pk", flat=True)))
    assert receiver.count() == 0
    assert Notification.objects.get().status == "cancelled"


def test_runbook_hook_is_empty_when_no_runbook_matches():
    incident = incident_open(title="x", severity="P1", group_key="g", actor=SYS, source="test")
    assert linked_runbook_url(incident) is None


def test_each_page_outcome_is_one_audit_entry_and_one_outbox_event(receiver):
    from opsportal.events.models import OutboxEvent

    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    incident = _page(chat)
    n = Notification.objects.get()
    assert AuditEntry.objects.filter(action="notification.send", target_id=str(n.pk)).count() == 1
    assert OutboxEvent.objects.filter(type="incident.notification_sent", aggregate_id=str(incident.pk)).count() == 1
    notifications_deliver(notification_ids=[n.pk])  # already sent: nothing more
    assert receiver.count() == 1
    assert AuditEntry.objects.filter(action="notification.send").count() == 1


def test_a_page_whose_sender_died_is_sent_by_the_sweep_once_its_lease_ran_out(receiver):
    from datetime import timedelta

    from django.utils import timezone

    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    policy = EscalationPolicy.objects.create(name="p")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(chat)
    incident_open(title="x", severity="P1", group_key="g", actor=SYS, source="test", escalation_policy=policy)
    escalation_sweep(deliver=False)
    n = Notification.objects.get()
    Notification.objects.filter(pk=n.pk).update(attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=30))
    assert notifications_deliver() == {"sent": 0, "failed": 0, "cancelled": 0, "fell_back": 0}  # still leased
    Notification.objects.filter(pk=n.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert notifications_deliver()["sent"] == 1
    assert receiver.count() == 1


def test_the_beat_task_fires_due_steps_and_runs_often_enough(settings, receiver):
    from reliability.incidents.tasks import sweep_escalations

    assert settings.CELERY_BEAT_SCHEDULE["incidents-sweep-escalations"]["schedule"] <= 10  # ≤ 30 s late
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    policy = EscalationPolicy.objects.create(name="p")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(chat)
    incident_open(title="x", severity="P1", group_key="g", actor=SYS, source="test", escalation_policy=policy)
    result = sweep_escalations()
    assert result["incidents"] == 1 and result["sent"] == 1 and receiver.count() == 1


def test_delivering_given_ids_sends_all_of_them_whatever_the_limit(receiver):
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": receiver.url})
    policy = EscalationPolicy.objects.create(name="p")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=5).channels.add(chat)
    for i in range(3):
        incident_open(title=f"x{i}", severity="P1", group_key=f"g{i}", actor=SYS, source="test",
                      escalation_policy=policy)
    escalation_sweep(deliver=False)
    ids = list(Notification.objects.values_list("pk", flat=True))
    assert notifications_deliver(notification_ids=ids, limit=1)["sent"] == 3
    assert receiver.count() == 3

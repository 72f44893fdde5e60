"""Two sweepers at once against real PostgreSQL: no step is sent twice (the receivers' request logs say so)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from audit.actors import Actor
from reliability.incidents.models import EscalationPolicy, EscalationStep, Notification, NotificationChannel
from reliability.incidents.services import incident_acknowledge, incident_open
from reliability.incidents.services.escalation import escalation_sweep
from reliability.incidents.services.notifications import notifications_deliver
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
SYS = Actor.for_system("test")


def _in_threads(n: int, fn):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=60)
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def receivers(settings):
    settings.INCIDENT_NOTIFY_RETRY_POLICY = "none"
    with Receiver.running() as slack, Receiver.running() as sms:
        yield slack, sms


def test_two_concurrent_sweepers_never_send_a_step_twice(receivers):
    slack, sms = receivers
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": slack.url})
    phone = NotificationChannel.objects.create(name="phone", kind="sms", config={"url": sms.url, "to": ["+1"]})
    policy = EscalationPolicy.objects.create(name="p")
    step = EscalationStep.objects.create(policy=policy, order=1, wait_minutes=30)
    step.channels.add(chat, phone)
    incidents = [incident_open(title=f"i{i}", severity="P1", group_key=f"g{i}", actor=SYS, source="test",
                               escalation_policy=policy) for i in range(20)]

    results = _in_threads(2, lambda i: escalation_sweep())
    assert sum(r["incidents"] for r in results) == 20
    _in_threads(2, lambda i: notifications_deliver())  # a late sweep finds nothing left to send

    slack_titles = Counter(json.loads(s.body)["text"] for s in slack.seen)
    assert len(slack_titles) == 20 and set(slack_titles.values()) == {1}, slack_titles
    keys = Counter(s.headers["idempotency-key"] for s in sms.seen)
    assert len(keys) == 20 and set(keys.values()) == {1}
    assert Notification.objects.filter(status="sent").count() == 40
    assert {i.pk for i in incidents} == set(Notification.objects.values_list("incident_id", flat=True))


def test_acknowledge_racing_the_sweeper_either_cancels_the_step_or_lets_it_go_once(receivers, operator):
    slack, _ = receivers
    chat = NotificationChannel.objects.create(name="chat", kind="slack", config={"url": slack.url})
    policy = EscalationPolicy.objects.create(name="p")
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=30).channels.add(chat)
    incidents = [incident_open(title=f"i{i}", severity="P1", group_key=f"g{i}", actor=SYS, source="test",
                               escalation_policy=policy) for i in range(10)]

    def work(i):
        if i == 0:
            return escalation_sweep()
        for incident in incidents:
            incident_acknowledge(incident_id=incident.pk, actor=Actor(user=operator), source="api")
        return None

    _in_threads(2, work)
    escalation_sweep()
    titles = Counter(json.loads(s.body)["text"] for s in slack.seen)
    assert set(titles.values()) <= {1}
    # every page either went out once, or was never created / cancelled because the ack committed first
    sent = Notification.objects.filter(status="sent").count()
    assert sent == len(titles)
    assert Notification.objects.exclude(status__in=["sent", "cancelled"]).count() == 0

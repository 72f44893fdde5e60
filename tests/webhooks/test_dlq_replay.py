"""Replays against a real local receiver: exclusive claims, exactly-once after recovery.

Deliveries go through the delivery engine (reliability/webhooks/engine/)
and reliability.http to a threaded HTTP server on 127.0.0.1 that records every
``webhook-id`` it is sent.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import connections, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from reliability.breakers import BreakerConfig, declare
from reliability.breakers.runtime import default_registry
from reliability.webhooks.engine import deliveries_attempt, deliveries_sweep
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure
from reliability.webhooks.services.dlq import dlq_retry
from tests.webhooks.dlq_helpers import Receiver, make_dlq_item
from tests.webhooks.helpers import post, stripe_body, stripe_headers

ACTOR = Actor.for_system("test-replay")


@pytest.fixture
def receiver():
    with Receiver(status=200) as server:
        yield server


@pytest.fixture
def quiet_breakers():
    """Keep the destination's breaker out of these tests (their subject is the DLQ, not tripping)."""
    default_registry.reset()
    yield
    default_registry.reset()


def _tolerant_breaker(destination) -> None:
    declare(destination.breaker_name, BreakerConfig(minimum_calls=10_000))


def _in_thread(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()


def _public_ids(failures) -> set[str]:
    return {f"evt_{f.delivery.event_id}" for f in failures}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_bulk_replays_never_take_the_same_item(make_source, make_destination, receiver, quiet_breakers):
    destination = make_destination("billing", url=receiver.url)
    _tolerant_breaker(destination)
    source = make_source("stripe", "stripe", destinations=[destination])
    rounds, per_round = 3, 30
    retried: Counter = Counter()
    expected: set[str] = set()
    for _ in range(rounds):
        items = [make_dlq_item(source, destination) for _ in range(per_round)]
        expected |= _public_ids(WebhookFailure.objects.select_related("delivery").filter(pk__in=[i.pk for i in items]))
        start = threading.Barrier(2)

        def replay(start=start):
            start.wait()
            return _in_thread(dlq_retry, filters={"source": "stripe"}, actor=ACTOR, source="api")

        with ThreadPoolExecutor(2) as pool:
            first, second = (f.result() for f in [pool.submit(replay), pool.submit(replay)])
        assert not set(first.ids) & set(second.ids)  # never the same item twice
        assert set(first.ids) | set(second.ids) == {i.pk for i in items}  # and none left behind
        retried.update(first.ids + second.ids)
        entries = AuditEntry.objects.filter(action="dlq.retry").order_by("-id")[: int(bool(first.ids)) + int(bool(second.ids))]
        assert sorted(n for e in entries for n in e.changes["ids"]) == sorted(first.ids + second.ids)

    assert set(retried.values()) == {1}
    assert WebhookFailure.objects.filter(resolution="retried", retry_count=1).count() == rounds * per_round

    # Deliver: the same deliveries handed to two workers at once, plus a sweep (duplicate enqueues).
    ids = list(Delivery.objects.filter(status="pending").values_list("pk", flat=True))
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(_in_thread, deliveries_attempt, delivery_ids=ids) for _ in range(2)]
        jobs.append(pool.submit(_in_thread, deliveries_sweep, max_seconds=5))
        for job in jobs:
            job.result()
    assert Delivery.objects.filter(status="delivered").count() == rounds * per_round
    assert receiver.successes() == Counter({public_id: 1 for public_id in expected})
    assert len(receiver.seen) == rounds * per_round


@pytest.mark.django_db(transaction=True)
def test_a_replay_skips_items_another_replay_holds_and_takes_the_rest(make_source, make_destination, quiet_breakers):
    destination = make_destination("billing")
    stripe = make_source("stripe", "stripe", destinations=[destination])
    github = make_source("github", "github", destinations=[destination])
    held = [make_dlq_item(stripe, destination) for _ in range(5)]
    free = [make_dlq_item(github, destination) for _ in range(3)]
    claimed = threading.Event()
    other_done = threading.Event()
    results = {}

    def slow_replay():
        # Replay stripe's items and keep the transaction (and the row locks) open until the other
        # replay has made its choice: it has finished, or it is queued behind a lock this transaction
        # holds (the audit chain) -- so the two overlap by construction, not by a sleep.
        def other_is_blocked_on_us(cursor) -> bool:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0

        def run():
            with transaction.atomic():
                results["slow"] = dlq_retry(filters={"source": "stripe"}, actor=ACTOR, source="cli")
                claimed.set()
                with connections["default"].cursor() as cursor:
                    for _ in range(3000):  # generous: up to ~60 s on a loaded machine
                        if other_done.wait(0.02) or other_is_blocked_on_us(cursor):
                            break
                    else:
                        raise AssertionError("the other replay neither finished nor queued behind this one")
        _in_thread(run)

    def replay_everything():
        try:
            assert claimed.wait(60)
            results["all"] = _in_thread(dlq_retry, since=timezone.now() - timedelta(hours=1), actor=ACTOR, source="api")
        finally:
            other_done.set()

    with ThreadPoolExecutor(2) as pool:
        for job in [pool.submit(slow_replay), pool.submit(replay_everything)]:
            job.result()
    assert set(results["slow"].ids) == {i.pk for i in held}
    assert set(results["all"].ids) == {i.pk for i in free}  # the held rows are never taken a second time
    assert WebhookFailure.objects.filter(retry_count=1).count() == 8
    assert WebhookFailure.objects.filter(retry_count__gt=1).count() == 0


@pytest.mark.django_db(transaction=True)
def test_failing_receiver_fills_the_dlq_and_a_bulk_replay_delivers_each_event_exactly_once(
    client, make_source, make_destination, receiver, quiet_breakers
):
    receiver.status = 500
    destination = make_destination("billing", url=receiver.url)
    _tolerant_breaker(destination)
    make_source("stripe", "stripe", destinations=[destination], retry_max_attempts=3)
    events = 6

    with time_machine.travel(timezone.now(), tick=False) as clock:
        for n in range(events):
            body = stripe_body(f"evt_dlq_{n}", "charge.failed")
            assert post(client, "stripe", body, stripe_headers(body)).status_code == 202
        # The durable schedule under a controlled clock: sweep, jump past the next delay, sweep …
        for _ in range(6):
            deliveries_sweep(max_seconds=5)
            clock.shift(timedelta(hours=1))
        assert Delivery.objects.filter(status="dead").count() == events
        failures = list(WebhookFailure.objects.select_related("delivery").filter(resolution="open"))
        assert len(failures) == events and all("HTTP 500" in f.error_message for f in failures)
        assert Counter(status for _, status in receiver.seen) == {500: events * 3}  # 3 attempts each, on schedule

        # The receiver recovers; an operator replays the whole source.
        receiver.status = 200
        result = dlq_retry(filters={"source": "stripe"}, since=timezone.now() - timedelta(days=1), actor=ACTOR, source="cli")
        assert result.count == events
        # Duplicate nudges and the sweep race for the same deliveries.
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(_in_thread, deliveries_attempt, delivery_ids=result.delivery_ids) for _ in range(2)]
            jobs.append(pool.submit(_in_thread, deliveries_sweep, max_seconds=5))
            for job in jobs:
                job.result()
        for _ in range(3):  # later sweeps find nothing left to send
            clock.shift(timedelta(hours=1))
            deliveries_sweep(max_seconds=5)

    expected = {f"evt_{pk}" for pk in WebhookEvent.objects.values_list("pk", flat=True)}
    assert len(expected) == events
    after = receiver.after_first_success()
    assert set(after) == expected and set(after.values()) == {1}  # every id, once, after its first success
    assert Delivery.objects.filter(status="delivered").count() == events
    assert set(WebhookFailure.objects.values_list("resolution", flat=True)) == {"retried"}


@pytest.mark.django_db(transaction=True)
def test_a_replay_that_fails_again_reopens_the_same_item(make_source, make_destination, receiver, quiet_breakers):
    receiver.status = 503
    destination = make_destination("billing", url=receiver.url)
    _tolerant_breaker(destination)
    source = make_source("stripe", "stripe", destinations=[destination])
    item = make_dlq_item(source, destination, attempts=8)

    result = dlq_retry(failure_ids=[item.pk], actor=ACTOR, source="api")
    deliveries_attempt(delivery_ids=result.delivery_ids)

    item.refresh_from_db()
    assert WebhookFailure.objects.count() == 1  # reopened, not duplicated
    assert (item.resolution, item.retry_count) == ("open", 1)
    delivery = Delivery.objects.get(pk=item.delivery_id)
    assert (delivery.status, delivery.attempts) == ("dead", 9)  # exactly one more attempt
    assert len(receiver.seen) == 1

"""Delivery against a real receiver on 127.0.0.1: signing, schedule, DLQ, Retry-After, 410, breakers, leases."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
import time_machine
from django.db import connection
from prometheus_client import REGISTRY

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability import http
from reliability.breakers import BreakerConfig, breaker, declare
from reliability.retry import WEBHOOK
from reliability.webhooks.dispatch import dispatch_flush
from reliability.webhooks.engine import deliveries_attempt, deliveries_sweep, delivery_attempt
from reliability.webhooks.engine.claim import claim as _claim
from reliability.webhooks.engine.policy import RetryPlan
from reliability.webhooks.engine.record import record as _record
from reliability.webhooks.engine.send import sign
from reliability.webhooks.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookFailure
from reliability.webhooks.selectors.config import source_config_load
from reliability.webhooks.services.ingest import webhook_event_ingest
from reliability.webhooks.signatures import VerifiedWebhook
from reliability.webhooks.tasks import deliver_batch
from tests.webhooks.receiver import DEST_SECRET, Receiver, Reply

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


@pytest.fixture
def route(make_destination, make_source, receiver):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2)
    source = make_source("shop", destinations=[destination])
    return destination, source


def ingest_event(source, *, body: bytes | None = None, event_type: str = "charge.succeeded") -> WebhookEvent:
    """Store an event through the ingestion service, as the ingest view does after verifying it."""
    provider_id = f"evt_{uuid.uuid4().hex[:16]}"
    body = body if body is not None else json.dumps({"id": provider_id, "type": event_type, "amount": 42}).encode()
    result = webhook_event_ingest(
        config=source_config_load(source.slug),
        verified=VerifiedWebhook(provider_event_id=provider_id, event_type=event_type),
        headers={"Content-Type": "application/json"},
        body=body,
    )
    return WebhookEvent.objects.get(pk=result.event_id)


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def the_delivery(event: WebhookEvent) -> Delivery:
    return Delivery.objects.get(event=event)


# --- signing and recording ------------------------------------------------------------------------


def test_delivery_posts_the_original_body_signed_with_the_event_id(route, receiver):
    destination, source = route
    body = b'{"id": "evt_1",   "type": "charge.succeeded", "note": "caf\xc3\xa9"}'  # odd spacing: sent byte for byte
    event = ingest_event(source, body=body)
    successes = metric("webhook_delivery_attempts_total", destination="orders", result="success")
    latencies = metric("webhook_delivery_latency_seconds_count", destination="orders")

    delivery = delivery_attempt(delivery_id=the_delivery(event).pk)

    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.attempts == 1 and delivery.delivered_at is not None and delivery.last_status_code == 200
    assert delivery.lease_token is None and delivery.lease_expires_at is None
    (seen,) = receiver.seen
    assert seen.webhook_id == event.public_id == f"evt_{event.pk}"
    assert seen.verified, "the receiver's standardwebhooks check must accept the signature"
    assert seen.body == body
    assert seen.headers["content-type"] == "application/json"
    # The same signature does not verify under another secret: the check above can fail.
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        other = "whsec_" + base64.b64encode(b"some-other-destination-key-0123").decode()
        standardwebhooks.Webhook(other).verify(seen.body, seen.headers)
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.result == DeliveryAttempt.Result.SUCCESS and attempt.status_code == 200
    assert attempt.latency_ms is not None and attempt.latency_ms < 2000
    assert metric("webhook_delivery_attempts_total", destination="orders", result="success") == successes + 1
    assert metric("webhook_delivery_latency_seconds_count", destination="orders") == latencies + 1

    # Delivered is final: another attempt (a duplicate task) sends nothing.
    delivery_attempt(delivery_id=delivery.pk)
    deliveries_sweep()
    assert receiver.count() == 1


def test_signing_uses_standardwebhooks_and_raw_bytes_for_non_utf8_bodies():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    text_body = b'{"a": 1}'
    assert sign(secret=DEST_SECRET, msg_id="evt_1", at=at, body=text_body) == standardwebhooks.Webhook(DEST_SECRET).sign(
        msg_id="evt_1", timestamp=at, data=text_body.decode()
    )
    raw = b"\xff\xfe binary"
    key = base64.b64decode(DEST_SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"evt_1." + str(int(at.timestamp())).encode() + b"." + raw, hashlib.sha256).digest())
    assert sign(secret=DEST_SECRET, msg_id="evt_1", at=at, body=raw) == "v1," + expected.decode()


def test_ingestion_dispatches_a_batch_task_after_commit(route, receiver, django_capture_on_commit_callbacks, settings):
    import redis

    _, source = route
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = ingest_event(source)
    assert broker.llen("celery") == 0, "nothing is enqueued before the commit"
    for callback in callbacks:
        callback()
    dispatch_flush()  # the per-process buffer publishes every ~10 ms; do it now
    (raw,) = broker.lrange("celery", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "webhooks.deliver_batch"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs == {"event_ids": [event.pk]}

    # What a worker does with that message: the thin task calls the engine.
    deliver_batch.run(**kwargs)
    assert the_delivery(event).status == Delivery.Status.DELIVERED
    assert receiver.ids() == {event.public_id: 1}


# --- the schedule, the DLQ ----------------------------------------------------------------------------


def test_failing_receiver_retries_on_the_default_schedule_then_dead_letters(route, receiver, django_capture_on_commit_callbacks):
    destination, source = route
    receiver.respond(500, body=b"database is down")
    with time_machine.travel(T0, tick=False) as clock:
        event = ingest_event(source)
        delivery = the_delivery(event)
        for attempt in range(1, 8):
            deliveries_sweep()
            delivery.refresh_from_db()
            assert delivery.status == Delivery.Status.FAILED and delivery.attempts == attempt
            wait = (delivery.next_attempt_at - datetime.now(UTC)).total_seconds()
            expected = SCHEDULE[attempt - 1]
            assert expected * 0.8 <= wait <= expected * 1.2, (attempt, wait)
            # Not due yet: a sweep a second early sends nothing.
            clock.move_to(delivery.next_attempt_at - timedelta(seconds=1))
            deliveries_sweep()
            assert receiver.count() == attempt
            clock.move_to(delivery.next_attempt_at)
        added = metric("dlq_messages_added_total", destination="orders")
        with django_capture_on_commit_callbacks(execute=True):
            deliveries_sweep()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 8 and delivery.next_attempt_at is None
    assert DeliveryAttempt.objects.filter(delivery=delivery, result="http_error", status_code=500).count() == 8
    (failure,) = WebhookFailure.objects.filter(delivery=delivery)
    assert failure.resolution == WebhookFailure.Resolution.OPEN
    assert failure.provider == "shop" and failure.event_type == "charge.succeeded"
    assert bytes(failure.payload) == bytes(event.body)
    assert "gave up after 8 attempts" in failure.error_message and "HTTP 500: database is down" in failure.error_message
    added_event = OutboxEvent.objects.filter(type="dlq.added").latest("id")
    assert added_event.data["ids"] == [failure.pk] and added_event.data["outbound"] is False
    assert metric("dlq_messages_added_total", destination="orders") == added + 1
    seen = receiver.seen
    assert len(seen) == 8 and {s.webhook_id for s in seen} == {event.public_id}
    assert all(s.verified for s in seen)
    stamps = [int(s.timestamp) for s in seen]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] > 20 * 3600  # signed at each attempt's time

    # Dead is final for the sweep (only a DLQ retry re-arms it).
    deliveries_sweep()
    assert receiver.count() == 8


def test_receiver_recovers_and_each_id_is_seen_once_after_its_first_success(route, receiver):
    _, source = route
    receiver.respond(503)
    with time_machine.travel(T0, tick=False) as clock:
        events = [ingest_event(source) for _ in range(5)]
        deliveries_sweep()
        assert receiver.count() == 5
        receiver.respond(200)
        for _ in range(4):
            clock.shift(timedelta(hours=1))
            deliveries_sweep()
    assert {d.status for d in Delivery.objects.filter(event__in=events)} == {Delivery.Status.DELIVERED}
    for event in events:
        seen = receiver.for_id(event.public_id)
        assert [s.status for s in seen] == [503, 200], "one failure, then exactly one success and nothing after it"
        assert the_delivery(event).attempts == 2


def test_a_dlq_replay_spends_one_attempt_and_reopens_the_same_failure(route, receiver):
    """The contract with the DLQ service: attempt_budget = attempts + 1, reopen, never a second failure row."""
    _, source = route
    source.retry_max_attempts = 2
    source.save()
    receiver.respond(500)
    with time_machine.travel(T0, tick=False) as clock:
        event = ingest_event(source)
        deliveries_sweep()
        clock.shift(timedelta(minutes=1))
        deliveries_sweep()
        delivery = the_delivery(event)
        assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 2
        failure = WebhookFailure.objects.get(delivery=delivery)

        def replay():  # what dlq_retry does to the rows (reliability/webhooks/services/dlq.py)
            WebhookFailure.objects.filter(pk=failure.pk).update(
                resolution="retried", retry_count=failure.retry_count + 1, resolved_by_label="olivia", resolved_at=T0
            )
            d = the_delivery(event)
            Delivery.objects.filter(pk=d.pk).update(status="pending", next_attempt_at=datetime.now(UTC), attempt_budget=d.attempts + 1)

        replay()
        deliveries_sweep()
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 3, "a replay is one attempt"
        assert WebhookFailure.objects.filter(delivery=delivery).count() == 1
        failure.refresh_from_db()
        assert failure.resolution == "open" and failure.resolved_by_label == "" and failure.resolved_at is None
        assert "gave up after 3 attempts" in failure.error_message

        receiver.respond(200)
        failure.retry_count = 1
        replay()
        deliveries_sweep()
    delivery.refresh_from_db()
    failure.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 4
    assert failure.resolution == "retried"
    assert [s.status for s in receiver.for_id(event.public_id)] == [500, 500, 500, 200]


@pytest.mark.parametrize(
    ("strategy", "bound"),
    [
        ("exponential", lambda n: 10 * 2 ** (n - 1)),
        ("linear", lambda n: 10 * n),
        ("fixed", lambda n: 10),
        ("fibonacci", lambda n: 10 * [1, 1, 2, 3, 5, 8, 13][n - 1]),
    ],
)
def test_source_strategies_use_full_jitter_under_the_cap(strategy, bound):
    import random

    plan = RetryPlan(strategy=strategy, max_attempts=8, base=10, cap=60)
    rng = random.Random(7)
    for n in range(1, 8):
        delays = [plan.delay(n, rng=rng) for _ in range(200)]
        ceiling = min(bound(n), 60)
        assert all(1.0 <= d <= ceiling for d in delays), (n, min(delays), max(delays))
        assert max(delays) > ceiling * 0.7, "full jitter spreads over the whole range"


def test_default_schedule_has_twenty_percent_jitter():
    import random

    plan = RetryPlan()
    rng = random.Random(3)
    for n, seconds in enumerate(SCHEDULE, start=1):
        delays = [plan.delay(n, rng=rng) for _ in range(200)]
        assert min(delays) >= seconds * 0.8 and max(delays) <= seconds * 1.2
        assert max(delays) - min(delays) > seconds * 0.2
    assert WEBHOOK.max_attempts == 8


def test_source_policy_drives_next_attempt_at(route, receiver):
    _, source = route
    source.retry_strategy, source.retry_base_seconds, source.retry_max_seconds = "fixed", 30, 600
    source.save()
    receiver.respond(500)
    with time_machine.travel(T0, tick=False):
        waits = []
        for _ in range(10):
            event = ingest_event(source)
            delivery_attempt(delivery_id=the_delivery(event).pk)
            waits.append((the_delivery(event).next_attempt_at - T0).total_seconds())
    assert all(1 <= w <= 30 for w in waits) and len(set(waits)) > 1


# --- Retry-After ------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_in_seconds_and_as_a_date_and_clamped(route, receiver):
    _, source = route
    source.retry_max_seconds = 3600
    source.save()
    with time_machine.travel(T0, tick=False):
        waits = []
        for reply in (
            Reply(429, {"Retry-After": "120"}),
            Reply(503, {"Retry-After": email.utils.format_datetime(T0 + timedelta(seconds=900), usegmt=True)}),
            Reply(429, {"Retry-After": "999999"}),
            Reply(429, {"Retry-After": "soon"}),  # unusable: the schedule decides (5 s ±20 %)
        ):
            receiver.script(reply)
            event = ingest_event(source)
            delivery = delivery_attempt(delivery_id=the_delivery(event).pk)
            assert delivery.status == Delivery.Status.FAILED and delivery.last_status_code == reply.status
            waits.append((delivery.next_attempt_at - T0).total_seconds())
    assert waits[:3] == [120, 900, 3600]
    assert 4 <= waits[3] <= 6


# --- 410 Gone ------------------------------------------------------------------------------------------------


def test_410_disables_the_destination_and_dead_letters_what_waits_for_it(make_destination, make_source, receiver):
    gone = make_destination("legacy", url=receiver.url + "/legacy", signing_secret=DEST_SECRET)
    healthy = make_destination("healthy", url=receiver.url + "/healthy", signing_secret=DEST_SECRET)
    source = make_source("shop", destinations=[gone, healthy])
    first, second = ingest_event(source), ingest_event(source)
    receiver.script(Reply(410, body=b"this endpoint was removed"))

    delivery = delivery_attempt(delivery_id=Delivery.objects.get(event=first, destination=gone).pk)

    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 1
    gone.refresh_from_db()
    assert gone.enabled is False and "410 Gone" in gone.disabled_reason and gone.disabled_at is not None
    entry = AuditEntry.objects.get(action="webhooks.destination.disable")
    assert entry.actor_kind == "system" and entry.actor_label == "webhook-delivery"
    assert entry.target_id == str(gone.pk) and entry.changes["enabled"] == [True, False]
    assert OutboxEvent.objects.filter(type="webhook.destination_disabled", aggregate_id=str(gone.pk)).count() == 1
    waiting = Delivery.objects.get(event=second, destination=gone)
    assert waiting.status == Delivery.Status.DEAD and waiting.attempts == 0, "dead-lettered without an attempt"
    failures = {f.delivery_id: f for f in WebhookFailure.objects.filter(destination=gone)}
    assert set(failures) == {delivery.pk, waiting.pk}
    assert "HTTP 410" in failures[delivery.pk].error_message
    assert "410 Gone" in failures[waiting.pk].error_message
    assert all(f.resolution == "open" for f in failures.values())

    # The other destination is untouched, and a new event for the disabled one goes straight to the DLQ.
    third = ingest_event(source)
    deliveries_sweep()
    assert set(Delivery.objects.filter(destination=healthy).values_list("status", flat=True)) == {"delivered"}
    assert Delivery.objects.get(event=third, destination=gone).status == Delivery.Status.DEAD
    assert [s.path for s in receiver.seen].count("/hook/legacy") == 1
    assert AuditEntry.objects.filter(action="webhooks.destination.disable").count() == 1


# --- breakers ---------------------------------------------------------------------------------------------


def test_open_breaker_defers_without_attempts_and_the_half_open_probe_resumes(route, receiver):
    destination, source = route
    name = destination.breaker_name
    # open_duration runs on the real monotonic clock: long enough that the deferral phase below surely
    # happens while the breaker is open (checked, not assumed), short enough to wait for afterwards.
    declare(name, BreakerConfig(minimum_calls=2, failure_rate_threshold=50, window_size=10, open_duration=5.0,
                                half_open_permitted_calls=1, success_threshold=1))
    receiver.respond(500)
    for _ in range(2):  # trip it
        http.request("POST", receiver.url, target=name, content=b"{}")
    assert breaker(name).state == "open"
    receiver.seen.clear()
    receiver.respond(200)
    deferred = metric("webhook_delivery_deferred_total", destination="orders")

    with time_machine.travel(T0, tick=False) as clock:
        events = [ingest_event(source) for _ in range(4)]
        deliveries_sweep()
        assert breaker(name).state == "open", "the sweep ran after open_duration (machine too slow?): nothing to defer"
        rows = list(Delivery.objects.filter(event__in=events))
        assert {(r.status, r.attempts) for r in rows} == {(Delivery.Status.PENDING, 0)}
        assert all(r.next_attempt_at > T0 for r in rows) and "circuit breaker" in rows[0].last_error
        assert not DeliveryAttempt.objects.filter(delivery__in=rows).exists()
        assert receiver.count() == 0
        assert metric("webhook_delivery_deferred_total", destination="orders") == deferred + 4

        # The breaker's open_duration runs on the real monotonic clock: sweep (database clock moved
        # past each deferral) until the half-open probe has let everything through, or 30 s pass.
        deadline = time.monotonic() + 60
        while Delivery.objects.filter(event__in=events).exclude(status="delivered").exists():
            assert time.monotonic() < deadline, "the half-open probe never resumed delivery"
            clock.shift(timedelta(seconds=30))
            deliveries_sweep()
            time.sleep(0.05)  # poll interval between sweeps, not a timing assumption
    rows = list(Delivery.objects.filter(event__in=events))
    assert {(r.status, r.attempts) for r in rows} == {(Delivery.Status.DELIVERED, 1)}, "deferrals cost no attempt"
    assert breaker(name).state == "closed"
    assert receiver.ids() == {e.public_id: 1 for e in events}


# --- timeouts, excerpts -----------------------------------------------------------------------------------


def test_a_hanging_receiver_is_a_timeout_attempt(make_destination, make_source, receiver):
    destination = make_destination("slow", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=1)
    source = make_source("shop", destinations=[destination])
    receiver.hang_next()
    event = ingest_event(source)
    delivery = delivery_attempt(delivery_id=the_delivery(event).pk)
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 1 and delivery.last_status_code is None
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.result == DeliveryAttempt.Result.TIMEOUT and attempt.latency_ms >= 900
    assert "timed out" in attempt.error


def test_error_excerpts_are_at_most_1000_characters(route, receiver):
    _, source = route
    receiver.respond(500, body=b"\x00boom " * 2000)
    event = ingest_event(source)
    delivery = delivery_attempt(delivery_id=the_delivery(event).pk)
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.error.startswith("HTTP 500:") and len(attempt.error) == 1000 and "\x00" not in attempt.error
    assert len(delivery.last_error) <= 1000


def test_unreachable_destination_is_a_network_error(make_destination, make_source):
    destination = make_destination("nowhere", url="http://127.0.0.1:9/hook", signing_secret=DEST_SECRET)
    source = make_source("shop", destinations=[destination])
    event = ingest_event(source)
    delivery = delivery_attempt(delivery_id=the_delivery(event).pk)
    assert delivery.status == Delivery.Status.FAILED
    assert DeliveryAttempt.objects.get(delivery=delivery).result == DeliveryAttempt.Result.NETWORK_ERROR


# --- leases ----------------------------------------------------------------------------------------------------


def test_an_expired_lease_is_reclaimed_by_the_sweep_and_the_stale_holder_cannot_complete(route, receiver):
    destination, source = route
    with time_machine.travel(T0, tick=False) as clock:
        event = ingest_event(source)
        token, (job,), lease = _claim(now=T0, limit=10)  # a worker claims it, then dies
        assert lease == destination.timeout_seconds + 15
        delivery = the_delivery(event)
        assert delivery.status == Delivery.Status.IN_FLIGHT and delivery.lease_expires_at == T0 + timedelta(seconds=lease)

        deliveries_sweep()  # the lease holds: nobody else may send
        assert receiver.count() == 0 and the_delivery(event).status == Delivery.Status.IN_FLIGHT

        clock.move_to(T0 + timedelta(seconds=lease + 1))
        stats = deliveries_sweep()
        assert stats.reclaimed == 1 and stats.delivered == 1

        # The "dead" worker wakes up and reports success with its old token: ignored.
        from reliability.webhooks.engine.jobs import Outcome

        lost = _record([Outcome(job, DeliveryAttempt.Result.SUCCESS, T0, status_code=200, latency_ms=5)], token=token)
    assert lost.lost == 1
    delivery = the_delivery(event)
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 2
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("id").values_list("result", flat=True)) == [
        "lease_expired", "success"
    ]
    assert receiver.ids() == {event.public_id: 1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_send_the_same_delivery_twice(make_destination, make_source, receiver):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
    source = make_source("shop", destinations=[destination])
    events = [ingest_event(source) for _ in range(60)]
    ids = list(Delivery.objects.filter(event__in=events).values_list("pk", flat=True))
    barrier = threading.Barrier(4)
    errors = []

    def work(fn):
        try:
            barrier.wait()
            fn()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(lambda: deliveries_attempt(delivery_ids=ids, limit=20),)),
        threading.Thread(target=work, args=(lambda: deliveries_attempt(delivery_ids=list(reversed(ids)), limit=7),)),
        threading.Thread(target=work, args=(lambda: deliveries_sweep(limit=10),)),
        threading.Thread(target=work, args=(lambda: deliveries_attempt(event_ids=[e.pk for e in events]),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    deliveries_sweep()  # whatever every claimer skipped
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempts")) == {("delivered", 1)}
    assert receiver.ids() == {e.public_id: 1 for e in events}


@pytest.mark.django_db(transaction=True)
def test_a_long_batch_renews_its_lease_so_the_sweep_does_not_take_it_back(make_destination, make_source, receiver, settings):
    settings.WEBHOOK_LEASE_MARGIN_SECONDS = 0
    destination = make_destination("slowish", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=4)
    source = make_source("shop", destinations=[destination])
    events = [ingest_event(source) for _ in range(16)]
    # 16 sends on 8 threads: a slow first wave, then a second wave the receiver holds until the test
    # releases it -- so the batch is still running, by construction, when its first lease is over.
    receiver.script(*[Reply(200, delay=2.5)] * 8, *[Reply(200, hang=True)] * 8)
    done = threading.Event()

    def run():
        try:
            deliveries_attempt(event_ids=[e.pk for e in events])
        finally:
            connection.close()
            done.set()

    def wait_for(condition, what, limit=60.0):
        deadline = time.monotonic() + limit
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    threading.Thread(target=run).start()
    try:
        in_flight = Delivery.objects.filter(event__in=events, status=Delivery.Status.IN_FLIGHT)
        wait_for(lambda: in_flight.count() == 16, "the batch to claim all 16")
        first_lease = min(in_flight.values_list("lease_expires_at", flat=True))  # before the first renewal (1.3 s)
        assert receiver.hanging.wait(60), "the second wave never started"
        from django.utils import timezone

        wait_for(lambda: timezone.now() > first_lease + timedelta(seconds=0.2), "the first lease to run out")
        from reliability.webhooks.engine import deliveries_reclaim_expired

        assert not done.is_set(), "the batch should still be running"
        assert deliveries_reclaim_expired() == 0, "the runner renews the lease while the batch is in progress"
    finally:
        receiver.release.set()
    assert done.wait(60)
    assert set(Delivery.objects.filter(event__in=events).values_list("status", "attempts")) == {("delivered", 1)}
    assert receiver.ids() == {e.public_id: 1 for e in events}


def test_dispatch_enqueues_batched_tasks_after_commit(db, django_capture_on_commit_callbacks, settings):
    import redis

    from reliability.webhooks.dispatch import deliveries_dispatch

    settings.WEBHOOK_DELIVERY_BATCH_SIZE = 2
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_dispatch([5, 3, 1, 3, 9, 7])
        assert broker.llen("celery") == 0
    messages = [json.loads(raw) for raw in reversed(broker.lrange("celery", 0, -1))]  # LPUSH: newest first
    assert [m["headers"]["task"] for m in messages] == ["webhooks.deliver_batch"] * 3
    assert [json.loads(base64.b64decode(m["body"]))[1] for m in messages] == [
        {"delivery_ids": [1, 3]}, {"delivery_ids": [5, 7]}, {"delivery_ids": [9]},
    ]


# --- the per-process dispatch buffer ------------------------------------------------------------------


class _SteppedClock:
    """A monotonic clock and ``sleep`` that only the test moves forward (the buffer's thread sleeps on it).

    ``settle()`` waits (real time, generous limit) until the buffer's thread is parked: asleep until a
    later instant, or waiting for ids. The test then moves time in small steps, so the schedule is
    checked exactly, however slow or loaded the machine is.
    """

    def __init__(self, start: float) -> None:
        self.now = start
        self.cond = threading.Condition()
        self.thread = None  # the buffer's thread; other threads sleep for real
        self.state = "idle"
        self.until = 0.0
        self.wake = None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if threading.current_thread() is not self.thread:
            time.sleep(seconds)
            return
        with self.cond:
            self.until, self.state = self.now + seconds, "sleeping"
            self.cond.notify_all()
            while self.now < self.until:
                self.cond.wait()
            self.state = "running"

    def waiting(self, is_waiting: bool) -> None:
        with self.cond:
            self.state = "waiting" if is_waiting else "running"
            self.cond.notify_all()

    def settle(self) -> None:
        def parked():
            if self.state == "sleeping":
                return self.until > self.now
            return self.state == "waiting" and not self.wake.is_set()

        with self.cond:
            assert self.cond.wait_for(parked, timeout=30), f"dispatch thread never parked ({self.state})"

    def advance(self, seconds: float, *, step: float = 0.001) -> None:
        end = self.now + seconds
        while self.now < end - 1e-12:
            with self.cond:
                self.now = min(self.now + step, end)
                self.cond.notify_all()
            self.settle()


def test_dispatch_buffer_is_prompt_when_quiet_and_bounded_when_busy(monkeypatch, settings):
    import sys
    from types import SimpleNamespace

    from reliability.webhooks import dispatch

    buffer = dispatch.DispatchBuffer()
    home = sys.modules[type(buffer).__module__]  # wherever the buffer lives, its clock is the test's
    clock = _SteppedClock(start=time.monotonic() + 10_000)

    class TrackedEvent(threading.Event):
        def wait(self, timeout=None):
            if threading.current_thread() is clock.thread:
                clock.waiting(True)
            try:
                return super().wait(timeout)
            finally:
                if threading.current_thread() is clock.thread:
                    clock.waiting(False)

    buffer._wake = clock.wake = TrackedEvent()
    real_thread = threading.Thread

    def thread_factory(*args, **kwargs):
        clock.thread = real_thread(*args, **kwargs)
        return clock.thread

    monkeypatch.setattr(home, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep, time=time.time))
    monkeypatch.setattr(home.threading, "Thread", thread_factory)
    published: list[tuple[float, list[int]]] = []
    monkeypatch.setattr(home, "_enqueue", lambda kind, ids: published.append((clock.now, ids)))
    settings.WEBHOOK_DISPATCH_INTERVAL = 1.0

    # Quiet: one id is published after the short window, not after the 1 s interval.
    added = clock.now
    buffer.add([1])
    monkeypatch.setattr(home.threading, "Thread", real_thread)  # one thread only
    clock.settle()
    clock.advance(0.1)
    assert [ids for _, ids in published] == [[1]]
    assert published[0][0] - added < 0.05, published

    # Busy: an id every 2 ms for a second -> one publish per interval, every id exactly once.
    settings.WEBHOOK_DISPATCH_INTERVAL = 0.2
    clock.advance(0.25)  # the quiet publish's interval is over
    published.clear()
    start = clock.now
    n = 0
    while clock.now - start < 1.0:
        n += 1
        buffer.add([100 + n])
        clock.settle()
        clock.advance(0.002)
    clock.advance(0.5)
    offsets = [round(t - start, 3) for t, _ in published]
    assert 5 <= len(published) <= 7, offsets  # 10 ms windows would be ~80
    sent = [i for _, ids in published for i in ids]
    assert sorted(sent) == list(range(101, 101 + n))
    gaps = [b[0] - a[0] for a, b in zip(published, published[1:], strict=False)]
    assert min(gaps) >= 0.2 - 1e-6, offsets


# --- the outbound address policy ---------------------------------------------------------------------------


@pytest.fixture
def strict_policy(settings):
    """Staging's policy with nothing allow-listed; pooled connections from earlier tests closed."""
    settings.OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = False
    settings.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = []
    http.close_clients()
    yield settings
    http.close_clients()


def test_a_destination_refused_by_the_policy_is_dead_lettered_at_once_never_retried(route, receiver, strict_policy):
    _, source = route  # saved while the test settings allow-listed 127.0.0.1; now they do not
    event = ingest_event(source)
    delivery = delivery_attempt(delivery_id=the_delivery(event).pk)
    assert delivery.status == Delivery.Status.DEAD and delivery.next_attempt_at is None  # no retry scheduled
    assert delivery.attempts == 0 and not DeliveryAttempt.objects.filter(delivery=delivery).exists()  # nothing sent
    assert receiver.ids() == {}
    failure = WebhookFailure.objects.get(delivery=delivery)
    for text in (failure.error_message, delivery.last_error):
        assert "OutboundRefused" in text and "refused by the outbound address policy: loopback address" in text
        assert "not retried" in text and "gave up" not in text
    # The sweep leaves it alone: it is dead, not waiting.
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=12), tick=False):
        assert deliveries_sweep().claimed == 0
    assert receiver.ids() == {}


# --- pacing costs nothing without limits (replay-perf) ---------------------------------------------


def test_an_unlimited_destination_sends_without_touching_the_pacing_layer(make_destination, make_source, receiver,
                                                                         monkeypatch):
    """No rate and no concurrency limit: no token, no slot, no Redis round trip per send; a limited one does pace."""
    from reliability.webhooks.engine import pace

    calls: list[str] = []
    real_redis, real_take, real_slot = pace._redis, pace._local.take, pace._local.take_slot
    monkeypatch.setattr(pace, "_redis", lambda: calls.append("redis") or real_redis())
    monkeypatch.setattr(pace._local, "take", lambda *a: calls.append("take") or real_take(*a))
    monkeypatch.setattr(pace._local, "take_slot", lambda *a: calls.append("slot") or real_slot(*a))
    free = make_destination("free", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2)
    free_source = make_source("free-src", destinations=[free])
    events = [ingest_event(free_source) for _ in range(3)]

    stats = deliveries_attempt(event_ids=[e.pk for e in events])  # three jobs: the pool path

    assert stats.delivered == 3 and receiver.count() == 3
    assert calls == [], f"an unlimited destination went through the pacing layer: {calls}"

    paced = make_destination("paced-one", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=2,
                             rate_limit_per_second=1000, concurrency_limit=5)
    pace.pacing_reset(paced.pk)
    calls.clear()
    event = ingest_event(make_source("paced-src", destinations=[paced]))
    assert deliveries_attempt(event_ids=[event.pk]).delivered == 1
    assert calls, "a limited destination must take a token and a slot (else this test cannot fail)"

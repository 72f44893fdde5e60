"""The self-healing DLQ against real receivers on 127.0.0.1 and a real Celery worker.

- a receiver down for a while → ``destination_down``; back → the processor replays each item once, on its own;
- a 422 receiver → held for review, never replayed; a 401 after a secret rotation → ``signature_rejected`` + hint;
- a manual bulk replay racing the processor → every id delivered exactly once (the receiver's log);
- pacing: 50/s never more than 50 + burst in any one-second window; a concurrency limit of 4 never more than 4.

No sleeps: the retry schedule is stepped with time_machine and every wait is on a condition (60 s limits).
"""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from reliability.breakers import BreakerConfig, declare
from reliability.breakers.runtime import default_registry
from reliability.breakers.services import breaker_disable, breaker_register
from reliability.webhooks.engine import deliveries_attempt, deliveries_sweep
from reliability.webhooks.engine.pace import burst_for, pacing_reset
from reliability.webhooks.models import Delivery, WebhookFailure
from reliability.webhooks.services.config import webhook_destination_update
from reliability.webhooks.services.dlq import dlq_retry
from reliability.webhooks.services.dlq_recovery import dlq_process
from reliability.webhooks.signatures import generate_standard_secret
from tests.webhooks.dlq_helpers import make_dlq_item
from tests.webhooks.receiver import DEST_SECRET, Receiver
from tests.webhooks.test_worker_delivery import celery_worker, ingest, wait_for  # noqa: F401 - a fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPERATOR = Actor.for_system("operator-bulk-replay")


@pytest.fixture(autouse=True)
def _clean_runtime():
    default_registry.reset()
    pacing_reset()
    yield
    default_registry.reset()
    pacing_reset()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(delivery_ids):
    return deliveries_attempt(delivery_ids=delivery_ids)


def _tolerant(destination) -> None:
    """The destination's breaker stays out of it in every process (disabled: shared through Redis): the subject is the DLQ.

    Otherwise the worker's breaker, with the default config, could open on the failures this process
    recorded while the receiver was down, and defer the replays to a sweep no beat runs here.
    """
    declare(destination.breaker_name, BreakerConfig(minimum_calls=10_000))
    breaker_register(name=destination.breaker_name, config=BreakerConfig(minimum_calls=10_000))
    breaker_disable(name=destination.breaker_name, actor=OPERATOR, reason="test: the DLQ is the subject", source="test")


def _processor_entries():
    return AuditEntry.objects.filter(action="dlq.retry", actor_label="dlq-processor").order_by("id")


def test_a_receiver_down_for_a_while_is_replayed_on_its_own_once_it_is_back(client, make_destination, make_source,
                                                                             celery_worker, free_port):  # noqa: F811
    destination = make_destination("orders", url=f"http://127.0.0.1:{free_port}/hook", signing_secret=DEST_SECRET,
                                   timeout_seconds=2)
    _tolerant(destination)
    make_source("shop", destinations=[destination], retry_strategy="fixed", retry_max_attempts=2,
                retry_base_seconds=1, retry_max_seconds=1)
    events = [ingest(client, "shop") for _ in range(5)]

    # Nothing listens on the port: connection refused, twice (the schedule stepped by the clock), then the DLQ.
    deliveries_attempt(event_ids=[e.pk for e in events])
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        assert deliveries_sweep().dead == 5
    failures = list(WebhookFailure.objects.order_by("id"))
    assert [f.failure_class for f in failures] == ["destination_down"] * 5
    assert len({f.group_signature for f in failures}) == 1, "one issue: same destination, class and error"

    # Still down: the processor probes with one item, the probe fails, nothing else is replayed.
    run = dlq_process(probe=_probe)
    assert (run.probes, run.probe_failures, dict(run.replayed)) == (1, 1, {"destination_down": 1})
    assert WebhookFailure.objects.filter(resolution="open").count() == 5

    with Receiver.running(port=free_port) as receiver:
        celery_worker()
        run = dlq_process(probe=_probe)  # the probe succeeds inline, the other four go to the worker
        assert run.probes == 1 and run.probe_failures == 0 and run.replayed["destination_down"] == 5
        wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 5, what="all five replayed")
        assert receiver.ids() == {e.public_id: 1 for e in events}, "each id delivered once"
        assert all(s.verified for s in receiver.seen)
        assert dict(dlq_process(probe=_probe).replayed) == {}, "nothing left to replay"

    entries = list(_processor_entries())
    assert len(entries) == 3  # the failed probe, the good probe, the rest
    assert all(e.changes["strategy"] == "auto_replay_on_recovery" for e in entries)
    assert sum(e.changes["count"] for e in entries[1:]) == 5


def test_a_422_receiver_is_held_for_review_and_never_replayed(client, make_destination, make_source):
    with Receiver.running() as receiver:
        receiver.respond(422, body=b'{"error": "amount must be positive"}')
        destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
        _tolerant(destination)
        make_source("shop", destinations=[destination], retry_max_attempts=1)
        events = [ingest(client, "shop") for _ in range(3)]
        deliveries_attempt(event_ids=[e.pk for e in events])
        assert list(WebhookFailure.objects.values_list("failure_class", flat=True)) == ["rejected"] * 3
        receiver.respond(200)
        other = ingest(client, "shop")  # a recent success: the destination is healthy
        deliveries_attempt(event_ids=[other.pk])
        seen = receiver.count()

        run = dlq_process(probe=lambda ids: pytest.fail("held items are not probed"))
        assert dict(run.replayed) == {} and run.probes == 0
        assert receiver.count() == seen
        assert WebhookFailure.objects.filter(resolution="open", failure_class="rejected").count() == 3
        assert not _processor_entries().exists()


def test_a_401_after_a_secret_rotation_is_signature_rejected_with_the_hint(client, make_destination, make_source,
                                                                          operator):
    with Receiver.running(secret=DEST_SECRET) as receiver:
        receiver.reject_unverified = True  # verifies with the secret it knows: the old one
        destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
        _tolerant(destination)
        make_source("shop", destinations=[destination], retry_max_attempts=1)
        first = ingest(client, "shop")
        deliveries_attempt(event_ids=[first.pk])
        assert receiver.seen[-1].status == 200

        webhook_destination_update(destination_id=destination.pk, signing_secret=generate_standard_secret(),
                                   actor=OPERATOR, source="test")
        later = ingest(client, "shop")
        deliveries_attempt(event_ids=[later.pk])
        failure = WebhookFailure.objects.get()
        assert receiver.seen[-1].status == 401 and not receiver.seen[-1].verified
        assert (failure.failure_class, failure.status_code) == ("signature_rejected", 401)
        assert "rotated" in failure.hint

        client.force_login(operator)
        row = client.get("/api/v1/dlq/").json()["results"][0]
        assert row["failure_class"] == "signature_rejected" and "secret" in row["hint"]
        assert "signature_rejected" in client.get("/ops/panels/dlq/").content.decode()
        assert dict(dlq_process(probe=lambda ids: pytest.fail("held")).replayed) == {}


def _in_thread(fn, results, key):
    try:
        results[key] = fn()
    except Exception as exc:  # surfaced by the assertions
        results[key] = exc
    finally:
        connections.close_all()


def test_a_manual_bulk_replay_racing_the_processor_delivers_every_id_exactly_once(make_destination, make_source,
                                                                                celery_worker):  # noqa: F811
    with Receiver.running() as receiver:
        destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
        _tolerant(destination)
        source = make_source("shop", destinations=[destination])
        items = [make_dlq_item(source, destination, error="connection refused", failure_class="destination_down",
                               status_code=None) for _ in range(200)]
        celery_worker()
        start = threading.Barrier(2)
        results: dict = {}

        def manual():
            start.wait(30)
            return dlq_retry(filters={"destination": str(destination.pk)}, actor=OPERATOR, source="api")

        def automatic():
            start.wait(30)
            return dlq_process(probe=_probe)

        threads = [threading.Thread(target=_in_thread, args=(fn, results, name)) for name, fn in
                   (("manual", manual), ("automatic", automatic))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(isinstance(r, Exception) for r in results.values()), results
        wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 200, what="every item delivered")
        expected = {f"evt_{i.delivery.event_id}": 1 for i in items}
        assert receiver.ids() == expected, "every id delivered exactly once"

    # The two replays took disjoint sets whose union is every item; each operation audited once.
    taken = [set(e.changes["ids"]) for e in AuditEntry.objects.filter(action="dlq.retry")]
    assert sum(len(t) for t in taken) == 200 and set().union(*taken) == {i.pk for i in items}


def _deliver_all(expected: int, *, extra_sweeper: bool = True):
    """Replay everything (to the worker) while this process sweeps too: two processes share the limits."""
    stop = threading.Event()

    def sweeper():
        try:
            while not stop.is_set():
                deliveries_sweep(max_seconds=5)
        finally:
            connections.close_all()

    thread = threading.Thread(target=sweeper, daemon=True)
    if extra_sweeper:
        thread.start()
    try:
        wait_for(lambda: Delivery.objects.filter(status="delivered").count() == expected, timeout=120,
                 what="every delivery")
    finally:
        stop.set()
        if extra_sweeper:
            thread.join(60)


def test_a_rate_limit_of_50_per_second_holds_across_processes(make_destination, make_source, celery_worker):  # noqa: F811
    with Receiver.running() as receiver:
        destination = make_destination("paced", url=receiver.url, signing_secret=DEST_SECRET,
                                       rate_limit_per_second=50)
        _tolerant(destination)
        source = make_source("shop", destinations=[destination])
        items = [make_dlq_item(source, destination) for _ in range(300)]
        celery_worker()
        dlq_retry(filters={"destination": str(destination.pk)}, actor=OPERATOR, source="api")
        _deliver_all(300)
        assert sorted(receiver.ids().values()) == [1] * 300
        assert len(receiver.ids()) == len(items)
        window = receiver.max_per_window(1.0)
        # The documented allowance (docs/webhooks.md, "Pacing"): the bucket's burst, plus 10 % for the host's
        # scheduling jitter between a send taking its token and the request reaching the receiver.
        assert window <= 50 + burst_for(50) + 5, f"{window} requests in one second"
        assert window >= 30, "the limit was the bottleneck, not something else"


def test_a_concurrency_limit_of_4_is_never_exceeded(make_destination, make_source, celery_worker):  # noqa: F811
    with Receiver.running() as receiver:
        receiver.respond(200, delay=0.05)  # a slow receiver, so sends overlap
        destination = make_destination("narrow", url=receiver.url, signing_secret=DEST_SECRET, concurrency_limit=4)
        _tolerant(destination)
        source = make_source("shop", destinations=[destination])
        for _ in range(60):
            make_dlq_item(source, destination)
        celery_worker()
        dlq_retry(filters={"destination": str(destination.pk)}, actor=OPERATOR, source="api")
        _deliver_all(60)
        assert sorted(receiver.ids().values()) == [1] * 60
        assert receiver.max_in_flight <= 4
        assert receiver.max_in_flight >= 2, "sends did overlap (the limit, not a serial sender, held them)"

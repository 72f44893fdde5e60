"""Each scenario end to end: scheduled through beat, run by a real worker, judged by invariants.

PostgreSQL, Redis, ``celery worker`` and ``celery beat`` are real processes; the test process
only sets things up and waits on conditions (generous limits, no sleeps to time things).
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.actors import Actor
from chaos.engine.sweep import sweep
from chaos.models import ChaosFault, ChaosRun
from reliability import faults
from reliability.webhooks.models import Delivery, WebhookEvent
from reliability.webhooks.services.config import RouteSpec, webhook_destination_create, webhook_source_create
from tests.chaos.helpers import wait_for
from tests.webhooks.helpers import SECRETS
from tests.webhooks.receiver import DEST_SECRET, Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SYSTEM = Actor.for_system("test")


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


@pytest.fixture
def shop(receiver):
    """A standard-scheme source ``shop`` routed to a destination at the receiver, quick fixed retries."""
    destination = webhook_destination_create(name="orders", url=receiver.url, signing_secret=DEST_SECRET,
                                             timeout_seconds=5, actor=SYSTEM, source="test")
    webhook_source_create(slug="shop", scheme="standard", secrets=[SECRETS["standard"]], actor=SYSTEM, source="test",
                          routes=[RouteSpec(destination_id=destination.pk)], retry_strategy="fixed",
                          retry_base_seconds=1, retry_max_attempts=10)
    return destination


def _await_verdict(drill, processes, timeout=150.0) -> ChaosRun:
    def done():
        run = ChaosRun.objects.filter(drill=drill).first()
        return run if run and run.verdict and run.state != "running" and run.invariants else None

    try:
        run = wait_for(done, timeout=timeout, what=f"a verdict for drill #{drill.pk}", interval=0.5)
    except AssertionError:
        raise AssertionError(processes.logs()) from None
    print("\n".join(f"{e.kind}: {e.message} {e.data}" for e in run.journal.all()))  # shown when a test fails
    return run


def _start(processes, workers: int = 1):
    for _ in range(workers):
        processes.worker()
    return processes.beat()


def test_burst_load_every_accepted_webhook_delivered_once(scheduled_drill, shop, receiver, processes):
    drill = scheduled_drill("burst-load", targets=["webhook-source:shop"], duration_seconds=3,
                            parameters={"rate_per_second": 5, "max_requests": 15, "settle_seconds": 60})
    _start(processes)
    run = _await_verdict(drill, processes)
    failed = [i for i in run.invariants if not i["passed"]]
    assert run.verdict == "passed", failed
    events = WebhookEvent.objects.filter(source__slug="shop").count()
    assert events >= 5 and set(receiver.ids().values()) == {1} and len(receiver.ids()) == events
    assert ChaosRun.objects.filter(drill=drill).count() == 1


def test_dependency_failure_every_webhook_still_delivered_and_faults_gone(scheduled_drill, shop, receiver, processes, client):
    from tests.webhooks.helpers import post, standard_headers

    drill = scheduled_drill("dependency-failure", targets=[shop.breaker_name], duration_seconds=4,
                            parameters={"error": 503, "rate_percent": 50, "settle_seconds": 60})
    _start(processes)
    wait_for(lambda: faults.fault_for(shop.breaker_name) is not None, timeout=60, what="the fault, seen from this process")
    for n in range(6):  # traffic during the drill, accepted here, delivered by the worker through the faulty seam
        body = f'{{"type": "order.paid", "n": {n}}}'.encode()
        assert post(client, "shop", body, standard_headers(body)).status_code == 202
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    assert faults.fault_for(shop.breaker_name) is None
    assert Delivery.objects.filter(status="delivered").count() == 6 and set(receiver.ids().values()) == {1}


def test_dependency_latency(scheduled_drill, shop, processes, client):
    from tests.webhooks.helpers import post, standard_headers

    drill = scheduled_drill("dependency-latency", targets=[shop.breaker_name], duration_seconds=3,
                            parameters={"latency_ms": 300, "settle_seconds": 60})
    _start(processes)
    wait_for(lambda: faults.fault_for(shop.breaker_name) is not None, timeout=60, what="the latency fault")
    body = b'{"type": "order.paid"}'
    assert post(client, "shop", body, standard_headers(body)).status_code == 202
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]


def test_duplicate_storm_stored_once_delivered_once(scheduled_drill, shop, receiver, processes):
    drill = scheduled_drill("duplicate-storm", targets=["webhook-source:shop"], duration_seconds=2,
                            parameters={"rate_per_second": 10, "max_requests": 20, "settle_seconds": 60})
    _start(processes)
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    assert WebhookEvent.objects.filter(source__slug="shop").count() == 1
    assert list(receiver.ids().values()) == [1]


def test_corrupt_payloads_refused_and_nothing_stored(scheduled_drill, shop, processes):
    drill = scheduled_drill("corrupt-payloads", targets=["webhook-source:shop"], duration_seconds=2,
                            parameters={"rate_per_second": 6, "max_requests": 9, "settle_seconds": 5})
    _start(processes)
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    assert not WebhookEvent.objects.filter(source__slug="shop").exists()


def test_db_latency(scheduled_drill, processes):
    drill = scheduled_drill("db-latency", targets=["db:default"], duration_seconds=2, parameters={"latency_ms": 20})
    _start(processes)
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    observed = [e.data.get("select_1_ms") for e in run.journal.filter(kind="steady_state_during")]
    assert observed and max(observed) >= 20  # the portal's own connections felt it


def test_redis_hang_through_the_fault_proxy(scheduled_drill, processes):
    drill = scheduled_drill("redis-hang", targets=["redis:app"], duration_seconds=2, parameters={"mode": "hang"})
    _start(processes)
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    pings = [e.data.get("ping_via_proxy_ms") for e in run.journal.filter(kind="steady_state_during")]
    assert pings and all(p is None for p in pings)  # hung: no answer through the proxy during the drill


def test_restore_drill_restores_checks_and_drops_the_scratch_copy(scheduled_drill, shop, processes):
    """The restore-drill scenario runs the real sandbox_restore against this (PostgreSQL) database."""
    from django.db import connection

    drill = scheduled_drill("restore-drill", targets=["sandbox"], duration_seconds=1)
    _start(processes)
    run = _await_verdict(drill, processes, timeout=400.0)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    finished = run.journal.filter(kind="observation", message="sandbox_restore finished").get()
    assert finished.data["ok"] is True and "passed" in finished.data["output"].lower()
    with connection.cursor() as cursor:  # the scratch database is gone again
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", [f"{connection.settings_dict['NAME']}_sandbox_%"])
        assert cursor.fetchone()[0] == 0


def test_beat_restart_during_a_one_off_slot_does_not_run_it_twice(scheduled_drill, processes):
    drill = scheduled_drill("dependency-latency", targets=["alertmanager"], duration_seconds=6,
                            parameters={"latency_ms": 10, "settle_seconds": 1})
    processes.worker()
    beat = processes.beat()
    wait_for(lambda: ChaosRun.objects.filter(drill=drill, state="running").exists(), timeout=60, what="the run")
    processes.kill(beat)
    # the restart bug (#828): a fresh beat may fire the one-off again; the (drill, slot) row answers
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(pk=drill.periodic_task_id).update(enabled=True, last_run_at=None, total_run_count=0)
    processes.beat()
    run = _await_verdict(drill, processes)
    assert ChaosRun.objects.filter(drill=drill).count() == 1 and run.state == "completed"


def test_a_fault_whose_drill_worker_was_sigkilled_expires_on_its_ttl(scheduled_drill, processes, chaos_settings):
    target = "notify:slack:1"
    drill = scheduled_drill("dependency-failure", targets=[target], duration_seconds=60, parameters={"error": 503})
    worker = processes.worker(concurrency=1)
    processes.beat()
    wait_for(lambda: faults.fault_for(target) is not None, timeout=60, what="the fault (shared through Redis)")
    processes.kill(worker, signal.SIGKILL)  # the drill's worker dies without removing anything
    processes.stop()  # beat too: nothing sweeps but this test, under a controlled clock
    fault = ChaosFault.objects.get(run__drill=drill)
    assert fault.removed_at is None and faults.fault_for(target) is not None
    with time_machine.travel(fault.expires_at + timedelta(seconds=1), tick=False):
        assert faults.fault_for(target) is None  # every reader honours the TTL on its own
        report = sweep()
    fault.refresh_from_db()
    assert fault.removed_reason == "TTL expired" and report["faults_expired"] == [fault.pk]
    run = ChaosRun.objects.get(drill=drill)
    assert run.state == "aborted" and "stopped answering" in run.reason
    assert timezone.now() < fault.expires_at  # the real clock never had to wait for the TTL


def test_worker_crash_a_pool_process_killed_and_replaced(scheduled_drill, shop, receiver, processes, client):
    from tests.webhooks.helpers import post, standard_headers

    drill = scheduled_drill("worker-crash", targets=["worker:celery"], duration_seconds=4,
                            parameters={"kills": 1, "settle_seconds": 60})
    processes.worker(concurrency=2)  # one pool process runs the drill, the other is the victim
    processes.beat()
    wait_for(lambda: ChaosRun.objects.filter(drill=drill, state="running").exists(), timeout=90, what="the run")
    for n in range(4):  # work in flight around the crash: the lease and the sweep recover it
        body = f'{{"type": "order.paid", "n": {n}}}'.encode()
        assert post(client, "shop", body, standard_headers(body)).status_code == 202
    run = _await_verdict(drill, processes)
    assert run.verdict == "passed", [i for i in run.invariants if not i["passed"]]
    assert run.journal.filter(message__startswith="killed worker process").exists()
    assert Delivery.objects.filter(status="delivered").count() == 4 and set(receiver.ids().values()) <= {1, 2}

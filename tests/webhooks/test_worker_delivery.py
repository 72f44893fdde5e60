"""A real Celery worker process against the test database: delivery after ingest, and SIGKILL mid-delivery.

What the design promises when a worker dies holding a claim: the delivery is
completed exactly once (one ``success`` attempt, status ``delivered``) after
its lease expires and the sweep reclaims it. The receiver may see the same
``webhook-id`` twice — only when the dead worker had already sent the body,
as here — and dedupes on it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from reliability.webhooks.engine import deliveries_sweep
from reliability.webhooks.models import Delivery, DeliveryAttempt, WebhookEvent
from tests.webhooks.helpers import post, standard_headers
from tests.webhooks.receiver import DEST_SECRET, Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(django_settings.BASE_DIR)


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


@pytest.fixture
def celery_worker(settings, tmp_path):
    """Start ``celery -A opsportal worker`` on this test database and Redis db; yields the process."""
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "worker.log").open("wb")
    started = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "opsportal", "worker", "-l", "WARNING", "-c", "1",
             "-n", f"wdel-test-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    log.close()


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ingest(client, slug: str) -> WebhookEvent:
    body = b'{"type": "charge.succeeded", "data": {"amount": 4200}}'
    response = post(client, slug, body, standard_headers(body))
    assert response.status_code == 202, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


def test_an_accepted_webhook_is_delivered_by_a_real_worker(client, make_destination, make_source, receiver, celery_worker):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
    make_source("shop", destinations=[destination])
    worker = celery_worker()
    event = ingest(client, "shop")  # dispatched on commit to the broker; no sweep runs in this test

    delivery = wait_for(lambda: Delivery.objects.filter(event=event, status="delivered").first(), what="delivery")
    assert delivery.attempts == 1 and worker.poll() is None
    assert receiver.ids() == {event.public_id: 1}
    assert receiver.seen[0].verified


def test_a_worker_killed_mid_delivery_is_reclaimed_after_its_lease_and_completes_once(
    client, make_destination, make_source, receiver, celery_worker
):
    destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET, timeout_seconds=5)
    make_source("shop", destinations=[destination])
    receiver.hang_next()  # the first request is held: the worker is mid-delivery
    worker = celery_worker()
    event = ingest(client, "shop")

    assert receiver.hanging.wait(60), "the worker never sent the delivery"
    received_at = timezone.now()
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.IN_FLIGHT and delivery.lease_token is not None
    os.killpg(worker.pid, signal.SIGKILL)  # worker and pool child, no chance to clean up
    worker.wait(10)
    receiver.release.set()  # the held request ends; nobody is there to read the answer

    # While the lease holds, nobody else may send, even though the worker is dead.
    assert deliveries_sweep().claimed == 0
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.IN_FLIGHT
    lease_expires_at = Delivery.objects.get(pk=delivery.pk).lease_expires_at
    # The lease: the destination's timeout plus the margin, from the claim made just before the send.
    assert abs((lease_expires_at - received_at).total_seconds() - (5 + 15)) < 3

    with time_machine.travel(lease_expires_at + timedelta(seconds=1), tick=False):
        stats = deliveries_sweep()
        assert stats.reclaimed == 1 and stats.delivered == 1
        assert deliveries_sweep().claimed == 0

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 2
    results = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("id").values_list("result", flat=True))
    assert results == ["lease_expired", "success"], "completed exactly once"
    seen = receiver.for_id(event.public_id)
    assert [s.status for s in seen] == [None, 200], "the killed attempt (body received, never answered) and one success"
    assert all(s.verified for s in seen)

"""Real HTTP against a live server: the duplicate storm and 202-after-commit."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reliability.webhooks.models import Delivery, WebhookEvent
from tests.webhooks.helpers import stripe_body, stripe_headers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STORM = 1000
THREADS = 32  # concurrent connections (each holds one server thread and one DB connection)


def test_duplicate_storm_is_stored_once_with_one_set_of_deliveries(live_server, make_source, make_destination):
    make_source("storm", "stripe", destinations=[make_destination("a"), make_destination("b")])
    body = stripe_body("evt_storm_1", "charge.refunded")
    url = f"{live_server.url}/api/v1/webhooks/in/storm/"
    start = threading.Barrier(THREADS)

    def sender(n: int) -> list[tuple[int, int | None]]:
        results = []
        with httpx.Client(timeout=30) as client:
            # Open the keep-alive connection first: the test server's listen backlog is
            # small, and the storm is about concurrent requests, not concurrent connects.
            for attempt in range(20):
                try:
                    assert client.get(url).status_code == 405
                    break
                except httpx.TransportError:
                    time.sleep(0.05 * (attempt + 1))
            start.wait()
            for _ in range(n):
                # Every request freshly signed, like a provider's retries: same event id.
                response = client.post(url, content=body, headers={**stripe_headers(body), "Content-Type": "application/json"})
                results.append((response.status_code, response.json().get("id")))
        return results

    shares = [STORM // THREADS + (1 if i < STORM % THREADS else 0) for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for chunk in pool.map(sender, shares) for r in chunk]

    statuses = Counter(status for status, _ in results)
    assert len(results) == STORM
    assert statuses == {202: 1, 200: STORM - 1}, statuses
    event = WebhookEvent.objects.get()
    assert {event_id for _, event_id in results} == {event.pk}  # every duplicate named the original
    assert sorted(Delivery.objects.values_list("destination__name", flat=True)) == ["a", "b"]


def test_202_is_only_sent_after_the_event_is_committed(live_server, make_source, make_destination):
    make_source("commit", "stripe", destinations=[make_destination()])
    url = f"{live_server.url}/api/v1/webhooks/in/commit/"
    with httpx.Client(timeout=30) as client:
        for i in range(40):
            body = stripe_body(f"evt_commit_{i}")
            response = client.post(url, content=body, headers={**stripe_headers(body), "Content-Type": "application/json"})
            assert response.status_code == 202
            # This test's own connection sees committed rows only (no shared transaction).
            event = WebhookEvent.objects.filter(pk=response.json()["id"]).first()
            assert event is not None and event.provider_event_id == f"evt_commit_{i}"
            assert Delivery.objects.filter(event=event).count() == 1

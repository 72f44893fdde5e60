"""Ingestion through the production ASGI entry point: the async view answers exactly as the sync one.

``opsportal.handlers.asgi_http_application()`` (what ``opsportal.asgi`` serves) routes
``/api/v1/webhooks/in/`` to the lean ASGI handler, whose URLconf maps it to
``ingest_async``: the request stays on the event loop and the view's body runs once on
the ingest thread pool (bench/webhooks (c)). Driven in-process with httpx's ASGI transport;
the database work happens on the pool's threads, hence a transactional test database.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from django.db import connection
from django.urls import resolve

from opsportal.handlers import LEAN_ASGI_URLCONF, asgi_http_application
from reliability.webhooks.models import Delivery, WebhookEvent
from reliability.webhooks.views import ingest as views
from tests.webhooks.helpers import metric, standard_headers

pytestmark = pytest.mark.django_db(transaction=True)

BODY = json.dumps({"type": "invoice.paid", "data": {"amount": 10}}).encode()


@pytest.fixture(autouse=True)
def _close_pool_connections():
    """The pool's threads keep their connections (CONN_MAX_AGE here): close each one afterwards,
    or the test database cannot be dropped. N tasks meeting at a barrier run on N threads."""
    yield
    pool = views._executor
    if pool is None:
        return
    n = views.ingest_threads()
    barrier = threading.Barrier(n)

    def close():
        barrier.wait(timeout=30)
        connection.close()

    for future in [pool.submit(close) for _ in range(n)]:
        future.result(timeout=60)


def _post_all(requests: list[tuple[str, bytes, dict]]) -> list[httpx.Response]:
    app = asgi_http_application()

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            return [await client.post(f"/api/v1/webhooks/in/{slug}/", content=body,
                                      headers={"Content-Type": "application/json", **headers})
                    for slug, body, headers in requests]

    return asyncio.run(go())


def test_the_asgi_lean_urlconf_serves_the_async_view():
    match = resolve("/api/v1/webhooks/in/acme/", urlconf=LEAN_ASGI_URLCONF)
    assert match.func is views.ingest_async and match.url_name == "webhook-ingest"
    assert asyncio.iscoroutinefunction(views.ingest_async)


def test_answers_match_the_sync_view_and_the_store_runs_on_the_ingest_pool(make_source, make_destination, monkeypatch):
    make_source("acme", destinations=[make_destination("billing")])
    threads = []
    real = views.webhook_event_ingest

    def spy(**kwargs):
        threads.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr(views, "webhook_event_ingest", spy)
    accepted_before = metric("acme", "accepted")
    headers = standard_headers(BODY, msg_id="msg_asgi_1")
    bad = {**standard_headers(BODY, msg_id="msg_asgi_2"), "Webhook-Signature": "v1,AAAA"}

    first, again, forged, unknown = _post_all([
        ("acme", BODY, headers),
        ("acme", BODY, headers),
        ("acme", BODY, bad),
        ("nope", BODY, headers),
    ])

    event = WebhookEvent.objects.get()
    assert (first.status_code, first.json()) == (202, {"id": event.pk})
    assert first.headers["X-Request-ID"]  # the lean chain's middleware ran (async mode)
    assert (again.status_code, again.json()) == (200, {"id": event.pk, "duplicate": True})
    assert forged.status_code == 401 and forged.headers["Content-Type"] == "application/problem+json"
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == "application/problem+json"
    assert Delivery.objects.filter(event=event).count() == 1
    assert metric("acme", "accepted") == accepted_before + 1
    assert threads and all(name.startswith("webhook-ingest") for name in threads)


def test_a_get_is_refused_like_the_sync_view(make_source):
    make_source("acme")
    app = asgi_http_application()

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
            return await c.get("/api/v1/webhooks/in/acme/")

    response = asyncio.run(go())
    assert response.status_code == 405 and response.headers["Allow"] == "POST"

"""The production entry points serve ingestion through the lean middleware chain."""

import io
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from opsportal.handlers import asgi_http_application, lean_middleware, wsgi_application


@pytest.fixture
def keep_test_connection():
    """Real handlers close old connections per request; the test's own connection must survive."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _wsgi_get(app, path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(b"{}"), "CONTENT_LENGTH": "2",
               "CONTENT_TYPE": "application/json", "HTTP_HOST": "localhost"}
    setup_testing_defaults(environ)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_lean_chain_keeps_context_and_guards_only(settings):
    chain = lean_middleware()
    assert "audit.middleware.RequestContextMiddleware" in chain
    assert "opsportal.api.middleware.ApiInputGuardMiddleware" in chain
    # ingestion has its own metrics (webhook_ingest_total, webhook_ingest_duration_seconds)
    assert not any("prometheus" in m for m in chain)
    assert not any("sessions" in m or "csrf" in m or "axes" in m or "idempotency" in m for m in chain)
    assert chain == [m for m in settings.MIDDLEWARE if m in chain]  # settings' order


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/webhooks/in/", "/api/v1/webhooks/in/acme/extra/", "/api/v1/webhooks/in/acme"])
def test_the_lean_urlconf_answers_anything_else_under_its_prefix_with_problem_json(keep_test_connection, path):
    status, headers, body = _wsgi_get(wsgi_application(), path)
    assert status == 404 and headers["Content-Type"] == "application/problem+json", body


@pytest.mark.django_db
def test_wsgi_routes_ingestion_to_the_lean_chain_and_the_rest_to_the_full_one(keep_test_connection):
    app = wsgi_application()
    status, headers, body = _wsgi_get(app, "/api/v1/webhooks/in/no-such-source/")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert "X-Request-ID" in headers  # request context ran
    assert "X-Frame-Options" not in headers  # the clickjacking (full-chain) middleware did not
    status, headers, _ = _wsgi_get(app, "/api/v1/services/")
    assert status == 401 and headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db(transaction=True)
async def test_asgi_routes_ingestion_to_the_lean_chain():
    transport = httpx.ASGITransport(app=asgi_http_application())
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        lean = await client.post("/api/v1/webhooks/in/no-such-source/", content=b"{}")
        full = await client.get("/api/v1/services/")
    assert lean.status_code == 404 and "x-frame-options" not in lean.headers and "x-request-id" in lean.headers
    assert full.status_code == 401 and full.headers["x-frame-options"] == "DENY"


def test_every_middleware_of_the_lean_chain_runs_in_the_event_loop():
    """A sync-only middleware makes Django run the chain below it in the process's one
    thread-sensitive thread, and uvicorn's ingestion queues for it (bench/webhooks (c))."""
    from django.utils.module_loading import import_string

    sync_only = [path for path in lean_middleware() if not getattr(import_string(path), "async_capable", False)]
    assert sync_only == []


@pytest.mark.django_db(transaction=True)
async def test_the_lean_asgi_handler_starts_no_thread_per_request_and_still_sends_the_request_signals(monkeypatch):
    """Django's ASGIHandler runs each request in a ThreadSensitiveContext: asgiref starts a
    thread for the request's sync code and another to join it, and each Thread.start waits
    in the event loop for the new thread to get the GIL (bench/webhooks (c): uvicorn at
    0.42x gunicorn's ingestion). The lean handler starts none, and the request signals go
    out as before."""
    import threading

    from django.core.signals import request_finished, request_started

    seen = {"started": 0, "finished": 0, "threads": 0}

    def on_started(**kwargs):
        seen["started"] += 1

    def on_finished(**kwargs):
        seen["finished"] += 1

    request_started.connect(on_started, dispatch_uid="test-lean-started")
    request_finished.connect(on_finished, dispatch_uid="test-lean-finished")
    transport = httpx.ASGITransport(app=asgi_http_application())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            await client.post("/api/v1/webhooks/in/no-such-source/", content=b"{}")  # warm: the ingest pool's thread
            real_start = threading.Thread.start

            def counting_start(thread):
                seen["threads"] += 1
                return real_start(thread)

            monkeypatch.setattr(threading.Thread, "start", counting_start)
            seen.update(started=0, finished=0)
            answers = [await client.post("/api/v1/webhooks/in/no-such-source/", content=b"{}") for _ in range(5)]
            monkeypatch.undo()
            counted = dict(seen)
            full = await client.get("/api/v1/services/")  # the full chain keeps Django's own handler
    finally:
        request_started.disconnect(dispatch_uid="test-lean-started")
        request_finished.disconnect(dispatch_uid="test-lean-finished")
    assert [a.status_code for a in answers] == [404] * 5
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert counted == {"started": 5, "finished": 5, "threads": 0}
    assert full.status_code == 401


async def test_the_lean_asgi_handler_sends_nothing_when_the_client_hangs_up_mid_body():
    from opsportal.handlers import LeanASGIHandler

    messages = iter([{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/webhooks/in/acme/", "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "server": ("localhost", 80), "client": ("127.0.0.1", 1)}
    await LeanASGIHandler()(scope, receive, send)
    assert sent == []

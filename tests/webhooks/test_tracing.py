"""Issue 11 item 11: OTEL_ENABLED=true, a real gunicorn, a real Celery worker and a tiny OTLP/HTTP collector.

One signed webhook produces spans for its ingestion (Django), the Celery task
and the delivery's outbound POST (httpx), all in one trace, and the
destination receives a ``traceparent`` of that trace.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from reliability.webhooks.models import Delivery, WebhookEvent
from tests.webhooks.helpers import standard_headers
from tests.webhooks.receiver import DEST_SECRET, Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(django_settings.BASE_DIR)
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # opentelemetry.proto Span.SpanKind


class Collector:
    """OTLP/HTTP traces endpoint: decodes every ExportTraceServiceRequest into plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            with collector.lock:
                                collector.spans.append({
                                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                                    "service": attrs.get("service.name", ""), "scope": scope_spans.scope.name,
                                })
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def trace(self, trace_id: str) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def traced_env(settings, collector):
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OTEL_ENABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def _process(args: list[str], env: dict, log: Path):
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_one_webhook_is_one_trace_from_ingestion_to_the_destination(
    make_source, make_destination, collector, traced_env, tmp_path,
):
    with Receiver.running() as receiver:
        destination = make_destination("orders", url=receiver.url, signing_secret=DEST_SECRET)
        make_source("shop", destinations=[destination])
        port = _free_port()
        web_env = {**traced_env, "OTEL_SERVICE_NAME": "opsportal-web"}
        worker_env = {**traced_env, "OTEL_SERVICE_NAME": "opsportal-worker"}
        with _process([sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "2", "-b", f"127.0.0.1:{port}",
                       "opsportal.wsgi:application"], web_env, tmp_path / "web.log") as web, \
             _process([sys.executable, "-m", "celery", "-A", "opsportal", "worker", "-l", "WARNING", "-c", "1",
                       "-n", f"trace-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
                       "--without-heartbeat"], worker_env, tmp_path / "worker.log") as worker:

            def live():
                assert web.poll() is None, (tmp_path / "web.log").read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            _wait(live, "gunicorn")
            body = b'{"type": "charge.succeeded", "data": {"amount": 4200}}'
            response = httpx.post(f"http://127.0.0.1:{port}/api/v1/webhooks/in/shop/", content=body, timeout=10,
                                  headers={"Content-Type": "application/json", **standard_headers(body)})
            assert response.status_code == 202, response.text
            event = WebhookEvent.objects.get(pk=response.json()["id"])

            _wait(lambda: receiver.count() >= 1 or (worker.poll() is not None and
                                                     AssertionError((tmp_path / "worker.log").read_text())),
                  "the delivery")
            traceparent = receiver.seen[0].headers.get("traceparent", "")
            version, trace_id, parent_id, flags = traceparent.split("-")
            assert version == "00" and len(trace_id) == 32 and int(flags, 16) & 1  # sampled
            # the trace context is stored with the event
            assert event.headers["traceparent"].split("-")[1] == trace_id

            def complete():
                spans = collector.trace(trace_id)
                kinds = {(s["service"], s["kind"], s["name"]) for s in spans}
                has_ingest = any(svc == "opsportal-web" and k == SERVER for svc, k, _ in kinds)
                has_task = any(svc == "opsportal-worker" and n == "run/webhooks.deliver_batch" for svc, _, n in kinds)
                has_post = any(svc == "opsportal-worker" and k == CLIENT and n.startswith("POST") for svc, k, n in kinds)
                return spans if has_ingest and has_task and has_post else None

            spans = _wait(complete, "the ingestion, task and delivery spans in one trace")

    by_id = {s["span_id"]: s for s in spans}
    post = next(s for s in spans if s["kind"] == CLIENT and s["name"].startswith("POST"))
    assert post["span_id"] == parent_id  # the destination got the POST span's own context
    deliver = by_id[post["parent"]]
    assert deliver["name"] == "webhook.deliver"
    ingest = next(s for s in spans if s["kind"] == SERVER)
    assert deliver["parent"] == ingest["span_id"]  # the delivery continues the ingestion request
    task = next(s for s in spans if s["name"] == "run/webhooks.deliver_batch")
    publish = by_id[task["parent"]]
    assert publish["kind"] == PRODUCER and publish["service"] == "opsportal-web"
    assert any(s["scope"] == "opsportal.db" for s in spans)  # database queries are spans too
    assert Delivery.objects.get(event=event).status == "delivered"

"""Served by uvicorn on PostgreSQL, one process holds at most DATABASE_POOL_MAX_SIZE connections.

A real uvicorn subprocess (``opsportal.asgi``: the settings switch to Django's pool
because they load under ASGI) against the test database; 16 concurrent clients post
signed webhooks and list services with a bearer token while a sampler counts the
server's connections in ``pg_stat_activity`` (it runs with its own ``PGAPPNAME``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO

import httpx
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from audit.actors import Actor
from reliability.webhooks.models import WebhookEvent
from reliability.webhooks.services import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.signatures import generate_standard_secret

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

POOL_MAX = 4
CLIENTS = 16
WEBHOOKS_PER_CLIENT, LISTS_PER_CLIENT = 6, 3


def _test_database_url() -> str:
    db = connection.settings_dict  # the test database pytest-django created
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signed(secret: str, event_id: str) -> tuple[dict, bytes]:
    body = json.dumps({"id": event_id, "type": "invoice.paid", "data": {"amount": 42}}).encode()
    ts = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{event_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {"webhook-id": event_id, "webhook-timestamp": ts, "webhook-signature": f"v1,{base64.b64encode(mac).decode()}",
               "content-type": "application/json", "x-forwarded-proto": "https"}
    return headers, body


class Sampler(threading.Thread):
    def __init__(self, db_url: str, app_name: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(db_url, autocommit=True, application_name="asgi-test-sampler")
        self.app_name = app_name
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            (n,) = self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                [self.app_name],
            ).fetchone()
            self.peak, self.samples = max(self.peak, n), self.samples + 1


@pytest.fixture
def uvicorn_on_postgres():
    app_name = f"asgi-test-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings_test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PGAPPNAME": app_name,
        "DATABASE_POOL": "auto",  # pooled because the settings load under opsportal.asgi
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_MAX_SIZE": str(POOL_MAX),
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "opsportal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
            try:
                if httpx.get(base + "/health/live", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.2)
        yield base, app_name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_uvicorn_holds_at_most_the_pool_size_under_16_concurrent_clients(uvicorn_on_postgres):
    base, app_name = uvicorn_on_postgres
    secret = generate_standard_secret()
    actor = Actor.for_system("test")
    destination = webhook_destination_create(name="asgi-sink", url="http://127.0.0.1:9/sink", actor=actor, source="test")
    source = webhook_source_create(slug="asgi-pool", scheme="standard", secrets=[secret], actor=actor, source="test",
                                   routes=[RouteSpec(destination_id=destination.pk)])
    out = StringIO()
    call_command("issue_token", "--service", "asgi-pool", "--scopes", "read", stdout=out)
    token = out.getvalue().strip().splitlines()[-1].strip()

    sampler = Sampler(_test_database_url(), app_name)
    sampler.start()
    results: list[tuple[str, int, dict | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(k: int) -> None:
        mine = []
        with httpx.Client(base_url=base, timeout=60) as http:
            start.wait()
            for i in range(WEBHOOKS_PER_CLIENT):
                headers, body = _signed(secret, f"evt_{k}_{i}")
                r = http.post(f"/api/v1/webhooks/in/{source.slug}/", content=body, headers=headers)
                mine.append(("ingest", r.status_code, r.json() if r.status_code == 202 else None))
                if i < LISTS_PER_CLIENT:
                    r = http.get("/api/v1/services/", headers={"Authorization": f"Bearer {token}",
                                                               "x-forwarded-proto": "https"})
                    mine.append(("list", r.status_code, None))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    sampler.stop.set()
    sampler.join(10)
    sampler.conn.close()

    assert len(results) == CLIENTS * (WEBHOOKS_PER_CLIENT + LISTS_PER_CLIENT)
    assert [r for r in results if not 200 <= r[1] < 300] == []
    stored = [r[2]["id"] for r in results if r[0] == "ingest"]
    assert WebhookEvent.objects.filter(id__in=stored, source=source).count() == CLIENTS * WEBHOOKS_PER_CLIENT
    assert sampler.samples > 0
    assert 1 <= sampler.peak <= POOL_MAX, sampler.peak

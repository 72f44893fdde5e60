"""`make run` end to end: the embedded default (SQLite, in-memory broker, embedded worker) as a user meets it.

Fresh SQLite database in a temp dir, ``manage.py migrate`` + ``seed_demo`` + ``manage.py serve`` on a
free port, exactly the steps of ``make run``. Then, only through public surfaces (HTTP API, the admin,
``manage.py`` commands): a signed webhook is accepted (the SQLite ingest path), delivered by the
embedded worker to a real receiver on 127.0.0.1 (the SQLite claim and record paths), a 410 from the
receiver dead-letters it, and an operator's DLQ retry from the admin delivers it.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys

import httpx
import pytest

from tests.test_serve import ROOT, embedded_env, free_port, login, manage, wait_until
from tests.webhooks.helpers import STANDARD_SECRET, standard_headers
from tests.webhooks.receiver import DEST_SECRET, Receiver, Reply

pytestmark = pytest.mark.slow


class _Served:
    def __init__(self, proc, port, var_dir, log):
        self.proc, self.port, self.var_dir, self.log = proc, port, var_dir, log
        self.base = f"http://127.0.0.1:{port}"
        self.db_path = var_dir / "opsportal.sqlite3"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def query(self, sql: str, *args):
        db = sqlite3.connect(self.db_path, timeout=20)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("make-run")
    env = embedded_env(var_dir)
    for step in (("migrate", "--noinput"), ("seed_demo",)):
        result = manage(*step, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    issued = manage("issue_token", "--service", "e2e-admin", "--scopes", "webhooks:admin", env=env)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    port = free_port()
    log = var_dir / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    portal = _Served(proc, port, var_dir, log)

    def live():
        assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{portal.output()}"
        try:
            return httpx.get(f"{portal.base}/health/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(live, timeout=90, what="/health/live")
    portal.token = token
    yield portal
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def receiver():
    with Receiver.running() as r:
        yield r


def test_make_run_ingests_delivers_dead_letters_and_retries_from_the_admin(served, receiver):
    assert served.query("SELECT count(*) FROM auth_user WHERE username = 'operator'") == [(1,)], "seed_demo ran"
    ready = httpx.get(f"{served.base}/health/ready", timeout=30).json()
    assert ready["checks"]["database"]["detail"] == "sqlite", ready  # the embedded default, not PostgreSQL
    api = httpx.Client(base_url=served.base, timeout=30, headers={"Authorization": f"Bearer {served.token}"})

    # A destination on the local receiver and a source routed to it, through the public API.
    made = api.post("/api/v1/webhooks/destinations/", json={
        "name": "e2e-receiver", "url": receiver.url, "signing_secret": DEST_SECRET, "timeout_seconds": 5,
    })
    assert made.status_code == 201, made.text
    destination = made.json()["id"]
    made = api.post("/api/v1/webhooks/sources/", json={
        "slug": "e2e", "scheme": "standard", "secrets": [STANDARD_SECRET], "destinations": [destination],
    })
    assert made.status_code == 201, made.text

    def send(event_id: str) -> None:
        body = json.dumps({"type": "order.paid", "data": {"id": event_id}}).encode()
        accepted = httpx.post(f"{served.base}/api/v1/webhooks/in/e2e/", content=body, timeout=30,
                              headers={**standard_headers(body, msg_id=event_id), "Content-Type": "application/json"})
        assert accepted.status_code == 202, accepted.text

    # 1. Accepted (SQLite ingest), delivered by the embedded worker (SQLite claim + record), signed.
    send("msg_e2e_first")
    wait_until(lambda: receiver.count() >= 1, timeout=60, what="the embedded worker to deliver")
    (first,) = receiver.seen
    assert first.verified and json.loads(first.body)["data"] == {"id": "msg_e2e_first"}

    def delivery_status(msg_id: str):
        rows = served.query(
            "SELECT d.status, d.attempts FROM webhooks_delivery d JOIN webhooks_webhookevent e ON e.id = d.event_id"
            " WHERE e.provider_event_id = ?", msg_id)
        return rows[0] if rows else None

    wait_until(lambda: delivery_status("msg_e2e_first") == ("delivered", 1), timeout=30, what="the delivery recorded")

    # 2. The receiver answers 410 Gone: the destination is disabled and the delivery dead-lettered.
    receiver.script(Reply(410))
    send("msg_e2e_gone")
    wait_until(lambda: delivery_status("msg_e2e_gone") == ("dead", 1), timeout=60, what="the 410 to dead-letter")
    (failure,) = served.query(
        "SELECT f.id FROM webhooks_webhookfailure f JOIN webhooks_delivery d ON d.id = f.delivery_id"
        " JOIN webhooks_webhookevent e ON e.id = d.event_id WHERE e.provider_event_id = 'msg_e2e_gone'")
    assert api.get(f"/api/v1/webhooks/destinations/{destination}/").json()["enabled"] is False

    # 3. The receiver is back; the destination is enabled again and an operator retries from the admin.
    enabled = api.patch(f"/api/v1/webhooks/destinations/{destination}/", json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    operator = login(served, "operator", "operator-demo")
    changelist = operator.get("/admin/webhooks/webhookfailure/")
    assert changelist.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
    answer = operator.post("/admin/webhooks/webhookfailure/", data={
        "action": "retry_selected", "_selected_action": [str(failure[0])], "index": "0", "csrfmiddlewaretoken": csrf,
    }, follow_redirects=True)
    assert answer.status_code == 200 and "Retried 1 DLQ item" in answer.text, answer.text[-2000:]
    wait_until(lambda: delivery_status("msg_e2e_gone") == ("delivered", 2), timeout=60, what="the retried delivery")
    assert [s.webhook_id for s in receiver.seen].count(receiver.seen[-1].webhook_id) == 2  # 410, then delivered
    assert receiver.seen[-1].verified and receiver.seen[-1].status == 200
    assert served.query("SELECT count(*) FROM audit_auditentry WHERE action LIKE '%retry%'")[0][0] >= 1


def test_sqlite_ingest_under_concurrency_stores_each_event_once_and_delivers_it_once(served, receiver):
    """The portable (SQLite) ingest path: concurrent senders, provider retries of the same id, one row each."""
    from concurrent.futures import ThreadPoolExecutor

    api = httpx.Client(base_url=served.base, timeout=30, headers={"Authorization": f"Bearer {served.token}"})
    made = api.post("/api/v1/webhooks/destinations/", json={
        "name": "e2e-storm", "url": receiver.url, "signing_secret": DEST_SECRET, "timeout_seconds": 5,
    })
    assert made.status_code == 201, made.text
    made = api.post("/api/v1/webhooks/sources/", json={
        "slug": "e2e-storm", "scheme": "standard", "secrets": [STANDARD_SECRET], "destinations": [made.json()["id"]],
    })
    assert made.status_code == 201, made.text
    ids = [f"msg_storm_{i}" for i in range(12)]

    def send(msg_id: str) -> int:
        body = json.dumps({"type": "order.paid", "data": {"id": msg_id}}).encode()
        with httpx.Client(timeout=60) as client:
            response = client.post(f"{served.base}/api/v1/webhooks/in/e2e-storm/", content=body,
                                   headers={**standard_headers(body, msg_id=msg_id), "Content-Type": "application/json"})
        return response.status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(send, ids * 3))  # every event three times, interleaved
    assert sorted(set(statuses)) in ([200, 202], [202]), statuses
    assert statuses.count(202) == len(ids), statuses  # the first of each is accepted, the retries are duplicates
    stored = served.query(
        "SELECT e.provider_event_id, count(*) FROM webhooks_webhookevent e JOIN webhooks_webhooksource s"
        " ON s.id = e.source_id WHERE s.slug = 'e2e-storm' GROUP BY e.provider_event_id")
    assert dict(stored) == {i: 1 for i in ids}
    wait_until(lambda: len({s.webhook_id for s in receiver.seen}) == len(ids), timeout=90, what="every event delivered")
    assert all(n == 1 for n in receiver.ids().values()), receiver.ids()  # once each


def test_the_embedded_worker_beats_and_the_health_page_has_demo_history(served):
    """health-core: `make run` shows /ops/health/ with history (seed_demo) and a live worker (its heartbeat thread)."""
    assert served.query("SELECT count(*) FROM health_systemhealthevent")[0][0] >= 60
    wait_until(lambda: served.query("SELECT count(*) FROM health_workerheartbeat WHERE state = 'alive'")[0][0] >= 1,
               timeout=60, what="the embedded worker's heartbeat")

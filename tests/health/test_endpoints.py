"""/health/detailed, /internal/health/system (staff or `read` token) and the /ops/health/ page."""

from __future__ import annotations

import pytest

from reliability.health.jobs import summarise
from reliability.health.probes import ProbeResult
from reliability.health.services import Beat, health_results_record, slow_job_record, worker_heartbeat_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded():
    health_results_record(results=[ProbeResult("database", "ok", 3.2, 3.2, "postgresql"),
                                   ProbeResult("disk", "warn", 88.0, 0.1, "88% used")])
    worker_heartbeat_record(beat=Beat(worker_id="w1@host", hostname="host", pid=42, queues=("celery",)))
    slow_job_record(task_name="webhooks.purge_delivered_payloads", task_id="t1", duration_seconds=31.5,
                    args_summary="7")


@pytest.mark.parametrize("path", ["/health/detailed", "/internal/health/system"])
def test_anonymous_and_scopeless_callers_are_refused(api_client, token_client, path):
    assert api_client.get(path).status_code in (401, 403)
    assert token_client("alerts:write").get(path).status_code == 403


@pytest.mark.parametrize("path", ["/health/detailed", "/internal/health/system"])
def test_a_read_token_and_a_staff_operator_see_the_latest_results(recorded, token_client, user_client, operator,
                                                                 path):
    for client in (token_client("read"), user_client(operator)):
        response = client.get(path)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "warn"
        assert body["checks" if path.startswith("/internal") else "probes"]["disk"]["value"] == 88.0
        assert body["workers"][0]["worker_id"] == "w1@host"


def test_detailed_includes_readiness_now_and_the_breaker_store(recorded, token_client):
    body = token_client("read").get("/health/detailed").json()
    assert body["ready"]["ok"] is True and {"database", "redis", "broker"} <= set(body["ready"]["checks"])
    assert body["breaker_store"]["mode"] and body["slow_jobs"][0]["duration_seconds"] == 31.5


def test_the_ops_page_shows_probes_workers_and_slow_jobs(recorded, client, operator):
    client.force_login(operator)
    html = client.get("/ops/health/").content.decode()
    for text in ('data-check="database"', 'data-check="disk"', "w1@host", "webhooks.purge_delivered_payloads",
                 'id="health-history"', 'id="health-degradation-slot"', "chart.umd.min.js"):
        assert text in html, text
    assert client.get("/ops/health/checks/").status_code == 200
    assert "w1@host" in client.get("/ops/health/workers/").content.decode()
    assert 'data-status="warn"' in client.get("/ops/panels/health/").content.decode()


def test_the_ops_page_is_for_people_whose_roles_see_health(client, auditor):
    assert client.get("/ops/health/").status_code == 302  # to the login page
    client.force_login(auditor)
    assert client.get("/ops/health/").status_code == 403


@pytest.mark.parametrize(("args", "kwargs", "present", "absent"), [
    ((42, "orders"), {}, ["42", "'orders'"], []),
    ((), {"password": "hunter2", "signing_secret": "abc"}, ["password=***", "signing_secret=***"], ["hunter2", "abc"]),
    (("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",), {}, ["***"], ["whsec_"]),
    (("postgres://user:pw@db:5432/x",), {}, ["***"], ["pw@"]),
    (({"payload": {"card": "4242"}, "id": 7},), {}, ["payload=***", "id=7"], ["4242"]),
    (("a long note " * 50,), {}, ["…"], ["a long note " * 4]),
])
def test_task_arguments_are_summarised_without_secrets(args, kwargs, present, absent):
    text = summarise(args, kwargs)
    assert len(text) <= 300
    for item in present:
        assert item in text
    for item in absent:
        assert item not in text

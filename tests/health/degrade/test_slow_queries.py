"""The slow-query monitor: logged without parameters, with user, role and path or task; counted; kept."""

from __future__ import annotations

import pytest
from celery import shared_task
from django.db import connection
from structlog.testing import capture_logs

from reliability.health.slowqueries import monitor
from reliability.health.slowqueries.models import SlowQuery
from reliability.health.slowqueries.services import slow_queries_purge
from tests.health.degrade.helpers import sample

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.SLOW_QUERY_MS = 40
    settings.ROOT_URLCONF = "tests.health.degrade.slow_urls"
    monitor._buffer.clear()
    yield
    monitor._buffer.clear()


@shared_task(name="tests.health.sleepy_task")
def sleepy_task():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.08)")


def test_the_wrapper_is_on_every_connection():
    connection.ensure_connection()
    assert any(isinstance(w, monitor.SlowQueryWrapper) for w in connection.execute_wrappers)


def test_a_slow_statement_in_a_request_is_logged_with_user_role_and_path_and_counted(client, operator):
    client.force_login(operator)
    before = sample("slow_queries_total", {"source": "request"})
    with capture_logs() as logs:
        response = client.get("/_test/sleepy/")
    assert response.status_code == 200
    slow = [e for e in logs if e["event"] == "slow_query"]
    assert len(slow) == 1
    entry = slow[0]
    assert entry["statement"] == "SELECT pg_sleep(%s), %s"  # the text without parameters
    assert "secret-parameter" not in repr(entry)
    assert (entry["user"], entry["role"], entry["path"]) == ("olivia", "operator", "/_test/sleepy/")
    assert entry["duration_ms"] >= 40
    assert sample("slow_queries_total", {"source": "request"}) == before + 1
    assert sample("slow_query_duration_seconds_count") >= 1
    row = SlowQuery.objects.get()
    assert (row.user, row.role, row.path, row.task) == ("olivia", "operator", "/_test/sleepy/", "")
    assert "secret-parameter" not in row.statement and row.duration_ms >= 40


def test_fast_statements_are_not_recorded(client, operator, settings):
    settings.SLOW_QUERY_MS = 5000
    client.force_login(operator)
    with capture_logs() as logs:
        assert client.get("/_test/sleepy/").status_code == 200
    assert not [e for e in logs if e["event"] == "slow_query"]
    assert not SlowQuery.objects.exists()


def test_a_token_request_names_the_token_and_its_scopes(token_client):
    with capture_logs() as logs:
        assert token_client("read", service="reporting").get("/_test/sleepy-api/").status_code == 200
    entry = next(e for e in logs if e["event"] == "slow_query")
    assert entry["user"].startswith("token:reporting/")
    assert (entry["role"], entry["path"]) == ("token:read", "/_test/sleepy-api/")


def test_a_slow_statement_in_a_celery_task_names_the_task():
    before = sample("slow_queries_total", {"source": "task"})
    with capture_logs() as logs:
        sleepy_task.apply()
    entry = next(e for e in logs if e["event"] == "slow_query")
    assert entry["task"] == "tests.health.sleepy_task" and entry["path"] == ""
    assert sample("slow_queries_total", {"source": "task"}) == before + 1
    assert SlowQuery.objects.get().task == "tests.health.sleepy_task"


def test_the_admin_lists_the_slowest(client, operator):
    client.force_login(operator)
    client.get("/_test/sleepy/")
    page = client.get("/admin/health/slowquery/")
    assert page.status_code == 200
    assert b"pg_sleep" in page.content


def test_retention_keeps_the_slowest(settings):
    from reliability.health.slowqueries.services import slow_queries_record

    settings.SLOW_QUERY_KEEP = 2
    slow_queries_record(entries=[{"statement": f"SELECT {i}", "duration_ms": 100 + i} for i in range(5)])
    assert slow_queries_purge() == 3
    assert sorted(SlowQuery.objects.values_list("duration_ms", flat=True)) == [103, 104]

"""/api/v1/audit/: list, detail and the streaming CSV export, for auditors only."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.actors import Actor
from audit.api import EXPORT_FIELDS
from audit.models import AuditEntry
from audit.services import audit_record
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
LIST = "/api/v1/audit/"
EXPORT = "/api/v1/audit/export.csv"
SYSTEM = Actor.for_system("cron")


def _record(n: int, *, action: str = "test.thing", when: dt.datetime | None = None, **kwargs) -> list[AuditEntry]:
    out = []
    for i in range(n):
        with time_machine.travel(when or dt.datetime.now(dt.UTC), tick=False), transaction.atomic():
            out.append(audit_record(actor=SYSTEM, action=action, target=("thing", str(i)), source="test", **kwargs))
    return out


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content if not response.streaming else ""
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    reader = csv.reader(io.StringIO(body))
    assert next(reader) == EXPORT_FIELDS
    return [dict(zip(EXPORT_FIELDS, row, strict=True)) for row in reader]


def _problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


# --- list and detail ------------------------------------------------------------------------------------------

def test_auditor_lists_newest_first_with_cursor_pagination(auditor, user_client):
    entries = _record(5)
    client = user_client(auditor)  # its login is audited too
    first = client.get(LIST, {"page_size": 3, "action": "test.thing"})
    assert first.status_code == 200
    page = first.json()
    assert [r["id"] for r in page["results"]] == [e.pk for e in reversed(entries)][:3]
    assert set(page) >= {"next", "previous", "results"} and page["next"]
    second = client.get(page["next"]).json()
    assert [r["id"] for r in second["results"]] == [entries[1].pk, entries[0].pk]
    assert second["next"] is None
    row = page["results"][0]
    assert row["hash"] == entries[-1].hash and row["prev_hash"] == entries[-2].hash
    assert row["target_type"] == "thing" and row["actor_label"] == "cron"


def test_detail(auditor, user_client):
    entry = _record(1, changes={"status": ["open", "closed"]})[0]
    client = user_client(auditor)
    body = client.get(f"{LIST}{entry.pk}/").json()
    assert body["changes"] == {"status": ["open", "closed"]} and body["hash"] == entry.hash
    _problem(client.get(f"{LIST}999999/"), 404)
    _problem(client.get(f"{LIST}abc/"), 404)


def test_filters(auditor, user_client):
    old = _record(2, action="breaker.reset", when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    mid = _record(1, action="breaker.force_open", when=dt.datetime(2026, 1, 5, tzinfo=dt.UTC), reason="stripe flaps")
    client = user_client(auditor)

    def ids(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200, response.content
        return sorted(r["id"] for r in response.json()["results"])

    assert ids(action="breaker.reset") == [e.pk for e in old]
    assert ids(action__startswith="breaker.") == [e.pk for e in old + mid]
    assert ids(since="2026-01-02", until="2026-01-06") == [mid[0].pk]
    assert ids(until="2026-01-05T00:00:00Z") == [e.pk for e in old]
    assert ids(q="stripe") == [mid[0].pk]
    assert ids(actor_kind="system", target_id="0") == [old[0].pk, mid[0].pk]
    body = _problem(client.get(LIST, {"since": "last tuesday"}), 400)
    assert "since" in body["errors"]
    _problem(client.get(LIST, {"since": "2026-02-30"}), 400)


def test_since_takes_the_same_durations_as_webhooks_retry(auditor, user_client):
    """One parser (opsportal.common.timebounds) for --since 1h and the trail's bounds."""
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC), tick=False):
        _record(1, action="x.old", when=dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
        recent = _record(1, action="x.new", when=dt.datetime(2026, 1, 10, 11, 30, tzinfo=dt.UTC))
        client = user_client(auditor)
        body = client.get(LIST, {"since": "1h", "action__startswith": "x."}).json()  # not the auditor's login
        assert [r["id"] for r in body["results"]] == [recent[0].pk]
        assert [r["action"] for r in client.get(LIST, {"until": "1h"}).json()["results"]] == ["x.old"]
        problem = _problem(client.get(LIST, {"since": "1y"}), 400)
        assert "duration" in str(problem["errors"]["since"])


def test_list_query_count_does_not_grow_with_rows(auditor, user_client, django_assert_num_queries):
    client = user_client(auditor)
    _record(3)
    client.get(LIST)  # warm: session, user and role lookups are the same each time
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    _record(40)
    # session, user, the user's groups (role check), one page query: nothing per row
    with django_assert_num_queries(len(few)):
        response = client.get(LIST)
    assert len(response.json()["results"]) == AuditEntry.objects.count() == 44  # 43 + the login
    assert len(few) == 4, [q["sql"] for q in few.captured_queries]


def test_token_list_query_count_is_constant(token_client, django_assert_num_queries):
    client = token_client("audit:read")
    _record(2)
    client.get(LIST)  # the first use stamps last_used_at (at most once a minute)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    _record(30)
    with django_assert_num_queries(len(few)):
        assert client.get(LIST).status_code == 200


# --- who may read -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scopes", [("audit:read",), ("admin",), ("read", "audit:read")])
def test_tokens_with_audit_read_or_admin_may_read(token_client, scopes):
    _record(1)
    client = token_client(*scopes)
    assert client.get(LIST).status_code == 200
    assert client.get(EXPORT).status_code == 200


@pytest.mark.parametrize("scopes", [("read",), ("catalog:write", "dlq:write")])
def test_tokens_without_audit_read_are_refused(token_client, scopes):
    client = token_client(*scopes)
    assert "audit:read" in _problem(client.get(LIST), 403)["detail"]
    _problem(client.get(EXPORT), 403)
    assert not AuditEntry.objects.filter(action="audit.export").exists()


@pytest.mark.parametrize("role_user", ["operator", "support_user", "chaos_operator"])
def test_other_roles_are_refused(request, user_client, role_user):
    entry = _record(1)[0]
    client = user_client(request.getfixturevalue(role_user))
    _problem(client.get(LIST), 403)
    _problem(client.get(f"{LIST}{entry.pk}/"), 403)
    _problem(client.get(EXPORT), 403)
    assert not AuditEntry.objects.filter(action="audit.export").exists()


def test_anonymous_is_refused(api_client):
    assert _problem(api_client.get(LIST), 401)["title"] == "Unauthorized"
    assert _problem(api_client.get(EXPORT), 401)["title"] == "Unauthorized"


def test_the_trail_cannot_be_written_through_the_api(auditor, user_client, make_user):
    entry = _record(1)[0]
    for user in (auditor, make_user("root", superuser=True)):
        client = user_client(user)
        assert client.post(LIST, {"action": "x"}, format="json").status_code in {403, 405}
        assert client.patch(f"{LIST}{entry.pk}/", {"reason": "x"}, format="json").status_code in {403, 405}
        assert client.delete(f"{LIST}{entry.pk}/").status_code in {403, 405}
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


# --- export -----------------------------------------------------------------------------------------------------

def test_export_streams_a_header_and_one_row_per_entry(auditor, user_client):
    entries = _record(3, changes={"scopes": ["read"]})
    client = user_client(auditor)
    response = client.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = _csv(response)
    everything = list(AuditEntry.objects.exclude(action="audit.export").order_by("id"))
    assert [int(r["id"]) for r in rows] == [e.pk for e in everything]
    last = next(r for r in rows if int(r["id"]) == entries[-1].pk)
    assert last["hash"] == entries[-1].hash and last["changes"] == '{"scopes":["read"]}'
    assert dt.datetime.fromisoformat(last["created_at"]) == entries[-1].created_at


def test_export_honours_filters_and_is_itself_audited(auditor, user_client):
    _record(2, action="breaker.reset", when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    wanted = _record(2, action="breaker.reset", when=dt.datetime(2026, 1, 7, tzinfo=dt.UTC))
    _record(2, action="incident.resolve", when=dt.datetime(2026, 1, 7, tzinfo=dt.UTC))
    client = user_client(auditor)
    response = client.get(EXPORT, {"action": "breaker.reset", "since": "2026-01-05", "ignored": "x"},
                          HTTP_X_REQUEST_ID="export-1")
    assert [int(r["id"]) for r in _csv(response)] == [e.pk for e in wanted]

    entry = AuditEntry.objects.get(action="audit.export")
    assert (entry.actor_kind, entry.actor_label, entry.source) == ("user", "audrey", "api")
    assert entry.changes == {"filters": {"action": "breaker.reset", "since": "2026-01-05"}}
    assert entry.request_id == "export-1"
    event = OutboxEvent.objects.get(type="audit.exported")
    assert (event.aggregate_type, event.aggregate_id) == ("audit.auditentry", str(entry.pk))
    assert event.data["filters"] == entry.changes["filters"]


def test_export_is_a_snapshot_up_to_its_own_entry(auditor, user_client):
    _record(2)
    client = user_client(auditor)
    response = client.get(EXPORT)
    export_entry = AuditEntry.objects.get(action="audit.export")
    _record(2)  # written while the response is still streaming
    rows = _csv(response)
    assert max(int(r["id"]) for r in rows) < export_entry.pk


def test_export_by_token_names_the_token(token_client):
    client = token_client("audit:read", service="siem")
    assert len(_csv(client.get(EXPORT, HTTP_ACCEPT="text/csv"))) >= 2  # the token's own issue entries
    entry = AuditEntry.objects.get(action="audit.export")
    assert entry.actor_kind == "token" and entry.actor_label.startswith("token:siem/")


def test_export_neutralises_spreadsheet_formulas(auditor, user_client):
    _record(1, reason="=HYPERLINK(\"http://evil\")")
    rows = _csv(user_client(auditor).get(EXPORT, {"action": "test.thing"}))
    assert rows[0]["reason"] == "'=HYPERLINK(\"http://evil\")"


def test_export_bad_filter_is_a_problem_not_a_stream(auditor, user_client):
    response = user_client(auditor).get(EXPORT, {"until": "soon"})
    _problem(response, 400)
    assert not AuditEntry.objects.filter(action="audit.export").exists()


@pytest.mark.django_db(transaction=True)
async def test_export_under_asgi_streams_asynchronously(async_client, django_user_model):
    """uvicorn (the embedded default) would otherwise read a sync iterator into memory whole."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import Group

    def setup():
        _record(3)
        user = django_user_model.objects.create_user("aud", password="x", is_staff=True)
        user.groups.add(Group.objects.get(name="auditor"))
        return user

    user = await sync_to_async(setup)()
    await async_client.aforce_login(user)
    response = await async_client.get(EXPORT)
    assert response.status_code == 200 and response.streaming and response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == EXPORT_FIELDS
    ids = [int(r[0]) for r in rows[1:]]
    assert len(ids) >= 3 and ids == sorted(ids)
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the executor thread's connection, or teardown cannot drop the db

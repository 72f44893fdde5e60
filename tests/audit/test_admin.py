"""The audit trail in the admin: read-only, auditors only, real filters, export link."""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditEntry
from audit.services import audit_record

pytestmark = pytest.mark.django_db
URL = "/admin/audit/auditentry/"
UTC = dt.UTC


def _record(when: dt.datetime, action: str, actor: Actor, target=("thing", "1"), reason: str = "") -> AuditEntry:
    with time_machine.travel(when, tick=False), transaction.atomic():
        return audit_record(actor=actor, action=action, target=target, reason=reason, source="test")


@pytest.fixture
def trail(operator):
    olivia = Actor(user=operator)
    robot = Actor.for_system("cron")
    return [
        _record(dt.datetime(2026, 1, 1, 9, tzinfo=UTC), "breaker.reset", olivia, ("breaker", "stripe")),
        _record(dt.datetime(2026, 1, 5, 9, tzinfo=UTC), "incident.acknowledge", olivia, ("incident", "42")),
        _record(dt.datetime(2026, 1, 9, 23, 59, tzinfo=UTC), "breaker.reset", robot, ("breaker", "github"),
                reason="nightly flapping cleanup"),
        _record(dt.datetime(2026, 1, 10, 0, 0, tzinfo=UTC), "incident.resolve", robot, ("incident", "42")),
    ]


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return sorted(e.pk for e in response.context["cl"].result_list)


def test_auditor_lists_the_trail(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(URL)
    assert set(_ids(response)) >= {e.pk for e in trail}
    assert b"Export CSV" in response.content
    assert any(app["app_label"] == "audit" for app in client.get("/admin/").context["app_list"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor_label__exact=olivia", [0, 1]),
        ("actor_label__exact=cron", [2, 3]),
        ("action__exact=breaker.reset", [0, 2]),
        ("target_type__exact=incident", [1, 3]),
        ("actor_kind__exact=system&action__exact=breaker.reset", [2]),
        ("created_at__gte=2026-01-04&created_at__lt=2026-01-10", [1, 2]),  # until is exclusive
        ("created_at__gte=2026-01-09T23:59:00%2B00:00&created_at__lt=2026-02-01", [2, 3]),
        ("created_at__lt=2026-01-02&created_at__gte=", [0]),  # the form's empty "since"
        ("q=flapping", [2]),
        ("q=incident 42", [1, 3]),
        ("q=breaker&created_at__gte=2026-01-02", [2]),
    ],
)
def test_filters_and_search(client, auditor, trail, query, expected):
    client.force_login(auditor)
    assert _ids(client.get(f"{URL}?{query}")) == [trail[i].pk for i in expected]


def test_date_range_form_is_in_the_sidebar_and_keeps_other_filters(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(f"{URL}?action__exact=breaker.reset&created_at__gte=2026-01-04")
    html = response.content.decode()
    assert 'type="date"' in html and 'name="created_at__gte"' in html and 'name="created_at__lt"' in html
    assert 'value="2026-01-04"' in html
    assert '<input type="hidden" name="action__exact" value="breaker.reset">' in html


def test_a_malformed_date_is_not_a_server_error(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(f"{URL}?created_at__gte=yesterday")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_export_link_carries_the_current_filters_and_returns_those_rows(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(f"{URL}?action__exact=breaker.reset&created_at__gte=2026-01-02&q=cleanup")
    link = response.context["audit_export_url"]
    parts = urlsplit(link)
    assert parts.path == "/api/v1/audit/export.csv"
    assert parse_qs(parts.query) == {
        "action": ["breaker.reset"], "since": ["2026-01-02T00:00:00+00:00"], "q": ["cleanup"],
    }
    assert link.replace("&", "&amp;") in response.content.decode()

    export = client.get(link)
    assert export.status_code == 200 and export.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == _ids(response) == [trail[2].pk]


@pytest.mark.parametrize("role_user", ["operator", "support_user"])
def test_operators_and_support_cannot_see_the_trail(client, request, role_user, trail):
    user = request.getfixturevalue(role_user)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{trail[0].pk}/change/").status_code == 403
    assert not any(app["app_label"] == "audit" for app in client.get("/admin/").context["app_list"])


def test_a_stray_view_permission_does_not_open_the_trail(client, operator, trail):
    from django.contrib.auth.models import Permission

    operator.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    client.force_login(operator)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("who", ["auditor", "superuser"])
def test_nobody_can_change_add_or_delete(client, request, make_user, who, trail):
    user = request.getfixturevalue("auditor") if who == "auditor" else make_user("root", superuser=True)
    client.force_login(user)
    entry = trail[0]
    assert client.get(f"{URL}{entry.pk}/change/").status_code == 200  # read-only view
    refused = client.post(f"{URL}{entry.pk}/change/", {"reason": "rewritten", "action": "x"})
    assert refused.status_code == 403
    assert client.get(f"{URL}add/").status_code == 403
    assert client.post(f"{URL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.reason, stored.action) == ("", "breaker.reset")
    assert AuditEntry.objects.filter(pk=entry.pk).exists()

"""/ops/ pages: who may read and edit, the portal's own sign-in, search, filters and the query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from runbooks.models import Runbook, RunbookVersion

from .conftest import PASSWORD, body

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def two_versions(make_runbook, operator):
    from audit.actors import Actor
    from runbooks.services import runbook_update

    rb = make_runbook("queue-overload")
    runbook_update(runbook_id=rb.pk, body=body("\nScale the workers to 4.\n"), change_note="scaling",
                   actor=Actor(user=operator), source="test")
    return rb


READ_PAGES = ["/ops/runbooks/", "/ops/runbooks/?q=queue", "/ops/runbooks/queue-overload/",
              "/ops/runbooks/queue-overload/?version=1", "/ops/runbooks/queue-overload/diff/",
              "/ops/runbooks/queue-overload/diff/?from=1&to=2&mode=split", "/ops/"]
EDIT_PAGES = ["/ops/runbooks/new/", "/ops/runbooks/queue-overload/edit/"]


def test_support_without_staff_signs_in_at_login_and_reads_every_page(client, support_nonstaff, two_versions):
    assert not support_nonstaff.is_staff
    page = client.get("/login/?next=/ops/runbooks/")
    assert page.status_code == 200 and 'id="login-form"' in page.content.decode()
    response = client.post("/login/?next=/ops/runbooks/", {"username": "suki", "password": PASSWORD, "next": "/ops/runbooks/"})
    assert response.status_code == 302 and response["Location"] == "/ops/runbooks/"
    assert AuditEntry.objects.filter(action="auth.login", actor_user_id=support_nonstaff.pk).count() == 1
    for path in READ_PAGES:
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/").status_code == 302  # still no admin without staff status
    for path in EDIT_PAGES:
        assert client.get(path).status_code == 403, path
        assert client.post(path, {"title": "x", "body": body()}).status_code == 403, path
    assert client.post("/ops/runbooks/queue-overload/review/").status_code == 403
    assert RunbookVersion.objects.count() == 2 and Runbook.objects.get().last_reviewed_at is None
    logout = client.post("/logout/")
    assert logout.status_code == 302 and logout["Location"] == "/login/"
    assert client.get("/ops/runbooks/")["Location"] == "/login/?next=/ops/runbooks/"


def test_login_refuses_an_open_redirect_and_bad_passwords(client, support_nonstaff):
    response = client.post("/login/", {"username": "suki", "password": PASSWORD, "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/ops/"
    bad = Client().post("/login/", {"username": "suki", "password": "wrong"})
    assert bad.status_code == 200 and "errornote" in bad.content.decode()


@pytest.mark.parametrize("path", [*READ_PAGES, *EDIT_PAGES])
def test_anonymous_is_sent_to_the_portal_sign_in(two_versions, path):
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_signed_in_user_without_a_role_is_forbidden(two_versions, django_user_model):
    nobody = django_user_model.objects.create_user(username="nobody", password=PASSWORD, is_staff=True)
    assert _client(nobody).get("/ops/runbooks/").status_code == 403
    assert _client(nobody).get("/ops/").status_code == 403


def test_detail_page_shows_toc_history_and_diff(two_versions, operator):
    client = _client(operator)
    html = client.get("/ops/runbooks/queue-overload/").content.decode()
    assert '<a href="#rb-resolution">Resolution</a>' in html and 'id="rb-resolution"' in html
    assert "v2" in html and "diff with v1" in html and 'data-testid="mark-reviewed"' in html
    assert "print.css" in html and 'media="print"' in html
    unified = client.get("/ops/runbooks/queue-overload/diff/?from=1&to=2").content.decode()
    assert '<span class="rb-line rb-add"><ins>+Scale the workers to 4.</ins></span>' in unified
    split = client.get("/ops/runbooks/queue-overload/diff/?from=1&to=2&mode=split").content.decode()
    assert "<ins>Scale the workers to 4.</ins>" in split
    old = client.get("/ops/runbooks/queue-overload/?version=1").content.decode()
    assert "Scale the workers" not in old and "an earlier version" in old
    assert client.get("/ops/runbooks/queue-overload/?version=9").status_code == 404
    assert client.get("/ops/runbooks/queue-overload/diff/?from=1&to=9").status_code == 404
    assert client.get("/ops/runbooks/queue-overload/diff/?from=x&to=y").status_code == 200  # junk → defaults
    assert client.get("/ops/runbooks/nope/").status_code == 404


def test_no_inline_scripts_or_style_attributes(two_versions, operator):
    client = _client(operator)
    for path in [*READ_PAGES[:-1], *EDIT_PAGES]:
        html = client.get(path).content.decode()
        assert "style=" not in html and "<script>" not in html and "<style" not in html, path


def test_operator_edits_through_the_page_creating_a_version(two_versions, operator):
    client = _client(operator)
    form = client.get("/ops/runbooks/queue-overload/edit/")
    assert form.status_code == 200
    data = {"title": "Queue overload", "severity": "P1", "status": "published", "review_interval_days": 30,
            "matchers": '[{"label": "alertname", "op": "=", "value": "QueueOverload"}]',
            "body": body("\nThird version.\n"), "change_note": "third"}
    response = client.post("/ops/runbooks/queue-overload/edit/", data)
    assert response.status_code == 302 and response["Location"] == "/ops/runbooks/queue-overload/"
    rb = Runbook.objects.get()
    assert rb.current_version.number == 3 and rb.severity == "P1" and rb.matchers[0]["value"] == "QueueOverload"
    entries = AuditEntry.objects.filter(action="runbook.update", source="dashboard")
    assert entries.count() == 1 and entries.get().reason == "third"
    refused = client.post("/ops/runbooks/queue-overload/edit/", {**data, "body": body().replace("## Rollback", "")})
    assert refused.status_code == 400 and "missing required section(s): Rollback" in refused.content.decode()
    bad_json = client.post("/ops/runbooks/queue-overload/edit/", {**data, "matchers": "[{"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.content.decode()
    assert RunbookVersion.objects.count() == 3


def test_operator_creates_a_runbook(operator):
    response = _client(operator).post("/ops/runbooks/new/", {
        "title": "Cache stampede", "slug": "", "severity": "P2", "status": "draft", "review_interval_days": 90,
        "matchers": "", "body": body(), "change_note": ""})
    assert response.status_code == 302 and response["Location"] == "/ops/runbooks/cache-stampede/"
    assert Runbook.objects.get().current_version.number == 1


def test_mark_reviewed_button_clears_the_overdue_flag_and_is_audited(make_runbook, operator):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        make_runbook("dlq-backlog", review_interval_days=7)
    with time_machine.travel(start + timedelta(days=8), tick=False):
        client = _client(operator)
        listing = client.get("/ops/runbooks/?overdue=1").content.decode()
        assert 'data-slug="dlq-backlog"' in listing and 'data-review="overdue"' in listing
        overview = client.get("/ops/").content.decode()
        assert 'data-testid="runbooks-overdue"' in overview and "/ops/runbooks/dlq-backlog/" in overview
        response = client.post("/ops/runbooks/dlq-backlog/review/", {"note": "still right"})
        assert response.status_code == 302
        listing = client.get("/ops/runbooks/?overdue=1").content.decode()
        assert 'data-slug="dlq-backlog"' not in listing
        assert 'data-slug="dlq-backlog"' in client.get("/ops/runbooks/?overdue=0").content.decode()
        assert 'data-testid="runbooks-overdue-empty"' in client.get("/ops/").content.decode()
    entry = AuditEntry.objects.get(action="runbook.review")
    assert entry.actor_user_id == operator.pk and entry.reason == "still right" and entry.source == "dashboard"


def test_search_finds_a_runbook_by_a_body_word_on_postgresql(make_runbook, support_nonstaff, django_assert_max_num_queries):
    from django.db import connection

    assert connection.vendor == "postgresql"
    make_runbook("payment-processing-failure", text=body("\nReplay with webhooks_retry; reconcile the ledgers.\n"))
    make_runbook("queue-overload")
    for n in range(20):
        make_runbook(f"filler-{n}")
    client = _client(support_nonstaff)
    client.get("/ops/runbooks/")  # warm the session and the content types
    with django_assert_max_num_queries(7):
        html = client.get("/ops/runbooks/?q=ledger").content.decode()  # stemmed: "ledgers" matches "ledger"
    assert 'data-slug="payment-processing-failure"' in html and 'data-slug="queue-overload"' not in html
    with django_assert_max_num_queries(7):
        full = client.get("/ops/runbooks/").content.decode()
    assert full.count("data-slug=") == 22
    assert 'data-slug="queue-overload"' in client.get("/ops/runbooks/?q=Queue Overload").content.decode()  # title
    assert "No runbook matches" in client.get("/ops/runbooks/?q=nonexistentword").content.decode()


def test_filters_by_service_and_status(make_runbook, operator):
    from audit.actors import Actor
    from opsportal.catalog.services import service_create

    payments = service_create(name="payments-api", actor=Actor.for_system("t"), source="test")
    make_runbook("payments", service=payments)
    make_runbook("drafty", status="draft")
    client = _client(operator)
    html = client.get("/ops/runbooks/?service=payments-api").content.decode()
    assert 'data-slug="payments"' in html and 'data-slug="drafty"' not in html
    assert 'data-slug="payments"' in client.get("/ops/runbooks/?q=payments-api").content.decode()  # service name
    html = client.get("/ops/runbooks/?status=draft").content.decode()
    assert 'data-slug="drafty"' in html and 'data-slug="payments"' not in html


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "service=%00", "q=%27%22%3A%2A%21%28", "q=" + "x" * 5000,
                                   "status=%00", "overdue=%00", "q=%26%7C%21"])
def test_odd_search_input_never_errors(make_runbook, operator, query):
    make_runbook()
    assert _client(operator).get(f"/ops/runbooks/?{query}").status_code == 200


@pytest.mark.parametrize("path", ["/ops/runbooks/queue-overload/?version=%00", "/ops/runbooks/queue-overload/diff/?from=-1&to=%00",
                                  "/ops/runbooks/queue-overload/?version=99999999999999999999999"])
def test_odd_version_input_is_a_404_or_200_never_a_500(make_runbook, operator, path):
    make_runbook()
    assert _client(operator).get(path).status_code in (200, 404)


def test_edit_form_refuses_nul_and_unknown_service_without_erroring(make_runbook, operator):
    make_runbook()
    data = {"title": "a\x00b", "severity": "P1", "status": "published", "review_interval_days": 30,
            "service": "no-such-service", "matchers": "", "body": body("\x00"), "change_note": ""}
    response = _client(operator).post("/ops/runbooks/queue-overload/edit/", data)
    assert response.status_code == 400


def test_the_portal_sign_in_has_the_same_lockout_as_the_admin(client, support_nonstaff, settings):
    def attempt(password):
        return client.post("/login/", {"username": "suki", "password": password}, REMOTE_ADDR="10.9.8.7")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("wrong").status_code == 200
    assert attempt("wrong").status_code == 429
    assert attempt(PASSWORD).status_code == 429 and "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.login_failed").count() >= 1


def test_the_portal_sign_in_is_in_the_admin_look():
    html = Client().get("/login/").content.decode()
    assert 'id="site-name"' in html and "opsportal" in html and 'id="login-form"' in html
    assert 'action="/login/"' in html and "style=" not in html


def test_a_group_that_is_not_a_role_does_not_open_the_portal(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username="grouped", password=PASSWORD)
    user.groups.add(Group.objects.create(name="newsletter"))
    assert _client(user).get("/ops/runbooks/").status_code == 403

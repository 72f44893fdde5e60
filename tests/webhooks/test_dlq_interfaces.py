"""DLQ interfaces: admin actions, the /ops/ panel, /api/v1/dlq/ and webhooks_retry — one service behind all."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from audit.models import AuditEntry
from reliability.webhooks.models import WebhookFailure
from tests.webhooks.dlq_helpers import make_dlq_item

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def dlq(make_source, make_destination):
    billing, crm = make_destination("billing"), make_destination("crm")
    stripe = make_source("stripe", "stripe", destinations=[billing, crm])
    github = make_source("github", "github", destinations=[crm])
    now = timezone.now()
    return {
        "billing": billing, "crm": crm, "stripe": stripe, "github": github,
        "a": make_dlq_item(stripe, billing, event_type="charge.failed", created_at=now - timedelta(minutes=10)),
        "b": make_dlq_item(stripe, crm, event_type="charge.refunded", error="timeout after 10s", created_at=now - timedelta(hours=3)),
        "c": make_dlq_item(github, crm, event_type="push", created_at=now - timedelta(days=2)),
    }


@pytest.fixture
def ops_client(client, operator):
    client.force_login(operator)
    return client


def _dlq_entries():
    return AuditEntry.objects.filter(action__startswith="dlq.").order_by("id")


def _open(*items):
    return set(WebhookFailure.objects.filter(pk__in=[i.pk for i in items], resolution="open").values_list("pk", flat=True))


# --- admin --------------------------------------------------------------------------------------------


ADMIN = "/admin/webhooks/webhookfailure/"


def test_admin_lists_and_filters_the_queue(ops_client, dlq):
    page = ops_client.get(ADMIN).content.decode()
    for key in "abc":
        assert f'value="{dlq[key].pk}"' in page
    assert "Retry selected DLQ items" in page and "Discard selected DLQ items" in page
    filtered = ops_client.get(ADMIN, {"source__id__exact": dlq["github"].pk}).content.decode()
    assert f'value="{dlq["c"].pk}"' in filtered and f'value="{dlq["a"].pk}"' not in filtered
    by_type = ops_client.get(ADMIN, {"event_type": "charge.refunded"}).content.decode()
    assert f'value="{dlq["b"].pk}"' in by_type and f'value="{dlq["a"].pk}"' not in by_type
    for params in ({"destination__id__exact": dlq["crm"].pk}, {"resolution__exact": "open"}, {"created_at__gte": "2000-01-01"}):
        assert ops_client.get(ADMIN, params).status_code == 200
    detail = ops_client.get(f"{ADMIN}{dlq['a'].pk}/change/").content.decode()
    assert "charge.failed" in detail and "evt_" in detail


def test_admin_retry_selected_calls_the_service(ops_client, dlq, operator):
    response = ops_client.post(ADMIN, {"action": "retry_selected", "_selected_action": [dlq["a"].pk, dlq["b"].pk]}, follow=True)
    assert "Retried 2 DLQ item(s)" in response.content.decode()
    assert _open(dlq["a"], dlq["b"], dlq["c"]) == {dlq["c"].pk}
    [entry] = _dlq_entries()
    assert (entry.action, entry.source, entry.actor_user_id) == ("dlq.retry", "admin", operator.pk)
    assert entry.changes["ids"] == sorted([dlq["a"].pk, dlq["b"].pk])


def test_admin_discard_asks_for_a_reason_first(ops_client, dlq):
    selected = {"action": "discard_selected", "_selected_action": [dlq["c"].pk]}
    page = ops_client.post(ADMIN, selected)
    assert page.status_code == 200 and "Reason" in page.content.decode()
    assert _open(dlq["c"]) == {dlq["c"].pk} and not _dlq_entries().exists()
    blank = ops_client.post(ADMIN, {**selected, "apply": "1", "reason": "  "})
    assert blank.status_code == 200 and _open(dlq["c"]) == {dlq["c"].pk}  # the page again, with the error
    done = ops_client.post(ADMIN, {**selected, "apply": "1", "reason": "sandbox traffic"}, follow=True)
    assert "Discarded 1 DLQ item(s)" in done.content.decode()
    entry = _dlq_entries().get()
    assert (entry.action, entry.reason, entry.source) == ("dlq.discard", "sandbox traffic", "admin")


def test_admin_actions_need_the_operator_role(client, make_user, dlq):
    from django.contrib.auth.models import Permission

    support = make_user("sam", "support")
    client.force_login(support)
    assert client.get(ADMIN).status_code == 403  # support cannot even see the DLQ
    # Someone allowed to look (view permission) but without the operator role gets no buttons.
    support.user_permissions.add(Permission.objects.get(codename="view_webhookfailure"))
    page = client.get(ADMIN)
    assert page.status_code == 200 and "Retry selected DLQ items" not in page.content.decode()
    client.post(ADMIN, {"action": "retry_selected", "_selected_action": [dlq["a"].pk]})
    assert _open(dlq["a"]) == {dlq["a"].pk} and not _dlq_entries().exists()


# --- /ops/ -----------------------------------------------------------------------------------------------


def test_ops_page_shows_the_dlq_panel_with_buttons(ops_client, dlq):
    page = ops_client.get("/ops/").content.decode()
    assert 'id="ops-panel-dlq"' in page and f'data-dlq-id="{dlq["a"].pk}"' in page
    assert 'data-depth="3"' in page and f"/ops/dlq/{dlq['a'].pk}/" in page
    fragment = ops_client.get("/ops/panels/dlq/").content.decode()
    assert f'data-dlq-id="{dlq["c"].pk}"' in fragment


def test_ops_retry_button_uses_the_service_and_re_renders_the_panel(ops_client, dlq, operator):
    response = ops_client.post(f"/ops/dlq/{dlq['a'].pk}/", {"action": "retry"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-dlq-id="{dlq["a"].pk}"' not in html and 'data-depth="2"' in html
    entry = _dlq_entries().get()
    assert (entry.action, entry.source, entry.actor_user_id) == ("dlq.retry", "dashboard", operator.pk)
    again = ops_client.post(f"/ops/dlq/{dlq['a'].pk}/", {"action": "retry"}, HTTP_HX_REQUEST="true")
    assert "already retried" in again.content.decode()


def test_ops_discard_needs_a_reason(ops_client, dlq):
    no_reason = ops_client.post(f"/ops/dlq/{dlq['b'].pk}/", {"action": "discard"}, HTTP_HX_REQUEST="true")
    assert "reason is required" in no_reason.content.decode() and _open(dlq["b"])
    ops_client.post(f"/ops/dlq/{dlq['b'].pk}/", {"action": "discard", "reason": "bad data"})
    assert not _open(dlq["b"])


def test_ops_actions_refuse_non_operators_and_unknown_things(make_user, dlq, ops_client):
    other = Client()
    other.force_login(make_user("chad", "chaos_operator"))
    assert other.post(f"/ops/dlq/{dlq['a'].pk}/", {"action": "retry"}).status_code == 403
    assert ops_client.post(f"/ops/dlq/{dlq['a'].pk}/", {"action": "explode"}).status_code == 404
    assert ops_client.post("/ops/dlq/999999/", {"action": "retry"}).status_code == 404
    assert ops_client.get(f"/ops/dlq/{dlq['a'].pk}/").status_code == 405
    assert _open(dlq["a"])


# --- API ----------------------------------------------------------------------------------------------------

API = "/api/v1/dlq/"


def test_api_lists_open_items_with_filters_and_a_cursor(user_client, operator, dlq, django_assert_max_num_queries):
    api = user_client(operator)
    with django_assert_max_num_queries(6):  # session, user, roles … and ONE query for the page
        body = api.get(API).json()
    assert [r["id"] for r in body["results"]] == [dlq[k].pk for k in "cba"]
    first = body["results"][2]
    assert first["source"] == "stripe" and first["destination"] == {"id": dlq["billing"].pk, "name": "billing"}
    assert first["event"]["provider_event_id"].startswith("evt_") and first["resolution"] == "open"
    assert "payload" not in first

    def ids(**params):
        return [r["id"] for r in api.get(API, params).json()["results"]]

    assert ids(source="github") == [dlq["c"].pk]
    assert ids(event_type="charge.*") == [dlq["b"].pk, dlq["a"].pk]
    assert ids(destination="crm") == [dlq["c"].pk, dlq["b"].pk]
    assert ids(error_contains="TIMEOUT") == [dlq["b"].pk]
    assert ids(created_since=(timezone.now() - timedelta(hours=1)).isoformat()) == [dlq["a"].pk]
    page = api.get(API, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert [r["id"] for r in rest["results"]] == [dlq["a"].pk]

    api.post(f"{API}{dlq['a'].pk}/retry/", {}, format="json")
    assert ids() == [dlq["c"].pk, dlq["b"].pk]
    assert ids(resolution="retried") == [dlq["a"].pk]
    assert len(ids(resolution="any")) == 3


def test_api_detail_has_the_payload(user_client, operator, dlq):
    body = user_client(operator).get(f"{API}{dlq['a'].pk}/").json()
    assert '"type": "charge.failed"' in body["payload"]
    assert user_client(operator).get(f"{API}999999/").status_code == 404


def test_api_bad_filters_are_400_problems(user_client, operator, dlq):
    api = user_client(operator)
    for params in ({"event_type": "*.x"}, {"created_since": "yesterday"}, {"resolution": "maybe"}, {"source": "x" * 101}):
        response = api.get(API, params)
        assert response.status_code == 400, params
        assert response["Content-Type"] == PROBLEM


def test_api_retry_and_discard_one_item(user_client, operator, dlq):
    api = user_client(operator)
    retried = api.post(f"{API}{dlq['a'].pk}/retry/", {"reason": "fixed"}, format="json")
    assert retried.status_code == 200 and retried.json()["item"]["resolution"] == "retried"
    assert retried.json()["item"]["retry_count"] == 1

    conflict = api.post(f"{API}{dlq['a'].pk}/retry/", {}, format="json")
    assert conflict.status_code == 409 and conflict["Content-Type"] == PROBLEM
    assert "already retried" in conflict.json()["detail"]
    assert api.post(f"{API}{dlq['a'].pk}/discard/", {"reason": "x"}, format="json").status_code == 409

    missing_reason = api.post(f"{API}{dlq['b'].pk}/discard/", {}, format="json")
    assert missing_reason.status_code == 400 and "reason" in missing_reason.json()["errors"]
    discarded = api.post(f"{API}{dlq['b'].pk}/discard/", {"reason": "test event"}, format="json")
    assert discarded.status_code == 200 and discarded.json()["item"]["resolution"] == "discarded"
    assert api.post(f"{API}999999/retry/", {}, format="json").status_code == 404
    assert [e.action for e in _dlq_entries()] == ["dlq.retry", "dlq.discard"]
    assert {e.source for e in _dlq_entries()} == {"api"}


def test_api_bulk_retry_by_filter_with_dry_run(user_client, operator, dlq):
    api = user_client(operator)
    dry = api.post(f"{API}retry/", {"source": "stripe", "dry_run": True}, format="json")
    assert dry.status_code == 200
    assert dry.json() == {"dry_run": True, "count": 2, "ids": sorted([dlq["a"].pk, dlq["b"].pk]), "skipped": [],
                          "filter": {"source": "stripe"}}
    assert len(_open(dlq["a"], dlq["b"])) == 2 and not _dlq_entries().exists()

    done = api.post(f"{API}retry/", {"since": "1h"}, format="json").json()
    assert done["count"] == 1 and done["ids"] == [dlq["a"].pk] and "since" in done["filter"]
    by_ids = api.post(f"{API}retry/", {"ids": [dlq["b"].pk, dlq["c"].pk], "reason": "batch"}, format="json").json()
    assert by_ids["count"] == 2
    assert api.post(f"{API}retry/", {"ids": [dlq["b"].pk]}, format="json").status_code == 409


@pytest.mark.parametrize(
    "body",
    [{}, {"dry_run": True}, {"since": "soon"}, {"since": "0h"}, {"ids": []}, {"ids": ["x"]}, {"ids": [0]},
     {"event_type": "a*b"}, {"created_since": "2026-01-02T00:00:00Z", "created_until": "2026-01-01T00:00:00Z"},
     {"all": "maybe"}, {"dry_run": "perhaps", "all": True}, [1, 2], "text"],
)
def test_api_bulk_retry_refuses_bad_bodies(user_client, operator, dlq, body):
    response = user_client(operator).post(f"{API}retry/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert len(_open(dlq["a"], dlq["b"], dlq["c"])) == 3


def test_api_bulk_retry_all_needs_saying_so(user_client, operator, dlq):
    response = user_client(operator).post(f"{API}retry/", {"all": True}, format="json")
    assert response.status_code == 200 and response.json()["count"] == 3


def test_api_permissions(user_client, make_user, token_client, dlq):
    item = dlq["a"].pk
    reader = token_client("read")
    assert reader.get(API).status_code == 200
    assert reader.post(f"{API}{item}/retry/", {}, format="json").status_code == 403
    writer = token_client("dlq:write", service="replayer")
    assert writer.get(API).status_code == 403  # dlq:write alone does not read
    assert writer.post(f"{API}{item}/retry/", {}, format="json").status_code == 200
    assert _dlq_entries().get().actor_label.startswith("token:replayer/")
    support = user_client(make_user("sam", "support"))
    assert support.get(API).status_code == 403
    assert support.post(f"{API}retry/", {"all": True}, format="json").status_code == 403
    assert APIClient().get(API).status_code in (401, 403)


def test_api_idempotency_key_replays_a_bulk_retry(user_client, operator, dlq):
    api = user_client(operator)
    first = api.post(f"{API}retry/", {"source": "github"}, format="json", HTTP_IDEMPOTENCY_KEY="replay-42")
    again = api.post(f"{API}retry/", {"source": "github"}, format="json", HTTP_IDEMPOTENCY_KEY="replay-42")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert _dlq_entries().count() == 1


# --- CLI ------------------------------------------------------------------------------------------------------


def _cli(*args) -> str:
    out = StringIO()
    call_command("webhooks_retry", *args, stdout=out)
    return out.getvalue()


def test_cli_dry_run_prints_what_it_would_retry_and_changes_nothing(dlq):
    out = _cli("--since", "4h", "--dry-run")
    assert f"would retry #{dlq['a'].pk} stripe → billing charge.failed" in out
    assert f"#{dlq['b'].pk}" in out and f"#{dlq['c'].pk}" not in out
    assert "would retry 2 DLQ item(s)" in out and "dry run" in out
    assert len(_open(dlq["a"], dlq["b"], dlq["c"])) == 3 and not _dlq_entries().exists()


def test_cli_retries_by_window_and_source(dlq):
    out = _cli("--since", "3d", "--source", "github")
    assert f"retried #{dlq['c'].pk} github → crm push" in out and "retried 1 DLQ item(s)" in out
    entry = _dlq_entries().get()
    assert (entry.source, entry.actor_label, entry.changes["filter"]["source"]) == ("cli", "cli:webhooks_retry", "github")
    assert "retried 0 DLQ item(s)" in _cli("--since", "3d", "--source", "github")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --since"),
        (("--since", "1y"), "--since: '1y' is not a duration"),
        (("--since=-5m",), "not a duration"),
        (("--since", "0h"), "positive"),
        (("--since", "1h", "--source", "nope"), "no webhook source with slug 'nope'"),
        (("--since", "1h", "--event-type", "*x"), "--event-type: only a trailing"),
        (("--id", "abc"), "--id: 'abc' is not a DLQ item id"),
        (("--id", "999999"), "does not exist"),
    ],
)
def test_cli_bad_input_is_a_clear_error(dlq, args, message):
    with pytest.raises(CommandError, match=message.replace("*", r"\*")):
        _cli(*args)


# --- one service, one audit entry shape ------------------------------------------------------------------------


def test_admin_ops_api_and_cli_write_the_same_audit_entry(ops_client, user_client, operator, make_source, make_destination):
    destination = make_destination("billing")
    source = make_source("stripe", "stripe", destinations=[destination])
    items = {name: make_dlq_item(source, destination) for name in ("admin", "dashboard", "api", "cli")}

    ops_client.post(ADMIN, {"action": "retry_selected", "_selected_action": [items["admin"].pk]})
    ops_client.post(f"/ops/dlq/{items['dashboard'].pk}/", {"action": "retry"}, HTTP_HX_REQUEST="true")
    user_client(operator).post(f"{API}{items['api'].pk}/retry/", {}, format="json")
    _cli("--id", str(items["cli"].pk))

    entries = {e.source: e for e in _dlq_entries()}
    assert set(entries) == {"admin", "dashboard", "api", "cli"}
    for name, entry in entries.items():
        item = items[name]
        assert entry.action == "dlq.retry"
        assert (entry.target_type, entry.target_id) == ("webhooks.webhookfailure", str(item.pk))
        assert entry.changes == {"resolution": ["open", "retried"], "count": 1, "ids": [item.pk], "filter": {}}


def test_a_bulk_window_retry_is_the_same_entry_from_the_api_and_the_cli(user_client, operator, make_source, make_destination):
    destination = make_destination("billing")
    source = make_source("stripe", "stripe", destinations=[destination])
    with time_machine.travel(timezone.now(), tick=False):
        first = make_dlq_item(source, destination)
        user_client(operator).post(f"{API}retry/", {"since": "1h", "source": "stripe"}, format="json")
        WebhookFailure.objects.filter(pk=first.pk).update(resolution="open")  # as if it died again
        _cli("--since", "1h", "--source", "stripe")
    api_entry, cli_entry = _dlq_entries()
    assert (api_entry.source, cli_entry.source) == ("api", "cli")
    assert api_entry.action == cli_entry.action and api_entry.changes == cli_entry.changes
    assert api_entry.changes["filter"]["source"] == "stripe" and "since" in api_entry.changes["filter"]


# --- metrics -------------------------------------------------------------------------------------------------------


def test_metrics_expose_dlq_depth_and_retries(client, ops_client, dlq, django_capture_on_commit_callbacks):
    def sample(name, labels=None):
        return REGISTRY.get_sample_value(name, labels or {})

    def depth():  # dlq_messages_total{class}: one series per failure class
        return sum(s.value for m in REGISTRY.collect() if m.name == "dlq_messages_total" for s in m.samples)

    assert depth() == 3 and sample("dlq_messages_total", {"class": "server_error"}) == 3
    before = sample("dlq_retries_total", {"source": "admin"}) or 0
    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post(ADMIN, {"action": "retry_selected", "_selected_action": [dlq["a"].pk, dlq["b"].pk]})
    assert depth() == 1
    assert sample("dlq_retries_total", {"source": "admin"}) == before + 2
    text = client.get("/metrics").content.decode()
    assert 'dlq_messages_total{class="server_error"} 1.0' in text and 'dlq_retries_total{source="admin"}' in text

"""Failure classes, strategies, signatures and groups of the DLQ; the filters on every interface; retention; metrics."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client import REGISTRY

from audit.actors import Actor
from audit.models import AuditEntry
from reliability.webhooks.classes import (
    FailureClass,
    Strategy,
    classify,
    group_signature,
    normalise_error,
    strategy_for,
)
from reliability.webhooks.engine.jobs import DEFERRED, Job, Outcome, RunStats
from reliability.webhooks.engine.policy import RetryPlan
from reliability.webhooks.engine.record import _apply
from reliability.webhooks.models import WebhookFailure
from reliability.webhooks.selectors.dlq import DlqFilter, DlqFilterError, dlq_matching
from reliability.webhooks.selectors.dlq_groups import dlq_groups
from reliability.webhooks.services.config import webhook_destination_update
from reliability.webhooks.services.dlq import dlq_discard, dlq_retry
from reliability.webhooks.services.dlq_recovery import dlq_process, dlq_purge_resolved
from tests.webhooks.dlq_helpers import make_dlq_item

ACTOR = Actor.for_system("test")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


admin_client = operator_client


@pytest.mark.parametrize(("kind", "status", "expected"), [
    ("network_error", None, "destination_down"),
    ("timeout", None, "destination_down"),
    ("lease_expired", None, "destination_down"),
    ("http_error", 502, "destination_down"),
    ("http_error", 503, "destination_down"),
    ("http_error", 504, "destination_down"),
    ("http_error", 429, "rate_limited"),
    ("http_error", 422, "rejected"),
    ("http_error", 400, "rejected"),
    ("gone", 410, "gone"),
    ("http_error", 500, "server_error"),
    ("http_error", 507, "server_error"),
    ("http_error", 401, "signature_rejected"),
    ("http_error", 403, "signature_rejected"),
    ("deferred", None, "breaker_open"),
    ("refused", None, "refused"),
    ("payload_purged", None, "refused"),
])
def test_classify(kind, status, expected):
    assert classify(kind=kind, status_code=status) == expected


def test_default_strategies_and_overrides():
    auto = {"destination_down", "rate_limited", "breaker_open", "server_error"}
    for failure_class in FailureClass.values:
        want = Strategy.AUTO_REPLAY if failure_class in auto else Strategy.HOLD
        assert strategy_for(failure_class) == want
    assert strategy_for("rejected", source_overrides={"rejected": "auto_replay_on_recovery"}) == Strategy.AUTO_REPLAY
    assert strategy_for("rejected", destination_overrides={"rejected": "hold_for_review"},
                        source_overrides={"rejected": "auto_replay_on_recovery"}) == Strategy.HOLD


def test_normalised_errors_strip_what_varies_per_item():
    a = "gave up after 8 attempts: HTTP 422: order 1234 rejected at 2026-12-01T10:00:00Z (req_ab12CD, id 9f86d081884c7d65)"
    b = "gave up after 3 attempts: HTTP 422: order 98 rejected at 2026-12-02T23:59:01Z (req_zz99, id 0a1b2c3d4e5f6a7b)"
    assert normalise_error(a) == normalise_error(b)
    assert "1234" not in normalise_error(a) and "<ts>" in normalise_error(a)
    same = group_signature(destination_id=1, failure_class="rejected", status_code=422, error=a)
    assert same == group_signature(destination_id=1, failure_class="rejected", status_code=422, error=b)
    assert same != group_signature(destination_id=2, failure_class="rejected", status_code=422, error=a)
    assert same != group_signature(destination_id=1, failure_class="rejected", status_code=400, error=a)
    assert same != group_signature(destination_id=1, failure_class="rejected", status_code=422, error="HTTP 422: other")


def _job(created_at):
    return Job.build(delivery_id=1, event_id=1, attempts=0, attempt_budget=None, plan=RetryPlan(), destination_id=1,
                     destination_name="d", url="http://127.0.0.1:9/", secret="whsec_x", timeout=5, enabled=True,
                     body=b"{}", purged=False, headers={}, event_type="t", source_id=None, source_slug=None,
                     created_at=created_at)


def test_a_delivery_deferred_by_an_open_breaker_past_the_schedule_is_dead_lettered_as_breaker_open(settings):
    settings.WEBHOOK_BREAKER_DEFER_MAX_SECONDS = 3600
    now = timezone.now()
    row, dead = _apply(Outcome(_job(now - timedelta(minutes=30)), DEFERRED, now, error="open"), now, RunStats())
    assert row.status == "pending" and dead is None
    row, dead = _apply(Outcome(_job(now - timedelta(hours=2)), DEFERRED, now, error="open"), now, RunStats())
    assert row.status == "dead" and dead.failure_class == FailureClass.BREAKER_OPEN


# --- groups, filters, interfaces ---------------------------------------------------------------


@pytest.fixture
def pair(make_destination, make_source):
    destination = make_destination("orders")
    source = make_source("shop", destinations=[destination])
    return source, destination


def _items(pair):
    source, destination = pair
    rejected = [make_dlq_item(source, destination, error=f"HTTP 422: order {n} invalid (req_{n:04x}abc)",
                              failure_class="rejected", status_code=422) for n in range(3)]
    down = [make_dlq_item(source, destination, error=f"connection refused to 127.0.0.1:{9000 + n}",
                          failure_class="destination_down", status_code=None) for n in range(2)]
    return rejected, down


def test_grouping_puts_same_signature_items_together(pair):
    rejected, down = _items(pair)
    groups = {g.failure_class: g for g in dlq_groups()}
    assert groups["rejected"].count == 3 and groups["destination_down"].count == 2
    assert {f.group_signature for f in rejected} == {groups["rejected"].signature}
    assert groups["rejected"].strategy == "hold_for_review" and groups["destination_down"].strategy == "auto_replay_on_recovery"
    assert groups["rejected"].first_seen <= groups["rejected"].last_seen


def test_replaying_a_group_replays_exactly_its_items_with_one_audit_entry(pair):
    rejected, down = _items(pair)
    signature = rejected[0].group_signature
    before = AuditEntry.objects.count()
    result = dlq_retry(filters={"group": signature}, actor=ACTOR, source="test")
    assert set(result.ids) == {f.pk for f in rejected}
    assert AuditEntry.objects.count() == before + 1
    assert set(WebhookFailure.objects.filter(resolution="open").values_list("pk", flat=True)) == {f.pk for f in down}
    discarded = dlq_discard(filters={"group": down[0].group_signature}, reason="receiver rebuilt", actor=ACTOR, source="test")
    assert set(discarded.ids) == {f.pk for f in down}
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.action == "dlq.discard" and entry.changes["filter"] == {"group": down[0].group_signature}
    assert AuditEntry.objects.count() == before + 2


def test_the_class_filter(pair):
    rejected, down = _items(pair)
    assert set(dlq_matching(filters={"failure_class": "rejected"}).values_list("pk", flat=True)) == {f.pk for f in rejected}
    both = dlq_matching(filters={"failure_class": "rejected,destination_down"}).count()
    assert both == 5
    with pytest.raises(DlqFilterError):
        DlqFilter(failure_class="nope").q()
    with pytest.raises(DlqFilterError):
        DlqFilter(group="not-hex").q()


def test_api_items_show_class_hint_group_and_filter_on_them(pair, operator_client):
    source, destination = pair
    item = make_dlq_item(source, destination, error="HTTP 401: invalid signature", failure_class="signature_rejected",
                         status_code=401)
    _items(pair)
    body = operator_client.get("/api/v1/dlq/?failure_class=signature_rejected").json()
    assert [r["id"] for r in body["results"]] == [item.pk]
    row = body["results"][0]
    assert row["failure_class"] == "signature_rejected" and row["status_code"] == 401
    assert "rotated" in row["hint"] and row["group"] == item.group_signature
    assert operator_client.get("/api/v1/dlq/?failure_class=bogus").status_code == 400

    groups = operator_client.get("/api/v1/dlq/groups/").json()
    assert {g["failure_class"]: g["count"] for g in groups} == {"rejected": 3, "destination_down": 2, "signature_rejected": 1}
    signature = next(g["signature"] for g in groups if g["failure_class"] == "rejected")
    before = AuditEntry.objects.count()
    answer = operator_client.post(f"/api/v1/dlq/groups/{signature}/retry/", {}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["count"] == 3
    assert AuditEntry.objects.count() == before + 1
    assert operator_client.post(f"/api/v1/dlq/groups/{signature}/retry/", {}, content_type="application/json").status_code == 404
    assert operator_client.post("/api/v1/dlq/groups/zz/discard/", {"reason": "x"}, content_type="application/json").status_code == 404
    down = next(g["signature"] for g in groups if g["failure_class"] == "destination_down")
    assert operator_client.post(f"/api/v1/dlq/groups/{down}/discard/", {}, content_type="application/json").status_code == 400
    gone = operator_client.post(f"/api/v1/dlq/groups/{down}/discard/", {"reason": "obsolete"}, content_type="application/json")
    assert gone.status_code == 200 and gone.json()["count"] == 2
    replays = operator_client.get("/api/v1/dlq/replays/").json()
    assert replays[0]["total"] == 3 and replays[0]["done"] == 0


def test_admin_class_filter_and_groups_page(pair, admin_client):
    rejected, down = _items(pair)
    page = admin_client.get("/admin/webhooks/webhookfailure/?failure_class__exact=rejected")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    groups = admin_client.get("/admin/webhooks/webhookfailure/groups/")
    assert groups.status_code == 200 and rejected[0].group_signature in groups.content.decode()
    before = AuditEntry.objects.count()
    admin_client.post(f"/admin/webhooks/webhookfailure/groups/{down[0].group_signature}/", {"action": "retry"})
    assert AuditEntry.objects.count() == before + 1
    assert not WebhookFailure.objects.filter(pk__in=[f.pk for f in down], resolution="open").exists()


def test_ops_panel_shows_groups_and_replays_a_group(pair, admin_client):
    rejected, _ = _items(pair)
    panel = admin_client.get("/ops/panels/dlq/")
    html = panel.content.decode()
    assert f'data-dlq-group="{rejected[0].group_signature}"' in html and "rejected" in html
    before = AuditEntry.objects.count()
    answer = admin_client.post(f"/ops/dlq/groups/{rejected[0].group_signature}/", {"action": "retry"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and 'data-testid="dlq-replays"' in answer.content.decode()
    assert AuditEntry.objects.count() == before + 1


def test_webhooks_retry_command_class_and_group_options(pair):
    rejected, down = _items(pair)
    out = io.StringIO()
    call_command("webhooks_retry", "--since", "1h", "--class", "destination_down", "--dry-run", stdout=out)
    assert "would retry 2 DLQ item(s)" in out.getvalue()
    out = io.StringIO()
    call_command("webhooks_retry", "--group", rejected[0].group_signature, stdout=out)
    assert "retried 3 DLQ item(s)" in out.getvalue()


def test_strategies_are_editable_on_the_destination(pair):
    from django.core.exceptions import ValidationError

    _, destination = pair
    with pytest.raises(ValidationError):
        webhook_destination_update(destination_id=destination.pk, dlq_strategies={"rejected": "sometimes"}, actor=ACTOR, source="test")
    updated = webhook_destination_update(destination_id=destination.pk, dlq_strategies={"rejected": "auto_replay_on_recovery"},
                                         rate_limit_per_second=50, concurrency_limit=4, actor=ACTOR, source="test")
    assert updated.dlq_strategies == {"rejected": "auto_replay_on_recovery"} and updated.rate_limit_per_second == 50


def test_the_destination_api_edits_strategies_and_pacing(pair, operator_client):
    _, destination = pair
    answer = operator_client.patch(f"/api/v1/webhooks/destinations/{destination.pk}/",
                                   {"dlq_strategies": {"signature_rejected": "auto_replay_on_recovery"},
                                    "dlq_discard_after_days": 14, "rate_limit_per_second": 50, "concurrency_limit": 4},
                                   content_type="application/json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["dlq_strategies"] == {"signature_rejected": "auto_replay_on_recovery"}
    assert (body["dlq_discard_after_days"], body["rate_limit_per_second"], body["concurrency_limit"]) == (14, 50.0, 4)
    bad = operator_client.patch(f"/api/v1/webhooks/destinations/{destination.pk}/", {"dlq_strategies": {"x": "y"}},
                                content_type="application/json")
    assert bad.status_code == 400


# --- processor: discard_after, held classes; retention; metrics ------------------------------------


def test_discard_after_discards_old_open_items_with_the_system_actor(pair):
    source, destination = pair
    old = make_dlq_item(source, destination, failure_class="rejected", status_code=422, error="HTTP 422: no",
                        created_at=timezone.now() - timedelta(days=10))
    fresh = make_dlq_item(source, destination, failure_class="rejected", status_code=422, error="HTTP 422: no")
    webhook_destination_update(destination_id=destination.pk, dlq_discard_after_days=7, actor=ACTOR, source="test")
    run = dlq_process(probe=lambda ids: pytest.fail("held items are never probed"))
    assert run.discarded == 1
    assert WebhookFailure.objects.get(pk=old.pk).resolution == "discarded"
    assert WebhookFailure.objects.get(pk=fresh.pk).resolution == "open"
    entry = AuditEntry.objects.filter(action="dlq.discard").get()
    assert entry.actor_label == "dlq-processor"
    assert entry.changes["strategy"] == "discard_after=7d"


def test_retention_purges_resolved_items_only(pair):
    source, destination = pair
    items = [make_dlq_item(source, destination) for _ in range(3)]
    dlq_discard(failure_ids=[items[0].pk], reason="x", actor=ACTOR, source="test")
    dlq_retry(failure_ids=[items[1].pk], actor=ACTOR, source="test")
    WebhookFailure.objects.filter(pk=items[2].pk).update(created_at=timezone.now() - timedelta(days=400))  # open, old
    assert dlq_purge_resolved(days=30) == 0
    before = AuditEntry.objects.count()
    assert dlq_purge_resolved(days=30, now=timezone.now() + timedelta(days=31)) == 2
    assert list(WebhookFailure.objects.values_list("pk", flat=True)) == [items[2].pk]
    assert AuditEntry.objects.count() == before + 1
    assert AuditEntry.objects.order_by("-id").first().action == "dlq.purge"


def test_depth_metric_by_class(pair, client):
    _items(pair)

    def sample(failure_class):
        return REGISTRY.get_sample_value("dlq_messages_total", {"class": failure_class})

    assert sample("rejected") == 3 and sample("destination_down") == 2 and sample("gone") == 0

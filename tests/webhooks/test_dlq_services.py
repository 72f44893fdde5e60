"""DLQ services: retry (one, many, bulk by filter or window), discard, the depth alarm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.common.timebounds import parse_duration, parse_since
from opsportal.events.models import OutboxEvent
from reliability.webhooks.models import Delivery, WebhookFailure
from reliability.webhooks.names import Event
from reliability.webhooks.selectors.dlq import DlqFilterError
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_depth_check, dlq_discard, dlq_retry
from tests.webhooks.dlq_helpers import make_dlq_item

EVENT_THRESHOLD_CLEARED, EVENT_THRESHOLD_EXCEEDED = Event.DLQ_THRESHOLD_CLEARED, Event.DLQ_THRESHOLD_EXCEEDED

pytestmark = pytest.mark.django_db


@pytest.fixture
def dlq(make_source, make_destination):
    """Two sources, two destinations, four open items with different types, errors and ages."""
    billing, crm = make_destination("billing"), make_destination("crm")
    stripe = make_source("stripe", "stripe", destinations=[billing, crm])
    github = make_source("github", "github", destinations=[crm])
    now = timezone.now()
    return {
        "billing": billing, "crm": crm, "stripe": stripe, "github": github,
        "a": make_dlq_item(stripe, billing, event_type="charge.failed", error="HTTP 500: boom", created_at=now - timedelta(minutes=10)),
        "b": make_dlq_item(stripe, crm, event_type="charge.refunded", error="timeout after 10s", created_at=now - timedelta(hours=3)),
        "c": make_dlq_item(github, crm, event_type="push", error="HTTP 503: Service Unavailable", created_at=now - timedelta(days=2)),
        "d": make_dlq_item(stripe, billing, event_type="invoice.paid", error="connection refused", created_at=now - timedelta(minutes=1)),
    }


@pytest.fixture
def operator_actor(operator):
    return Actor(user=operator)


def _audit():
    return AuditEntry.objects.filter(action__startswith="dlq.")


def _events(type_: str):
    return list(OutboxEvent.objects.filter(type=type_))


def test_retry_one_rearms_its_delivery_audits_once_and_dispatches_after_commit(
    dlq, operator_actor, operator, django_capture_on_commit_callbacks
):
    item = dlq["a"]
    before = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        result = dlq_retry(failure_ids=[item.pk], reason="receiver fixed", actor=operator_actor, source="api")

    assert (result.ids, result.count, result.dry_run, result.skipped) == ((item.pk,), 1, False, ())
    item.refresh_from_db()
    assert item.resolution == WebhookFailure.Resolution.RETRIED
    assert item.retry_count == 1 and item.last_retry_at >= before and item.resolved_at == item.last_retry_at
    assert (item.resolved_by_id, item.resolved_by_label, item.resolution_reason) == (operator.pk, "olivia", "receiver fixed")
    delivery = Delivery.objects.get(pk=item.delivery_id)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_budget == delivery.attempts + 1 == 9  # one attempt now, then back to the DLQ
    assert delivery.next_attempt_at >= before and delivery.lease_token is None
    # Nothing else moved.
    assert set(WebhookFailure.objects.filter(resolution="open").values_list("pk", flat=True)) == {dlq[k].pk for k in "bcd"}
    assert Delivery.objects.filter(status="dead").count() == 3

    entry = _audit().get()
    assert (entry.action, entry.source, entry.actor_user_id, entry.reason) == ("dlq.retry", "api", operator.pk, "receiver fixed")
    assert (entry.target_type, entry.target_id) == ("webhooks.webhookfailure", str(item.pk))
    assert entry.changes == {"resolution": ["open", "retried"], "count": 1, "ids": [item.pk], "filter": {}}
    [event] = OutboxEvent.objects.filter(type__startswith="dlq.")
    assert event.type == "dlq.retried" and event.aggregate_id == str(item.pk)
    assert event.data == {"count": 1, "ids": [item.pk], "ids_truncated": False, "filter": {}, "source": "api"}
    # After commit: the outbox relay and the delivery dispatch (the worker picks the delivery up).
    assert len(callbacks) >= 2


def test_dispatch_after_commit_enqueues_the_rearmed_delivery(dlq, operator_actor, django_capture_on_commit_callbacks, monkeypatch):
    from reliability.webhooks import dispatch as delivery_module

    dispatched = []
    real_dispatch = delivery_module.deliveries_dispatch
    monkeypatch.setattr(delivery_module, "deliveries_dispatch", lambda ids: (dispatched.append(list(ids)), real_dispatch(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        result = dlq_retry(failure_ids=[dlq["a"].pk, dlq["b"].pk], actor=operator_actor, source="admin")
    assert dispatched == [sorted(result.delivery_ids)]
    assert sorted(result.delivery_ids) == sorted([dlq["a"].delivery_id, dlq["b"].delivery_id])


def test_bulk_retry_by_filter_is_one_audit_entry_and_one_event_listing_count_ids_and_filter(dlq, operator_actor):
    result = dlq_retry(filters={"source": "stripe", "destination": "billing"}, actor=operator_actor, source="cli")
    assert result.ids == tuple(sorted([dlq["a"].pk, dlq["d"].pk]))
    entry = _audit().get()
    assert entry.target_type == "webhooks.dlq" and entry.target_id == "2 items"
    assert entry.changes == {
        "resolution": ["open", "retried"], "count": 2, "ids": sorted([dlq["a"].pk, dlq["d"].pk]),
        "filter": {"source": "stripe", "destination": "billing"},
    }
    assert len(_events("dlq.retried")) == 1
    assert _events("dlq.retried")[0].data["count"] == 2


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"source": "github"}, "c"),
        ({"destination": "crm"}, "bc"),
        ({"event_type": "charge.*"}, "ab"),
        ({"event_type": "push"}, "c"),
        ({"error_contains": "http 50"}, "ac"),
        ({"source": "stripe", "error_contains": "TIMEOUT"}, "b"),
        ({"created_since": "-1h"}, "ad"),
        ({"created_until": "-1h"}, "bc"),
    ],
)
def test_filters_select_exactly_their_items(dlq, operator_actor, filters, expected):
    now = timezone.now()
    filters = {k: (now + timedelta(hours=int(v[:-1])) if k.startswith("created_") else v) for k, v in filters.items()}
    if "destination" in filters and filters["destination"] == "crm":
        filters["destination"] = str(dlq["crm"].pk)  # by id works like by name
    result = dlq_retry(filters=filters, dry_run=True, actor=operator_actor, source="api")
    assert set(result.ids) == {dlq[k].pk for k in expected}


def test_since_window_includes_items_reopened_after_a_failed_replay(dlq, operator_actor):
    old = dlq["c"]  # entered two days ago …
    WebhookFailure.objects.filter(pk=old.pk).update(retry_count=1, last_retry_at=timezone.now() - timedelta(minutes=5))  # … reopened 5 min ago
    result = dlq_retry(since=timezone.now() - timedelta(hours=1), actor=operator_actor, source="cli")
    assert set(result.ids) == {dlq["a"].pk, dlq["d"].pk, old.pk}
    assert _audit().get().changes["filter"] == {"since": result.filter["since"]}
    assert WebhookFailure.objects.get(pk=old.pk).retry_count == 2


def test_dry_run_changes_nothing_and_writes_nothing(dlq, operator_actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        result = dlq_retry(filters={"source": "stripe"}, dry_run=True, actor=operator_actor, source="api")
    assert result.dry_run and set(result.ids) == {dlq[k].pk for k in "abd"}
    assert WebhookFailure.objects.filter(resolution="open").count() == 4
    assert not _audit().exists() and not OutboxEvent.objects.filter(type__startswith="dlq.").exists() and callbacks == []


def test_a_filter_matching_nothing_writes_nothing(dlq, operator_actor):
    result = dlq_retry(filters={"source": "nobody"}, actor=operator_actor, source="api")
    assert result.count == 0
    assert not _audit().exists() and not OutboxEvent.objects.filter(type__startswith="dlq.").exists()


def test_retrying_resolved_or_missing_items_is_refused_and_partial_requests_report_skips(dlq, operator_actor):
    a, b = dlq["a"], dlq["b"]
    dlq_retry(failure_ids=[a.pk], actor=operator_actor, source="api")
    with pytest.raises(DlqItemNotOpen) as refused:
        dlq_retry(failure_ids=[a.pk], actor=operator_actor, source="api")
    assert refused.value.states == {a.pk: "retried"} and not refused.value.all_missing
    with pytest.raises(DlqItemNotOpen) as missing:
        dlq_retry(failure_ids=[999_999], actor=operator_actor, source="api")
    assert missing.value.all_missing
    result = dlq_retry(failure_ids=[a.pk, b.pk, 999_999], actor=operator_actor, source="admin")
    assert result.ids == (b.pk,) and result.skipped == (a.pk, 999_999)
    assert _audit().filter(action="dlq.retry").count() == 2


def test_discard_needs_a_reason_and_resolves_for_good(dlq, operator_actor, operator):
    item = dlq["b"]
    with pytest.raises(ValidationError) as no_reason:
        dlq_discard(failure_id=item.pk, reason="  ", actor=operator_actor, source="api")
    assert "reason" in no_reason.value.message_dict
    assert not _audit().exists()

    result = dlq_discard(failure_id=item.pk, reason="test traffic", actor=operator_actor, source="dashboard")
    assert result.ids == (item.pk,)
    item.refresh_from_db()
    assert (item.resolution, item.resolution_reason, item.resolved_by_id) == ("discarded", "test traffic", operator.pk)
    assert item.retry_count == 0 and Delivery.objects.get(pk=item.delivery_id).status == "dead"
    entry = _audit().get()
    assert (entry.action, entry.source, entry.reason) == ("dlq.discard", "dashboard", "test traffic")
    assert entry.changes == {"resolution": ["open", "discarded"], "count": 1, "ids": [item.pk]}
    [event] = OutboxEvent.objects.filter(type__startswith="dlq.")
    assert event.type == "dlq.discarded" and event.data["reason"] == "test traffic"

    with pytest.raises(DlqItemNotOpen):
        dlq_discard(failure_id=item.pk, reason="again", actor=operator_actor, source="api")
    with pytest.raises(DlqItemNotOpen):
        dlq_retry(failure_ids=[item.pk], actor=operator_actor, source="api")


def test_discard_several_is_one_operation(dlq, operator_actor):
    result = dlq_discard(failure_ids=[dlq["a"].pk, dlq["c"].pk], reason="duplicates", actor=operator_actor, source="admin")
    assert set(result.ids) == {dlq["a"].pk, dlq["c"].pk}
    assert _audit().count() == 1 and len(_events("dlq.discarded")) == 1


def test_depth_alarm_fires_once_per_crossing(make_source, make_destination, operator_actor, settings):
    from django.db import transaction

    settings.DLQ_ALERT_THRESHOLD = 2
    destination = make_destination("billing")
    source = make_source("stripe", "stripe", destinations=[destination])

    def add() -> str | None:
        with transaction.atomic():
            make_dlq_item(source, destination)
            return dlq_depth_check()  # what the delivery engine calls after creating/reopening a failure

    assert [add(), add()] == [None, None]  # depth 1, 2: not above 2
    assert add() == EVENT_THRESHOLD_EXCEEDED  # 3 > 2
    assert [add(), add()] == [None, None]  # still above: no repeat
    [exceeded] = _events(EVENT_THRESHOLD_EXCEEDED)
    assert exceeded.data == {"depth": 3, "threshold": 2}

    # Operators drain it: the alarm clears once, then re-arms.
    dlq_retry(filters={"source": "stripe"}, since=timezone.now() - timedelta(hours=1), actor=operator_actor, source="api")
    assert len(_events(EVENT_THRESHOLD_CLEARED)) == 1
    assert [add(), add()] == [None, None]
    assert add() == EVENT_THRESHOLD_EXCEEDED
    assert len(_events(EVENT_THRESHOLD_EXCEEDED)) == 2


def test_depth_check_refuses_to_run_outside_a_transaction(transactional_db):
    with pytest.raises(RuntimeError):
        dlq_depth_check()


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("2d", 172_800), ("90s", 90), (" 1w ", 604_800)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "0m", "1.5h", "99999999d", "1h30m", "１h"])
def test_bad_durations_are_refused_with_a_readable_message(text):
    with pytest.raises(ValueError, match="duration|positive|at most"):
        parse_duration(text)


def test_since_accepts_iso_instants():
    assert parse_since("2026-05-01T10:00:00Z").isoformat() == "2026-05-01T10:00:00+00:00"
    with pytest.raises(ValueError):
        parse_since("yesterday")


def test_bad_filters_name_the_field(dlq, operator_actor):
    with pytest.raises(DlqFilterError) as wildcard:
        dlq_retry(filters={"event_type": "*.failed"}, actor=operator_actor, source="api")
    assert wildcard.value.field == "event_type"
    with pytest.raises(DlqFilterError) as unknown:
        dlq_retry(filters={"colour": "red"}, actor=operator_actor, source="api")
    assert unknown.value.field == "colour"

"""Services: versions are immutable, every change is one audit entry and one event; diffs; reviews."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from runbooks import diffing, services
from runbooks.models import Runbook, RunbookVersion
from runbooks.names import Action, Event
from runbooks.selectors import is_overdue, review_state, runbooks_overdue

from .conftest import body

pytestmark = pytest.mark.django_db


def _entries(runbook, action):
    return list(AuditEntry.objects.filter(target_type="runbooks.runbook", target_id=str(runbook.pk), action=action))


def test_create_writes_version_one_one_audit_entry_and_one_event(operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        rb = services.runbook_create(title="Queue overload", body=body(), actor=Actor(user=operator), source="test")
    assert rb.slug == "queue-overload" and rb.status == "draft"
    assert rb.current_version.number == 1 and rb.current_version.author == operator
    [entry] = _entries(rb, Action.CREATE)
    assert entry.actor_user_id == operator.pk and entry.changes["version"] == [None, 1]
    assert list(OutboxEvent.objects.filter(aggregate_id=str(rb.pk)).values_list("type", flat=True)) == [Event.CREATED]
    assert len(callbacks) == 1  # the relay, after commit


def test_edit_adds_a_version_keeps_the_earlier_one_and_audits_once(make_runbook, operator):
    rb = make_runbook()
    v1_body = rb.current_version.body
    updated = services.runbook_update(runbook_id=rb.pk, body=body("\nPage the payments lead.\n"), change_note="who to page",
                                      actor=Actor(user=operator), source="test")
    assert updated.current_version.number == 2
    v1 = RunbookVersion.objects.get(runbook=rb, number=1)
    assert v1.body == v1_body and "Page the payments lead" not in v1.body
    assert [e.changes for e in _entries(rb, Action.UPDATE)] == [{"version": [1, 2]}]
    assert OutboxEvent.objects.filter(type=Event.UPDATED, aggregate_id=str(rb.pk)).count() == 1
    lines = diffing.unified(v1.body, updated.current_version.body)
    assert [line.text for line in lines if line.kind == "add"] == ["+", "+Page the payments lead."]
    assert not [line for line in lines if line.kind == "del"]
    rows = diffing.side_by_side(v1.body, "Changed\n" + v1.body.split("\n", 1)[1])
    assert rows[0].kind == "replace" and rows[0].left == "# Title" and rows[0].right == "Changed"


def test_an_unchanged_save_writes_nothing(make_runbook, operator):
    rb = make_runbook()
    services.runbook_update(runbook_id=rb.pk, body=rb.body, title=rb.title, actor=Actor(user=operator), source="test")
    assert RunbookVersion.objects.filter(runbook=rb).count() == 1
    assert not _entries(rb, Action.UPDATE)


def test_metadata_change_without_body_change_adds_no_version(make_runbook, operator):
    rb = make_runbook()
    services.runbook_update(runbook_id=rb.pk, severity="P0", actor=Actor(user=operator), source="test")
    assert RunbookVersion.objects.filter(runbook=rb).count() == 1
    assert [e.changes for e in _entries(rb, Action.UPDATE)] == [{"severity": ["P2", "P0"]}]


def test_versions_cannot_be_rewritten(make_runbook):
    version = make_runbook().current_version
    version.body = "tampered"
    with pytest.raises(ValueError, match="immutable"):
        version.save()


@pytest.mark.parametrize("missing", ["Symptoms", "Diagnosis", "Resolution", "Rollback", "Communication"])
def test_a_body_missing_a_section_is_refused_naming_it(missing, operator):
    text = body().replace(f"## {missing}", "## Notes")
    with pytest.raises(ValidationError) as exc:
        services.runbook_create(title="X", body=text, actor=Actor(user=operator), source="test")
    assert exc.value.message_dict == {"body": [f"missing required section(s): {missing}"]}
    assert not Runbook.objects.exists()


def test_bad_matchers_are_refused_on_the_matchers_field(operator):
    with pytest.raises(ValidationError) as exc:
        services.runbook_create(title="X", body=body(), matchers=[{"label": "a", "op": "=~", "value": "("}],
                                actor=Actor(user=operator), source="test")
    assert "invalid regular expression" in exc.value.message_dict["matchers"][0]


def test_publish_and_archive_are_audited_state_changes(make_runbook, operator):
    rb = make_runbook(status="draft")
    services.runbook_publish(runbook_id=rb.pk, actor=Actor(user=operator), source="test")
    services.runbook_archive(runbook_id=rb.pk, actor=Actor(user=operator), source="test")
    services.runbook_archive(runbook_id=rb.pk, actor=Actor(user=operator), source="test")  # no-op
    assert [e.changes for e in _entries(rb, Action.PUBLISH)] == [{"status": ["draft", "published"]}]
    assert [e.changes for e in _entries(rb, Action.ARCHIVE)] == [{"status": ["published", "archived"]}]


def test_overdue_with_a_controlled_clock_and_mark_reviewed_clears_it(make_runbook, operator):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        rb = make_runbook(review_interval_days=30)
        assert review_state(rb) == "ok"
    with time_machine.travel(start + timedelta(days=20), tick=False):
        assert review_state(Runbook.objects.get(pk=rb.pk)) == "due-soon"
    with time_machine.travel(start + timedelta(days=31), tick=False):
        rb = Runbook.objects.get(pk=rb.pk)
        assert is_overdue(rb) and [row.runbook.slug for row in runbooks_overdue()] == [rb.slug]
        services.runbook_mark_reviewed(runbook_id=rb.pk, actor=Actor(user=operator), source="test", note="checked")
        rb = Runbook.objects.get(pk=rb.pk)
        assert not is_overdue(rb) and runbooks_overdue() == []
        assert rb.last_reviewed_by == operator and rb.last_reviewed_at == timezone.now()
    [entry] = _entries(rb, Action.REVIEW)
    assert entry.reason == "checked" and entry.actor_user_id == operator.pk
    assert OutboxEvent.objects.filter(type=Event.REVIEWED).count() == 1
    with time_machine.travel(start + timedelta(days=62), tick=False):
        assert is_overdue(Runbook.objects.get(pk=rb.pk))  # due again one interval after the review


def test_archived_runbooks_are_never_overdue(make_runbook):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        rb = make_runbook(review_interval_days=1, status="archived")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        assert not is_overdue(Runbook.objects.get(pk=rb.pk))

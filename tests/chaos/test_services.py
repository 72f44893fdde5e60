"""Drill lifecycle services: rows, one audit entry each, outbox events, refusals."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from audit.actors import Actor
from audit.models import AuditEntry
from chaos import services
from chaos.models import ChaosDrill
from chaos.names import Action
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_create_submit_approve_schedule_each_audited_and_emitted(make_drill, creator, approver):
    drill = make_drill(parameters={"error": 503, "rate_percent": 50}, schedule={"cron": "*/5 * * * *", "timezone": "Europe/Berlin"})
    assert drill.state == ChaosDrill.State.DRAFT and drill.created_by == creator
    services.drill_submit(drill_id=drill.pk, actor=Actor(user=creator), source="test")
    services.drill_approve(drill_id=drill.pk, actor=Actor(user=approver), source="test")
    drill = services.drill_schedule(drill_id=drill.pk, actor=Actor(user=creator), source="test")
    assert drill.state == ChaosDrill.State.SCHEDULED and drill.approved_by == approver
    task = PeriodicTask.objects.get(pk=drill.periodic_task_id)
    assert task.task == "chaos.start_slot" and task.crontab.minute == "*/5" and str(task.crontab.timezone) == "Europe/Berlin"
    actions = list(AuditEntry.objects.filter(target_id=str(drill.pk), action__startswith="chaos.drill").values_list("action", flat=True))
    assert sorted(actions) == sorted([Action.DRILL_CREATE, Action.DRILL_SUBMIT, Action.DRILL_APPROVE, Action.DRILL_SCHEDULE])
    types = set(OutboxEvent.objects.filter(type__startswith="chaos.drill").values_list("type", flat=True))
    assert {"chaos.drill_created", "chaos.drill_approved", "chaos.drill_scheduled"} <= types


def test_one_off_schedule_is_a_clocked_one_off_task(scheduled_drill):
    drill = scheduled_drill()
    task = PeriodicTask.objects.get(pk=drill.periodic_task_id)
    assert task.one_off and task.clocked is not None and task.crontab is None


def test_editing_an_approved_drill_sends_it_back_to_pending_approval(scheduled_drill, creator):
    drill = scheduled_drill()
    drill = services.drill_update(drill_id=drill.pk, actor=Actor(user=creator), source="test", duration_seconds=30)
    assert drill.state == ChaosDrill.State.PENDING_APPROVAL and drill.approved_by is None
    assert PeriodicTask.objects.get(pk=drill.periodic_task_id).enabled is False


@pytest.mark.parametrize(("fields", "key"), [
    ({"parameters": {"rate_percent": 0}}, "parameters"),
    ({"parameters": {"bogus": 1}}, "parameters"),
    ({"targets": ["payments-db"]}, "targets"),
    ({"duration_seconds": 999999}, "duration_seconds"),
    ({"schedule": {"at": "tomorrow"}}, "schedule"),
    ({"schedule": {"cron": "* * *"}}, "schedule"),
    ({"schedule": {"cron": "* * * * *", "timezone": "Mars/Olympus"}}, "schedule"),
    ({"blast_radius": 0}, "blast_radius"),
])
def test_invalid_drills_are_refused_with_the_field(make_drill, fields, key):
    with pytest.raises(ValidationError) as info:
        make_drill(**fields)
    assert key in info.value.message_dict
    assert not ChaosDrill.objects.exists()


def test_unknown_scenario(make_drill):
    with pytest.raises(ValidationError):
        make_drill("meteor-strike")


def test_cancel_pauses_beat(scheduled_drill, creator):
    drill = scheduled_drill()
    drill = services.drill_cancel(drill_id=drill.pk, actor=Actor(user=creator), source="test", reason="not today")
    assert drill.state == ChaosDrill.State.CANCELLED
    assert PeriodicTask.objects.get(pk=drill.periodic_task_id).enabled is False

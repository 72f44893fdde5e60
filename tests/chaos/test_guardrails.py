"""Role matrix and guardrails: who may act, refused in production/disabled/kill switch/blackout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actors import Actor
from chaos import services
from chaos.engine.slots import start_due_slot
from chaos.models import ChaosDrill, ChaosRun
from tests.chaos.helpers import open_p1

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["operator", "support", "auditor"])
def test_other_roles_cannot_create(make_drill, make_user, role):
    with pytest.raises(services.ChaosPermissionDenied):
        make_drill(by=make_user(f"u-{role}", role))


def test_the_creator_cannot_approve_their_own_and_another_chaos_operator_can(make_drill, creator, approver):
    drill = make_drill()
    services.drill_submit(drill_id=drill.pk, actor=Actor(user=creator), source="test")
    with pytest.raises(services.ChaosPermissionDenied, match="creator"):
        services.drill_approve(drill_id=drill.pk, actor=Actor(user=creator), source="test")
    assert ChaosDrill.objects.get(pk=drill.pk).state == ChaosDrill.State.PENDING_APPROVAL
    drill = services.drill_approve(drill_id=drill.pk, actor=Actor(user=approver), source="test")
    assert drill.state == ChaosDrill.State.APPROVED


def test_a_superuser_may_approve_and_an_operator_may_not(make_drill, creator, make_user):
    drill = make_drill()
    with pytest.raises(services.ChaosPermissionDenied):
        services.drill_approve(drill_id=drill.pk, actor=Actor(user=make_user("op", "operator")), source="test")
    root = make_user("root", superuser=True)
    assert services.drill_approve(drill_id=drill.pk, actor=Actor(user=root), source="test").approved_by == root


def test_read_tokens_and_anonymous_cannot_act(make_drill, issue_token):
    from opsportal.accounts.models import IntegrationToken

    issue_token("read", service="ro")
    token = IntegrationToken.objects.get(service__name="ro")
    with pytest.raises(services.ChaosPermissionDenied):
        services.drill_create(scenario="dependency-failure", name="x", actor=Actor(token=token), source="test",
                              targets=["webhook-destination-1"])
    with pytest.raises(services.ChaosPermissionDenied):
        services.drill_create(scenario="dependency-failure", name="x", actor=Actor.for_system("anonymous"), source="test",
                              targets=["webhook-destination-1"])


def test_refused_in_production_at_creation(make_drill, chaos_settings):
    chaos_settings.OPSPORTAL_ENV = "production"
    with pytest.raises(services.ChaosRefused, match="OPSPORTAL_ENV=production"):
        make_drill()
    assert not ChaosDrill.objects.exists()


def test_refused_when_disabled_at_creation(make_drill, chaos_settings):
    chaos_settings.OPSPORTAL_CHAOS_ENABLED = False
    with pytest.raises(services.ChaosRefused, match="disabled"):
        make_drill()


@pytest.mark.parametrize("change", ["production", "disabled"])
def test_a_drill_created_in_staging_never_runs_in_production_or_disabled(scheduled_drill, chaos_settings, change):
    drill = scheduled_drill()
    if change == "production":
        chaos_settings.OPSPORTAL_ENV = "production"
    else:
        chaos_settings.OPSPORTAL_CHAOS_ENABLED = False
    result = start_due_slot(drill.pk, execute=False)
    assert not result.started
    run = ChaosRun.objects.get(drill=drill)
    assert run.state == ChaosRun.State.SKIPPED and ("production" in run.reason or "disabled" in run.reason)


def test_blackout_window_skips_the_start(scheduled_drill, chaos_settings):
    now = timezone.now()
    chaos_settings.CHAOS_BLACKOUT_WINDOWS = [{"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}]
    drill = scheduled_drill()
    result = start_due_slot(drill.pk, execute=False)
    assert not result.started and "blackout" in result.run.reason


def test_kill_switch_refuses_new_starts_until_released(scheduled_drill, creator):
    drill = scheduled_drill()
    services.kill_switch_engage(reason="game day over", actor=Actor(user=creator), source="test")
    with pytest.raises(services.ChaosRefused, match="kill switch"):
        services.drill_create(scenario="dependency-failure", name="y", targets=["webhook-destination-1"],
                              actor=Actor(user=creator), source="test")
    result = start_due_slot(drill.pk, execute=False)
    assert not result.started and "kill switch" in result.run.reason
    services.kill_switch_release(actor=Actor(user=creator), source="test")
    later = scheduled_drill(at=timezone.now().replace(microsecond=0) + timedelta(seconds=1))
    assert start_due_slot(later.pk, execute=False, now=timezone.now() + timedelta(seconds=1)).started


def test_an_unrelated_p1_incident_refuses_the_start(scheduled_drill):
    drill = scheduled_drill()
    open_p1("payments down")
    result = start_due_slot(drill.pk, execute=False)
    assert not result.started and "P1" in result.run.reason

"""API, /ops/chaos/ and the admin: the role matrix through every interface, problem+json refusals."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.actors import Actor
from chaos import services
from chaos.models import ChaosDrill, ChaosKillSwitch

pytestmark = pytest.mark.django_db

BODY = {"scenario": "dependency-failure", "name": "orders 503", "parameters": {"error": 503, "rate_percent": 50},
        "targets": ["webhook-destination-1"], "duration_seconds": 30, "schedule": {"at": "2030-01-01T10:00:00Z"}}


def _client(user=None, token=None):
    client = APIClient()
    if user is not None:
        client.force_login(user)
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize("role", ["operator", "support", "auditor"])
def test_only_chaos_operators_create_through_the_api(chaos_settings, make_user, role):
    response = _client(make_user(f"u-{role}", role)).post("/api/v1/chaos/drills/", BODY, format="json")
    assert response.status_code == 403 and response["Content-Type"].startswith("application/problem+json")
    assert not ChaosDrill.objects.exists()


def test_create_approve_by_another_schedule_through_the_api(chaos_settings, creator, approver):
    response = _client(creator).post("/api/v1/chaos/drills/", BODY, format="json")
    assert response.status_code == 201, response.content
    drill = response.json()
    assert drill["state"] == "draft" and drill["created_by"] == "cora" and drill["scenario"] == "dependency-failure"
    pk = drill["id"]
    assert _client(creator).post(f"/api/v1/chaos/drills/{pk}/submit/").status_code == 200
    own = _client(creator).post(f"/api/v1/chaos/drills/{pk}/approve/")
    assert own.status_code == 403 and "creator" in own.json()["detail"]
    ok = _client(approver).post(f"/api/v1/chaos/drills/{pk}/approve/")
    assert ok.status_code == 200 and ok.json()["approved_by"] == "abe"
    scheduled = _client(creator).post(f"/api/v1/chaos/drills/{pk}/schedule/")
    assert scheduled.status_code == 200 and scheduled.json()["state"] == "scheduled"
    assert scheduled.json()["next_slot"].startswith("2030-01-01T10:00")


def test_refused_in_production_with_a_clear_message(chaos_settings, creator):
    chaos_settings.OPSPORTAL_ENV = "production"
    response = _client(creator).post("/api/v1/chaos/drills/", BODY, format="json")
    assert response.status_code == 409 and "OPSPORTAL_ENV=production" in response.json()["detail"]


def test_invalid_parameters_are_a_400_naming_the_field(chaos_settings, creator):
    response = _client(creator).post("/api/v1/chaos/drills/", {**BODY, "parameters": {"rate_percent": 900}}, format="json")
    assert response.status_code == 400 and "parameters" in response.json()["errors"]


def test_read_tokens_read_but_cannot_act_and_anonymous_gets_nothing(chaos_settings, issue_token, make_drill, creator):
    drill = make_drill()
    read = _client(token=issue_token("read", service="ro"))
    assert read.get("/api/v1/chaos/drills/").status_code == 200
    assert read.post("/api/v1/chaos/drills/", BODY, format="json").status_code == 403
    assert read.post(f"/api/v1/chaos/drills/{drill.pk}/approve/").status_code == 403
    assert read.post("/api/v1/chaos/kill-switch/", {"reason": "x"}, format="json").status_code == 403
    anon = APIClient()
    assert anon.get("/api/v1/chaos/drills/").status_code in (401, 403)
    assert anon.post("/api/v1/chaos/kill-switch/").status_code in (401, 403)


def test_a_chaos_write_token_creates_but_cannot_approve(chaos_settings, issue_token, make_drill, creator):
    client = _client(token=issue_token("chaos:write", service="gameday"))
    response = client.post("/api/v1/chaos/drills/", BODY, format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    client.post(f"/api/v1/chaos/drills/{pk}/submit/")
    assert client.post(f"/api/v1/chaos/drills/{pk}/approve/").status_code == 403


def test_auditors_read_run_journals(chaos_settings, scheduled_drill, auditor):
    from chaos.engine.slots import start_due_slot

    drill = scheduled_drill(dry_run=True)
    run = start_due_slot(drill.pk, execute=False).run
    response = _client(auditor).get(f"/api/v1/chaos/runs/{run.pk}/")
    assert response.status_code == 200 and response.json()["state"] == "running" and "journal" in response.json()


def test_kill_switch_api(chaos_settings, creator):
    client = _client(creator)
    assert client.get("/api/v1/chaos/kill-switch/").json() == {"engaged": False}
    engaged = client.post("/api/v1/chaos/kill-switch/", {"reason": "incident bridge open"}, format="json")
    assert engaged.status_code == 200 and engaged.json()["engaged"] is True
    assert client.get("/api/v1/chaos/kill-switch/").json()["reason"] == "incident bridge open"
    released = client.delete("/api/v1/chaos/kill-switch/")
    assert released.status_code == 200 and released.json()["engaged"] is False
    assert client.delete("/api/v1/chaos/kill-switch/").status_code == 409


def test_ops_page_role_gated_and_actions_call_the_services(chaos_settings, client, make_drill, creator, approver, support_user):
    drill = make_drill()
    services.drill_submit(drill_id=drill.pk, actor=Actor(user=creator), source="test")
    client.force_login(support_user)
    page = client.get("/ops/chaos/")
    assert page.status_code == 200 and b"dependency-failure" in page.content and b"Approve</button>" not in page.content
    assert client.post(f"/ops/chaos/{drill.pk}/act/", {"action": "approve"}).status_code == 403
    client.force_login(creator)
    assert f'data-testid="approve-{drill.pk}"'.encode() not in client.get("/ops/chaos/").content  # not for its creator
    client.force_login(approver)
    assert f'data-testid="approve-{drill.pk}"'.encode() in client.get("/ops/chaos/").content
    client.post(f"/ops/chaos/{drill.pk}/act/", {"action": "approve"})
    assert ChaosDrill.objects.get(pk=drill.pk).state == "approved"
    client.post("/ops/chaos/kill-switch/", {"action": "engage", "reason": "stop"})
    assert ChaosKillSwitch.objects.filter(active=True).exists()
    assert b"ENGAGED" in client.get("/ops/chaos/").content


def test_ops_page_needs_a_login(client):
    response = client.get("/ops/chaos/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admin_pages_render(chaos_settings, admin_client, scheduled_drill):
    from chaos.engine.slots import start_due_slot

    run = start_due_slot(scheduled_drill(dry_run=True).pk, execute=False).run
    for url in ("/admin/chaos/chaosdrill/", "/admin/chaos/chaosdrill/add/", f"/admin/chaos/chaosrun/{run.pk}/change/",
                "/admin/chaos/chaosscenario/", "/admin/chaos/chaoskillswitch/", "/admin/chaos/chaosjournalentry/",
                "/admin/chaos/chaosfault/", f"/ops/chaos/runs/{run.pk}/report/"):
        assert admin_client.get(url).status_code == 200, url

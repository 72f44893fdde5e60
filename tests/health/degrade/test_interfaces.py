"""POST/DELETE /api/v1/degradation/, GET /health/degradation, the admin and the /ops/ card."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.health.degradation import Level, current_level
from reliability.health.degradation.models import DegradationOverride
from tests.health.degrade.helpers import pin

pytestmark = pytest.mark.django_db
URL = "/api/v1/degradation/"


def _body(level="SEVERE", minutes=30, reason="shed exports during incident 7"):
    return {"level": level, "reason": reason, "expires_at": (timezone.now() + timedelta(minutes=minutes)).isoformat()}


def test_an_operator_overrides_via_the_api_audited_once_with_one_event(user_client, operator,
                                                                       django_capture_on_commit_callbacks):
    client = user_client(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, _body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["level"] == "SEVERE"
    assert response.json()["override"]["set_by"] == "olivia"
    entry = AuditEntry.objects.get(action__startswith="degradation.")  # exactly one
    assert (entry.action, entry.actor_label, entry.source) == ("degradation.override_set", "olivia", "api")
    assert entry.reason == "shed exports during incident 7"
    assert entry.changes["level"] == ["NORMAL", "SEVERE"]
    assert OutboxEvent.objects.filter(type="degradation.changed").count() == 1
    assert current_level() == Level.SEVERE

    with django_capture_on_commit_callbacks(execute=True):
        cleared = client.delete(URL, {"reason": "incident over"}, format="json")
    assert cleared.status_code == 200 and cleared.json()["level"] == "NORMAL" and cleared.json()["override"] is None
    assert current_level() == Level.NORMAL
    assert AuditEntry.objects.filter(action="degradation.override_clear").count() == 1
    assert client.delete(URL, {}, format="json").status_code == 409  # nothing to clear


@pytest.mark.parametrize("who", ["support", "read_token", "alerts_token", "anonymous"])
def test_support_and_read_tokens_cannot_override(who, user_client, support_user, token_client, api_client):
    client = {
        "support": lambda: user_client(support_user),
        "read_token": lambda: token_client("read"),
        "alerts_token": lambda: token_client("alerts:write"),
        "anonymous": lambda: api_client,
    }[who]()
    response = client.post(URL, _body(), format="json")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/problem+json")
    assert not DegradationOverride.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="degradation.").exists()
    if who in ("support", "read_token"):
        assert client.get(URL).status_code == 200  # they may read it


def test_an_admin_token_may_override(token_client):
    assert token_client("admin").post(URL, _body("MINOR"), format="json").status_code == 201


@pytest.mark.parametrize("body", [
    {"level": "HIGH", "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
    {"level": 9, "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
    {"level": "SEVERE", "reason": "", "expires_at": "2099-01-01T00:00:00Z"},
    {"level": "SEVERE", "reason": "x"},
    {"level": "SEVERE", "reason": "x", "expires_at": "yesterday"},
    {"level": "SEVERE", "reason": "x", "expires_at": "2001-01-01T00:00:00Z"},
    {"level": "SEVERE", "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},  # beyond the maximum
    {"level": "SEVERE", "reason": "a\x00b", "expires_at": "2099-01-01T00:00:00Z"},
    {"level": None, "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
])
def test_bad_input_is_problem_json(user_client, operator, body):
    response = user_client(operator).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert not DegradationOverride.objects.exists()


def test_health_degradation_needs_staff_or_a_read_token(client, token_client, support_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.MODERATE, reason="drill")
    assert client.get("/health/degradation").status_code in (401, 403)
    response = token_client("read").get("/health/degradation")
    assert response.status_code == 200
    data = response.json()
    assert data["level"] == "MODERATE" and data["override"]["reason"] == "drill"
    assert data["process_view"]["level"] == "MODERATE"
    client.force_login(support_user)
    assert client.get("/health/degradation").status_code == 200


def test_the_admin_sets_and_clears_with_a_reason(client, operator, django_capture_on_commit_callbacks):
    client.force_login(operator)
    expires = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/health/degradationoverride/add/", {
            "level": "3", "reason": "maintenance of the export db",
            "expires_at_0": expires.strftime("%Y-%m-%d"), "expires_at_1": expires.strftime("%H:%M:%S"),
        })
    assert response.status_code == 302, response.content.decode()[:2000]
    override = DegradationOverride.objects.get()
    assert override.level == Level.SEVERE and override.set_by == "olivia"
    assert AuditEntry.objects.filter(action="degradation.override_set", source="admin").count() == 1
    assert current_level() == Level.SEVERE

    page = client.post("/admin/health/degradationoverride/",
                       {"action": "clear_overrides", "_selected_action": [override.pk]})
    assert page.status_code == 200 and b"reason" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/admin/health/degradationoverride/", {
            "action": "clear_overrides", "_selected_action": [override.pk], "apply": "1", "reason": "done",
        })
    assert done.status_code == 302
    override.refresh_from_db()
    assert override.cleared_by == "olivia" and override.clear_reason == "done"
    assert current_level() == Level.NORMAL


def test_the_ops_card_shows_level_override_and_expiry(client, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.SEVERE, reason="card test")
    client.force_login(operator)
    response = client.get("/ops/panels/degradation/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="degradation-level">SEVERE<' in html
    assert "card test" in html and 'data-testid="degradation-expiry"' in html


def test_degradation_events_refresh_the_health_panels():
    from opsportal.events.groups import group_for

    assert group_for("degradation.changed") == "ops.health"

"""Sign-in protection (django-axes) and auditing of logins, logouts and failures."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
LOGOUT = reverse("admin:logout")
PASSWORD = "pw-Opsportal-1"  # tests/conftest.py make_user


def login(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR="10.1.2.3")


def test_axes_is_configured():
    assert "axes" in settings.INSTALLED_APPS
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "axes.middleware.AxesMiddleware" in settings.MIDDLEWARE
    assert settings.AXES_FAILURE_LIMIT >= 3


def test_repeated_failures_lock_the_account_out(client, operator):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = login(client, "olivia", "wrong")
        assert response.status_code == 200  # the form again, with an error
    locked = login(client, "olivia", "wrong")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode().lower()
    # Now even the right password is refused, and no session is created.
    still_locked = login(client, "olivia", PASSWORD)
    assert still_locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username="olivia").failures_since_start >= limit


def test_lockout_is_per_username_and_ip(client, operator, make_user):
    make_user("sam", "support")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "olivia", "wrong")
    assert login(client, "sam", PASSWORD).status_code == 302  # another account is unaffected


def test_successful_login_writes_one_audit_entry_and_one_event(client, operator):
    response = login(client, "olivia", PASSWORD)
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_kind, entry.actor_user_id) == ("auth.login", "user", operator.pk)
    assert (entry.target_type, entry.target_id) == ("auth.user", "olivia")
    assert entry.ip == "10.1.2.3" and entry.request_id
    event = OutboxEvent.objects.get()
    assert event.type == "auth.login" and event.data["username"] == "olivia" and event.data["audit_id"] == entry.pk


def test_failed_login_writes_one_audit_entry_and_one_event(client, operator):
    login(client, "olivia", "wrong")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_kind, entry.actor_label) == ("auth.login_failed", "system", "anonymous")
    assert entry.target_id == "olivia" and entry.ip == "10.1.2.3"
    assert "wrong" not in str(entry.changes)  # never the password
    event = OutboxEvent.objects.get()
    assert event.type == "auth.login_failed" and event.data["username"] == "olivia"


def test_failed_login_for_unknown_user_is_audited_too(client):
    login(client, "mallory", "guess")
    assert AuditEntry.objects.get().action == "auth.login_failed"
    assert OutboxEvent.objects.get().type == "auth.login_failed"


def test_failed_login_with_the_longest_username_is_not_a_500(client):
    response = login(client, "m" * 150, "guess")
    assert response.status_code == 200
    entry = AuditEntry.objects.get()
    assert entry.action == "auth.login_failed" and entry.target_id == "m" * 100
    assert OutboxEvent.objects.get().data["username"] == "m" * 150


def test_logout_writes_one_audit_entry_and_one_event(client, operator):
    login(client, "olivia", PASSWORD)
    audit_before, events_before = AuditEntry.objects.count(), OutboxEvent.objects.count()
    response = client.post(LOGOUT)
    assert response.status_code == 200
    assert AuditEntry.objects.count() == audit_before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.action, entry.actor_user_id) == ("auth.logout", operator.pk)
    assert OutboxEvent.objects.count() == events_before + 1
    assert OutboxEvent.objects.order_by("-id").first().type == "auth.logout"


def test_logout_without_a_session_writes_nothing(client):
    client.post(LOGOUT)
    assert not AuditEntry.objects.exists() and not OutboxEvent.objects.exists()

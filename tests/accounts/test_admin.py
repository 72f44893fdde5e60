"""Integration tokens in the admin: issue through the service, show once, revoke with a reason."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.services import token_issue
from opsportal.catalog.services import service_create
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:accounts_integrationtoken_changelist")
ADD = reverse("admin:accounts_integrationtoken_add")
SYSTEM = Actor.for_system("test")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def billing():
    return service_create(name="billing", actor=SYSTEM, source="test")


def test_add_form_issues_through_the_service_and_shows_the_token_once(operator_client, operator, billing):
    response = operator_client.post(ADD, {"service": billing.pk, "name": "ci", "scopes": ["read", "alerts:write"]})
    assert response.status_code == 200, response.content.decode()[:2000]  # the one-time page (#8 item 9)
    assert "no-store" in response["Cache-Control"]

    token = IntegrationToken.objects.get()
    assert (token.service, token.name, token.scopes, token.created_by) == (billing, "ci", ["alerts:write", "read"], operator)
    shown = response.content.decode()
    raw = re.search(r"(ops_[0-9a-f]{8}_[A-Za-z0-9_-]{43})", shown).group(1)
    assert "Copy the token now" in shown
    assert hashlib.sha256(raw.encode()).hexdigest() == token.token_hash
    entry = AuditEntry.objects.get(action="token.issue")
    assert (entry.actor_user_id, entry.source) == (operator.pk, "admin")
    assert OutboxEvent.objects.filter(type="token.issued").count() == 1

    # Shown once: later pages never contain it.
    assert raw not in operator_client.get(CHANGELIST).content.decode()
    assert raw not in operator_client.get(reverse("admin:accounts_integrationtoken_change", args=[token.pk])).content.decode()


def test_add_form_rejects_unknown_scopes_and_past_expiry(operator_client, billing):
    response = operator_client.post(ADD, {"service": billing.pk, "scopes": ["launch:missiles"]})
    assert response.status_code == 200 and "launch:missiles" in response.content.decode()
    response = operator_client.post(
        ADD, {"service": billing.pk, "scopes": ["read"], "expires_at_0": "2000-01-01", "expires_at_1": "00:00:00"}
    )
    assert response.status_code == 200 and "must be in the future" in response.content.decode()
    assert not IntegrationToken.objects.exists()
    assert not AuditEntry.objects.filter(action="token.issue").exists()


def test_changelist_shows_the_columns(operator_client):
    token, raw = token_issue(service_name="billing", scopes=["read", "dlq:write"], actor=SYSTEM)
    page = operator_client.get(CHANGELIST).content.decode()
    for text in ("billing", token.prefix, "dlq:write, read", "Expires at", "Revoked at", "Last used at"):
        assert text in page, text
    assert token.token_hash not in page and raw not in page


def test_existing_tokens_are_read_only(operator_client):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    url = reverse("admin:accounts_integrationtoken_change", args=[token.pk])
    page = operator_client.get(url)
    assert page.status_code == 200
    assert token.token_hash not in page.content.decode()
    assert 'name="scopes"' not in page.content.decode()
    response = operator_client.post(url, {"name": "renamed", "scopes": ["admin"]})
    assert response.status_code == 403
    token.refresh_from_db()
    assert (token.name, token.scopes) == ("", ["read"])


def test_tokens_cannot_be_deleted(operator_client, admin_client):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    url = reverse("admin:accounts_integrationtoken_delete", args=[token.pk])
    assert operator_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert IntegrationToken.objects.filter(pk=token.pk).exists()


def test_revoke_action_asks_for_a_reason_then_revokes(operator_client, operator):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    keep, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    data = {"action": "revoke_tokens", "_selected_action": [token.pk]}

    confirm = operator_client.post(CHANGELIST, data)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "reason" in page and token.prefix in page and keep.prefix not in page
    token.refresh_from_db()
    assert token.revoked_at is None  # nothing happens before the reason is given

    without_reason = operator_client.post(CHANGELIST, {**data, "apply": "1", "reason": "  "})
    assert without_reason.status_code == 200 and "This field is required" in without_reason.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None

    done = operator_client.post(CHANGELIST, {**data, "apply": "1", "reason": "laptop stolen"})
    assert done.status_code == 302
    token.refresh_from_db()
    keep.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_reason == "laptop stolen"
    assert keep.revoked_at is None
    entry = AuditEntry.objects.get(action="token.revoke")
    assert (entry.actor_user_id, entry.reason, entry.source) == (operator.pk, "laptop stolen", "admin")
    assert OutboxEvent.objects.filter(type="token.revoked").count() == 1


def test_auditor_sees_tokens_but_cannot_issue_or_revoke(client, auditor):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    client.force_login(auditor)
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and token.prefix in page.content.decode()
    assert "revoke_tokens" not in page.content.decode()
    assert client.get(ADD).status_code == 403
    client.post(CHANGELIST, {"action": "revoke_tokens", "_selected_action": [token.pk], "apply": "1", "reason": "x"})
    token.refresh_from_db()
    assert token.revoked_at is None

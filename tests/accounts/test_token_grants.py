"""A token carries only scopes its issuer could use itself (#8 item 1), and travels in no cookie (#8 item 9).

Each escalation path is tried the way an operator would: the admin's add form (offered
choices and a forged POST), the service, and ``issue_token --issued-by``. There is no
token-issuing API endpoint.
"""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.accounts.grants import grantable_scopes
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.roles import ROLE_TOKEN_SCOPES
from opsportal.accounts.services import TokenScopeRefused, token_issue
from opsportal.catalog.services import service_create
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
ADD = reverse("admin:accounts_integrationtoken_add")
CHANGELIST = reverse("admin:accounts_integrationtoken_changelist")
SYSTEM = Actor.for_system("test")
TOKEN_RE = re.compile(r"ops_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def billing():
    return service_create(name="billing", actor=SYSTEM, source="test")


def refusals() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="token.issue_refused").order_by("id"))


# --- the policy -------------------------------------------------------------------------------
def test_roles_map_to_grantable_scopes_explicitly(operator, auditor, support_user, make_user):
    assert {"admin", "audit:read"}.isdisjoint(grantable_scopes(Actor(user=operator)))
    assert {"read", "alerts:write", "dlq:write", "webhooks:admin"} <= grantable_scopes(Actor(user=operator))
    assert grantable_scopes(Actor(user=auditor)) == frozenset()  # auditors may not issue tokens at all
    assert grantable_scopes(Actor(user=support_user)) == frozenset()
    assert grantable_scopes(Actor(user=make_user("root", superuser=True))) == frozenset(KNOWN_SCOPES)
    assert grantable_scopes(SYSTEM) == frozenset(KNOWN_SCOPES)
    # Every scope but `admin` is one some role uses; `admin` is for superusers only.
    assert set().union(*ROLE_TOKEN_SCOPES.values()) == set(KNOWN_SCOPES) - {"admin"}


def test_a_token_issues_at_most_its_own_scopes():
    token, _ = token_issue(service_name="svc", scopes=["read", "dlq:write"], actor=SYSTEM)
    assert grantable_scopes(Actor(token=token)) == {"read", "dlq:write"}


# --- the service -------------------------------------------------------------------------------
@pytest.mark.parametrize("scopes", [["admin"], ["audit:read"], ["read", "admin"]])
def test_the_service_refuses_an_operator_admin_or_audit_scopes_and_records_it(operator, scopes):
    with pytest.raises(TokenScopeRefused) as exc:
        token_issue(service_name="svc", scopes=scopes, actor=Actor(user=operator), source="test")
    assert "could use itself" in str(exc.value)
    assert not IntegrationToken.objects.exists()
    [entry] = refusals()
    assert (entry.actor_label, entry.source) == ("olivia", "test")
    assert entry.changes["refused"] == sorted(set(scopes) - {"read"})
    assert OutboxEvent.objects.filter(type="token.issue_refused").count() == 1


def test_the_service_lets_an_operator_grant_its_own_scopes(operator):
    token, _ = token_issue(service_name="svc", scopes=["read", "alerts:write"], actor=Actor(user=operator), source="test")
    assert token.scopes == ["alerts:write", "read"] and token.created_by == operator
    assert not refusals()


def test_people_without_the_issue_permission_may_not_issue(auditor):
    with pytest.raises(TokenScopeRefused, match="may not issue"):
        token_issue(service_name="svc", scopes=["audit:read"], actor=Actor(user=auditor), source="test")
    assert len(refusals()) == 1


# --- the admin ----------------------------------------------------------------------------------
def test_the_admin_form_offers_an_operator_only_its_own_scopes(client, operator):
    client.force_login(operator)
    page = client.get(ADD).content.decode()
    offered = set(re.findall(r'name="scopes" value="([^"]+)"', page))
    assert offered == set(ROLE_TOKEN_SCOPES["operator"])
    assert "admin" not in offered and "audit:read" not in offered


def test_the_admin_offers_a_superuser_every_scope(client, make_user):
    client.force_login(make_user("root", superuser=True))
    offered = set(re.findall(r'name="scopes" value="([^"]+)"', client.get(ADD).content.decode()))
    assert offered == set(KNOWN_SCOPES)


@pytest.mark.parametrize("scope", ["admin", "audit:read"])
def test_a_forged_admin_post_is_refused_with_a_clear_error_and_audited(client, operator, billing, scope):
    client.force_login(operator)
    response = client.post(ADD, {"service": billing.pk, "name": "mine", "scopes": ["read", scope]})
    assert response.status_code == 200
    assert f"you may not grant the scope {scope}" in response.content.decode()
    assert not IntegrationToken.objects.exists()
    [entry] = refusals()
    assert (entry.actor_label, entry.source, entry.changes["refused"]) == ("olivia", "admin", [scope])
    assert entry.changes["service"] == "billing"
    # ... so the operator has no way to the audit trail: its session gets 403, and no token exists.
    assert APIClient().get("/api/v1/audit/").status_code in (401, 403)


def test_a_superuser_may_issue_an_admin_token_in_the_admin(client, make_user, billing):
    client.force_login(make_user("root", superuser=True))
    response = client.post(ADD, {"service": billing.pk, "scopes": ["admin"]})
    assert response.status_code == 200 and TOKEN_RE.search(response.content.decode())
    assert IntegrationToken.objects.get().scopes == ["admin"]
    assert not refusals()


# --- issue_token ------------------------------------------------------------------------------------
def issue_cli(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_issue_token_on_an_operators_behalf_refuses_admin_and_audit_read(operator):
    for scope in ("admin", "audit:read"):
        with pytest.raises(CommandError, match=f"may not grant the scope.*{scope}"):
            issue_cli("--service", "svc", "--scopes", f"read,{scope}", "--issued-by", "olivia")
    assert not IntegrationToken.objects.exists()
    assert [e.changes["refused"] for e in refusals()] == [["admin"], ["audit:read"]]
    assert {e.source for e in refusals()} == {"cli"}


def test_issue_token_on_an_operators_behalf_grants_its_scopes(operator):
    lines = issue_cli("--service", "svc", "--scopes", "read,alerts:write", "--issued-by", "olivia")
    assert TOKEN_RE.fullmatch(lines[-1]) and "olivia may grant:" in lines[0]
    assert IntegrationToken.objects.get().created_by == operator


def test_issue_token_refuses_an_unknown_or_inactive_issuer(make_user):
    with pytest.raises(CommandError, match="no active user"):
        issue_cli("--service", "svc", "--scopes", "read", "--issued-by", "ghost")


def test_issue_token_from_the_shell_still_grants_anything():
    lines = issue_cli("--service", "svc", "--scopes", "admin")
    assert TOKEN_RE.fullmatch(lines[-1])


# --- #8 item 9: the new token never travels in a cookie --------------------------------------------
def _cookie_texts(response) -> list[str]:
    """Every cookie value the response sets, and the decoded messages in a messages cookie."""
    texts = []
    for name, morsel in response.cookies.items():
        texts.append(morsel.value)
        if name == CookieStorage.cookie_name and morsel.value:
            storage = CookieStorage(RequestFactory().get("/"))
            texts += [str(m) for m in (storage._decode(morsel.value) or [])]
    return texts


def test_messages_are_kept_server_side():
    assert settings.MESSAGE_STORAGE == "django.contrib.messages.storage.session.SessionStorage"


def test_no_cookie_and_no_session_ever_holds_a_new_token(client, operator, billing):
    client.force_login(operator)
    responses = [client.post(ADD, {"service": billing.pk, "scopes": ["read"]})]
    raw = TOKEN_RE.search(responses[0].content.decode()).group(0)  # shown on the one-time page
    secret_part = raw[len("ops_12345678_"):]  # the random part (it may itself contain "_")
    responses += [client.get(CHANGELIST), client.get(reverse("admin:index")), client.get(ADD)]
    for response in responses:
        for text in _cookie_texts(response):
            assert raw not in text and secret_part not in text
    for morsel in client.cookies.values():  # what the browser holds at the end
        assert secret_part not in morsel.value
    for session in Session.objects.all():
        assert secret_part not in str(session.get_decoded())
    assert raw not in responses[1].content.decode()  # and later pages do not show it again

"""The reason-action page and the read-only mixin, through the admins that use them."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.services import token_issue
from opsportal.common.admin import REASON_TEMPLATE, ReadOnlyAdminMixin
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
TOKENS = "/admin/accounts/integrationtoken/"


@pytest.fixture
def su_client(client, make_user):
    client.force_login(make_user("root", superuser=True))
    return client


def _token(name="t"):
    token, _ = token_issue(service_name="svc", scopes=["read"], name=name, actor=Actor.for_system("test"))
    return token


def test_reason_page_lists_the_rows_and_posts_them_back(su_client):
    token = _token("first")
    page = su_client.post(TOKENS, {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert page.status_code == 200
    assert REASON_TEMPLATE in [t.name for t in page.templates]
    html = page.content.decode()
    assert f'name="_selected_action" value="{token.pk}"' in html
    assert 'name="action" value="revoke_tokens"' in html and 'name="apply"' in html
    assert "Revoke integration tokens" in html and token.prefix in html and "audit trail" in html


def test_reason_is_required_plain_text_and_bounded(su_client):
    token = _token()
    data = {"action": "revoke_tokens", "_selected_action": [token.pk], "apply": "1"}
    for bad in ("   ", "x" * 2001, "bad\x00reason"):
        page = su_client.post(TOKENS, {**data, "reason": bad})
        assert page.status_code == 200, bad
        assert page.context["form"].errors["reason"]
    token.refresh_from_db()
    assert token.revoked_at is None and not AuditEntry.objects.filter(action="token.revoke").exists()
    done = su_client.post(TOKENS, {**data, "reason": "  rotated  "})
    assert done.status_code == 302
    entry = AuditEntry.objects.get(action="token.revoke")
    assert entry.reason == "rotated"


def test_reason_page_says_when_nothing_applies(su_client):
    token = _token()
    IntegrationToken.objects.filter(pk=token.pk).update(revoked_reason="x")
    from opsportal.accounts.services import token_revoke

    token_revoke(token_id=token.pk, actor=Actor.for_system("test"), reason="gone", source="test")
    page = su_client.post(TOKENS, {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert "None of the selected tokens is active." in page.content.decode()


def test_read_only_mixin_refuses_add_change_delete_even_to_superusers(make_user):
    class Thing(ReadOnlyAdminMixin, admin.ModelAdmin):
        pass

    request = RequestFactory().get("/")
    request.user = make_user("root2", superuser=True)
    model_admin = Thing(OutboxEvent, admin.site)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request, None)
    assert model_admin.has_view_permission(request)


def test_the_outbox_and_audit_admins_are_read_only(su_client):
    assert su_client.get("/admin/events/outboxevent/add/").status_code == 403
    assert su_client.get("/admin/audit/auditentry/add/").status_code == 403

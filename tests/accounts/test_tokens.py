"""Integration tokens: the issue_token command, the services, scopes and bookkeeping."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.services import TokenError, token_issue, token_revoke
from opsportal.catalog.models import Service
from opsportal.catalog.services import service_create
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
TOKEN_RE = re.compile(r"^ops_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")
SYSTEM = Actor.for_system("test")


def issue_cli(*args: str) -> tuple[str, list[str]]:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines[-1], lines


# --- manage.py issue_token --------------------------------------------------------------
def test_issue_token_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash():
    raw, lines = issue_cli("--service", "billing", "--scopes", "read,alerts:write")

    assert TOKEN_RE.match(raw), lines
    assert len(lines) >= 2 and raw not in lines[0]
    token = IntegrationToken.objects.get()
    assert token.service.name == "billing"
    assert token.scopes == ["alerts:write", "read"]
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(f"ops_{token.prefix}_")
    stored = json.dumps([getattr(token, f.attname) for f in IntegrationToken._meta.fields], default=str)
    assert raw not in stored and raw.split("_")[-1] not in stored  # the secret part is nowhere
    assert raw not in json.dumps(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert raw not in json.dumps(list(OutboxEvent.objects.values_list("data", flat=True)))
    # ... and it works.
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/services/").status_code == 200


def test_issue_token_creates_the_service_only_when_absent():
    service_create(name="billing", team="money", actor=SYSTEM, source="test")
    issue_cli("--service", "billing", "--scopes", "read")
    issue_cli("--service", "billing", "--scopes", "read")
    assert Service.objects.filter(name="billing").count() == 1
    assert Service.objects.get(name="billing").team == "money"
    assert IntegrationToken.objects.filter(service__name="billing").count() == 2


def test_issue_token_with_expiry():
    issue_cli("--service", "billing", "--scopes", "read", "--expires-days", "30")
    expires = IntegrationToken.objects.get().expires_at
    assert timedelta(days=29, hours=23) < expires - timezone.now() <= timedelta(days=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "read,launch:missiles"], "unknown scope(s): launch:missiles"),
        (["--scopes", " , "], "at least one scope"),
        (["--scopes", "read", "--expires-days", "0"], "future"),
        (["--scopes", "read", "--name", "n" * 101], "too long"),
    ],
)
def test_issue_token_refuses_bad_input_with_a_clear_error(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        issue_cli("--service", "billing", *args)
    assert not IntegrationToken.objects.exists()
    assert not Service.objects.exists()
    assert not AuditEntry.objects.exists()


def test_unknown_scope_error_lists_the_known_scopes():
    with pytest.raises(CommandError) as info:
        issue_cli("--service", "billing", "--scopes", "nope")
    assert all(scope in str(info.value) for scope in KNOWN_SCOPES)


def test_issue_token_refuses_a_service_name_that_is_not_a_slug():
    with pytest.raises(CommandError, match="slug"):
        issue_cli("--service", "not a slug!", "--scopes", "read")
    assert not IntegrationToken.objects.exists()


# --- services ----------------------------------------------------------------------------
def test_token_issue_writes_row_one_audit_entry_and_one_event(operator, django_capture_on_commit_callbacks):
    service_create(name="billing", actor=SYSTEM, source="test")
    audit_before, events_before = AuditEntry.objects.count(), OutboxEvent.objects.count()
    expires = timezone.now() + timedelta(days=7)

    with django_capture_on_commit_callbacks() as callbacks:
        token, raw = token_issue(
            service_name="billing", scopes=["read", "dlq:write", "read"], actor=Actor(user=operator),
            expires_at=expires, source="admin",
        )

    assert token.scopes == ["dlq:write", "read"] and token.created_by == operator
    assert AuditEntry.objects.count() == audit_before + 1
    entry = AuditEntry.objects.get(action="token.issue")
    assert (entry.actor_kind, entry.actor_user_id, entry.actor_label) == ("user", operator.pk, "olivia")
    assert entry.target_type == "accounts.integrationtoken" and entry.target_id == str(token.pk)
    assert entry.changes == {"service": "billing", "scopes": ["dlq:write", "read"], "expires_at": expires.isoformat()}
    assert entry.source == "admin"
    assert token.token_hash not in json.dumps(entry.changes) and raw not in json.dumps(entry.changes)
    assert OutboxEvent.objects.count() == events_before + 1
    event = OutboxEvent.objects.get(type="token.issued")
    assert event.aggregate_id == str(token.pk)
    assert event.data == {"service": "billing", "prefix": token.prefix, "scopes": ["dlq:write", "read"]}
    assert len(callbacks) == 1


def test_token_issue_failure_writes_nothing(operator):
    with pytest.raises(TokenError):
        token_issue(service_name="billing", scopes=["read"], actor=Actor(user=operator),
                    expires_at=timezone.now() - timedelta(seconds=1))
    assert not AuditEntry.objects.exists() and not OutboxEvent.objects.exists() and not Service.objects.exists()


def test_token_revoke_writes_row_one_audit_entry_and_one_event(operator, django_capture_on_commit_callbacks):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    audit_before, events_before = AuditEntry.objects.count(), OutboxEvent.objects.count()

    with django_capture_on_commit_callbacks() as callbacks:
        token_revoke(token_id=token.pk, actor=Actor(user=operator), reason="leaked in CI logs", source="admin")

    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_reason == "leaked in CI logs"
    assert AuditEntry.objects.count() == audit_before + 1
    entry = AuditEntry.objects.get(action="token.revoke")
    assert (entry.actor_user_id, entry.reason, entry.changes) == (operator.pk, "leaked in CI logs", {"revoked": [False, True]})
    assert entry.target_id == str(token.pk)
    assert OutboxEvent.objects.count() == events_before + 1
    assert OutboxEvent.objects.get(type="token.revoked").data == {"service": "billing", "prefix": token.prefix}
    assert len(callbacks) == 2  # the outbox relay and the token-cache invalidation


@pytest.mark.parametrize("reason", ["", "   "])
def test_token_revoke_needs_a_reason(operator, reason):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    with pytest.raises(TokenError, match="reason"):
        token_revoke(token_id=token.pk, actor=Actor(user=operator), reason=reason, source="admin")
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEntry.objects.filter(action="token.revoke").exists()


def test_token_revoke_twice_is_refused(operator):
    token, _ = token_issue(service_name="billing", scopes=["read"], actor=SYSTEM)
    token_revoke(token_id=token.pk, actor=Actor(user=operator), reason="rotate", source="admin")
    with pytest.raises(TokenError, match="already revoked"):
        token_revoke(token_id=token.pk, actor=Actor(user=operator), reason="again", source="admin")
    assert AuditEntry.objects.filter(action="token.revoke").count() == 1


# --- scopes over HTTP ----------------------------------------------------------------------
def bearer(*scopes: str) -> APIClient:
    _, raw = token_issue(service_name="integration", scopes=list(scopes), actor=SYSTEM)
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_read_token_can_list_but_not_create():
    client = bearer("read")
    assert client.get("/api/v1/services/").status_code == 200
    response = client.post("/api/v1/services/", {"name": "payments"}, format="json")
    assert response.status_code == 403
    assert "catalog:write" in response.json()["detail"]
    assert not Service.objects.filter(name="payments").exists()


def test_catalog_write_token_can_create_and_is_the_audited_actor():
    client = bearer("catalog:write")
    assert client.post("/api/v1/services/", {"name": "payments"}, format="json").status_code == 201
    entry = AuditEntry.objects.get(action="catalog.service.create", target_repr="payments")
    token = IntegrationToken.objects.get()
    assert entry.actor_kind == "token" and entry.actor_token_id == token.pk
    assert entry.actor_label == f"token:integration/{token.prefix}"


def test_catalog_write_alone_cannot_read():
    assert bearer("catalog:write").get("/api/v1/services/").status_code == 403


def test_admin_scope_implies_every_scope():
    client = bearer("admin")
    assert client.get("/api/v1/services/").status_code == 200
    assert client.post("/api/v1/services/", {"name": "payments"}, format="json").status_code == 201
    assert client.get("/api/v1/audit/").status_code == 200
    token = IntegrationToken.objects.get()
    assert all(token.has_scope(scope) for scope in KNOWN_SCOPES)


def test_read_scope_cannot_read_the_audit_trail():
    client = bearer("read")
    assert client.get("/api/v1/audit/").status_code == 403
    assert client.get("/api/v1/audit/export.csv").status_code == 403


def test_audit_read_scope_reads_the_audit_trail():
    assert bearer("audit:read").get("/api/v1/audit/").status_code == 200


def test_expired_and_revoked_tokens_are_401():
    token, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM,
                             expires_at=timezone.now() + timedelta(days=1))
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/services/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert client.get("/api/v1/services/").status_code == 401
    token_revoke(token_id=token.pk, actor=SYSTEM, reason="rotated", source="test")
    assert client.get("/api/v1/services/").status_code == 401


def test_revocation_takes_effect_at_once_although_the_token_is_cached(settings):
    settings.TOKEN_CACHE_SECONDS = 60
    token, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/services/").status_code == 200  # now cached
    token_revoke(token_id=token.pk, actor=SYSTEM, reason="leaked", source="test")
    assert client.get("/api/v1/services/").status_code == 401


def test_cached_token_is_served_without_a_query_and_still_expires(settings, django_assert_num_queries):
    settings.TOKEN_CACHE_SECONDS = 60
    expires = timezone.now() + timedelta(hours=1)
    _, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM, expires_at=expires)
    from opsportal.accounts.auth import resolve_token

    assert resolve_token(raw) is not None
    with django_assert_num_queries(0):
        assert resolve_token(raw) is not None
    with time_machine.travel(expires + timedelta(seconds=1)):
        assert resolve_token(raw) is None  # expiry is checked on every request, cached or not


def test_token_cache_ttl_bounds_staleness_for_other_processes(settings, monkeypatch):
    """A revocation written by another process (no local invalidation) is seen after the TTL."""
    from opsportal.accounts import auth

    settings.TOKEN_CACHE_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(auth, "_clock", lambda: clock[0])
    token, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM)
    assert auth.resolve_token(raw) is not None
    IntegrationToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())  # as another process would
    clock[0] += 4.9
    assert auth.resolve_token(raw) is not None  # still cached here
    clock[0] += 0.2
    assert auth.resolve_token(raw) is None


def test_last_used_at_is_written_at_most_once_a_minute():
    token, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert token.last_used_at is None
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/api/v1/services/")
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get("/api/v1/services/")
    token.refresh_from_db()
    assert token.last_used_at == start  # no write within the minute
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/api/v1/services/")
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(seconds=61)


def test_last_used_at_update_is_not_audited():
    _, raw = token_issue(service_name="integration", scopes=["read"], actor=SYSTEM)
    before = AuditEntry.objects.count()
    APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/services/")
    assert AuditEntry.objects.count() == before

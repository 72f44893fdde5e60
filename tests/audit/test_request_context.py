"""The request middleware puts request id, IP and user agent on the audit entry."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.middleware import client_ip
from audit.models import AuditEntry
from opsportal.accounts.models import IntegrationToken

pytestmark = pytest.mark.django_db


def test_api_request_entry_carries_request_id_ip_and_user_agent(operator, user_client):
    client = user_client(operator)
    response = client.post(
        "/api/v1/services/", {"name": "payments"}, format="json",
        HTTP_USER_AGENT="deploy-bot/2.1 (+ci)", HTTP_X_REQUEST_ID="req-7f3a.1",
    )
    assert response.status_code == 201, response.content
    entry = AuditEntry.objects.get(action="catalog.service.create")
    assert response["X-Request-ID"] == "req-7f3a.1" == entry.request_id
    assert entry.ip == "127.0.0.1"
    assert entry.user_agent == "deploy-bot/2.1 (+ci)"
    assert (entry.actor_kind, entry.actor_label, entry.actor_user_id) == ("user", "olivia", operator.pk)
    assert entry.source == "api"


def test_request_id_is_generated_when_absent_or_unsafe(operator, user_client):
    client = user_client(operator)
    first = client.post("/api/v1/services/", {"name": "one"}, format="json")
    second = client.post("/api/v1/services/", {"name": "two"}, format="json", HTTP_X_REQUEST_ID="bad id\nX-Evil: 1")
    ids = list(
        AuditEntry.objects.filter(action="catalog.service.create").order_by("id").values_list("request_id", flat=True)
    )
    assert ids == [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids) and ids[0] != ids[1]


def test_token_request_entry_names_the_token(token_client):
    client = token_client("catalog:write", service="deployer")
    before = AuditEntry.objects.count()
    response = client.post("/api/v1/services/", {"name": "search"}, format="json", HTTP_X_REQUEST_ID="tok-1")
    assert response.status_code == 201, response.content
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.get(action="catalog.service.create", target_repr="search")
    token = IntegrationToken.objects.get(service__name="deployer")
    assert entry.actor_kind == "token"
    assert entry.actor_token_id == token.pk and entry.actor_user_id is None
    assert entry.actor_label == f"token:deployer/{token.prefix}"
    assert entry.request_id == "tok-1"


@pytest.mark.parametrize(
    ("remote", "real_ip", "expected"),
    [
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),     # our reverse proxy on the same host
        ("172.18.0.5", "203.0.113.9", "172.18.0.5"),     # private but not a trusted proxy (TRUSTED_PROXY_CIDRS)
        ("93.184.216.34", "203.0.113.9", "93.184.216.34"),  # a stranger cannot choose its audited IP
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "'; DROP TABLE", "127.0.0.1"),
        ("::ffff:198.51.100.7", None, "198.51.100.7"),
        ("fe80::1%eth0", None, None),
        ("", None, None),
    ],
)
def test_client_ip_is_validated_and_proxy_header_trusted_only_from_the_proxy(remote, real_ip, expected):
    meta = {"REMOTE_ADDR": remote}
    if real_ip is not None:
        meta["HTTP_X_REAL_IP"] = real_ip
    request = RequestFactory().get("/", **meta)
    request.META.update(meta)
    assert client_ip(request) == expected


def test_garbage_forwarded_header_never_breaks_the_write(operator, user_client):
    client = user_client(operator)
    response = client.post("/api/v1/services/", {"name": "pay"}, format="json", HTTP_X_REAL_IP="999.1.1.1")
    assert response.status_code == 201
    assert AuditEntry.objects.get(action="catalog.service.create").ip == "127.0.0.1"


def test_failed_login_with_a_huge_username_is_audited_not_a_500(client):
    response = client.post("/admin/login/?next=/admin/", {"username": "u" * 150, "password": "wrong"})
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.target_id == "u" * 100

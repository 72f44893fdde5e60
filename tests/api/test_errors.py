"""RFC 9457 problem+json for every error under /api/ (DESIGN §6, §8)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.actors import Actor
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.services import token_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/services/"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


@pytest.fixture
def admin_client(make_user, user_client):
    return user_client(make_user("root", superuser=True))


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/nope/", "/api/v1/services/not-a-number/", "/api/"])
def test_unknown_api_path_is_404_problem(admin_client, path):
    body = assert_problem(admin_client.get(path), 404)
    assert path in body["detail"]


def test_unknown_object_is_404_problem(admin_client):
    assert_problem(admin_client.get(f"{URL}987654/"), 404)
    assert_problem(admin_client.get(f"{URL}{10**20}/"), 404)  # beyond bigint: still no 5xx


def test_pages_outside_api_keep_html_404(admin_client):
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_405_is_problem(admin_client):
    body = assert_problem(admin_client.put(URL, {}, format="json"), 405)
    assert "PUT" in body["detail"]
    assert_problem(admin_client.post("/api/v1/audit/", {}, format="json"), 405)


def test_401_without_token_names_the_scheme(api_client):
    response = api_client.get(URL)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer ops_deadbeef_nope", "Bearer " + "x" * 300, "Bearer ops_"])
def test_401_invalid_token(header):
    body = assert_problem(APIClient(HTTP_AUTHORIZATION=header).get(URL), 401)
    assert "token" in body["detail"]


def test_401_expired_token(issue_token):
    raw = issue_token("read", expires_at=timezone.now() + timedelta(hours=1))
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(URL).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert_problem(client.get(URL), 401)


def test_401_revoked_token(issue_token):
    raw = issue_token("read")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(URL).status_code == 200
    token_revoke(token_id=IntegrationToken.objects.get().pk, actor=Actor.for_system("test"), reason="leaked", source="test")
    assert_problem(client.get(URL), 401)


def test_403_names_the_missing_scope(token_client):
    body = assert_problem(token_client("read").post(URL, {"name": "payments"}, format="json"), 403)
    assert "catalog:write" in body["detail"]


def test_403_for_a_session_without_role_names_roles(make_user, user_client):
    body = assert_problem(user_client(make_user("nobody")).get(URL), 403)
    assert "operator" in body["detail"]


def test_403_csrf_failure_for_session_post_is_problem(make_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("olga", "operator"))
    body = assert_problem(client.post(URL, {"name": "payments"}, format="json"), 403)
    assert "CSRF" in body["detail"]


def test_malformed_json_is_400(token_client):
    client = token_client("catalog:write")
    body = assert_problem(client.generic("POST", URL, b'{"name": "pay', content_type="application/json"), 400)
    assert body["type"].endswith("/malformed-request")
    assert_problem(client.generic("POST", URL, b"\xff\xfe\x00garbage", content_type="application/json"), 400)


def test_wrong_types_are_400_with_field_errors(token_client):
    body = assert_problem(
        token_client("catalog:write").post(URL, {"name": 5, "tier": "high", "team": ["a"]}, format="json"), 400
    )
    assert body["type"].endswith("/validation-error")
    assert {"tier", "team"} <= set(body["errors"])


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"payments"', b"42", b"null", b"true"])
def test_non_object_bodies_are_400(token_client, payload):
    response = token_client("catalog:write").generic("POST", URL, payload, content_type="application/json")
    assert_problem(response, 400)


def test_nul_characters_in_body_are_400(token_client):
    assert_problem(token_client("catalog:write").post(URL, {"name": "pay\x00ments"}, format="json"), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(token_client, content_type):
    response = token_client("catalog:write").generic("POST", URL, b"name=payments", content_type=content_type)
    body = assert_problem(response, 415)
    assert content_type in body["detail"]


def test_body_over_the_upload_limit_is_413(token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = json.dumps({"name": "payments", "description": "x" * 2000}).encode()
    client = token_client("catalog:write")
    assert_problem(client.generic("POST", URL, payload, content_type="application/json"), 413)
    assert_problem(
        client.generic("POST", URL, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"), 413
    )


@pytest.mark.parametrize("query", ["name=a%00b", "team__nope=1&name__icontains=%00", "a%00=1"])
def test_nul_in_query_is_400_not_a_database_error(token_client, query):
    assert_problem(token_client("read").get(f"{URL}?{query}"), 400)


def test_bad_filter_values_are_400(token_client):
    assert_problem(token_client("read").get(f"{URL}?tier__lte=high"), 400)
    assert_problem(token_client("read").get("/api/v1/audit/?since=yesterday"), 403)  # read can't see audit


def test_garbage_cursor_is_404_problem(token_client):
    assert_problem(token_client("read").get(f"{URL}?cursor=%%%garbage"), 404)


def test_error_responses_carry_the_request_id(api_client):
    response = api_client.get(URL, HTTP_X_REQUEST_ID="trace-me-1")
    assert_problem(response, 401)
    assert response["X-Request-ID"] == "trace-me-1"


@pytest.mark.urls("tests.api.urls_500")
@pytest.mark.parametrize("path", ["/api/v1/test-boom/drf/", "/api/v1/test-boom/django/"])
def test_500_is_problem_json(path):
    response = Client(raise_request_exception=False).get(path)
    body = assert_problem(response, 500)
    assert body["type"].endswith("/internal-error")
    assert "RuntimeError" not in response.content.decode()  # no internals leak


@pytest.mark.urls("tests.api.urls_500")
def test_500_outside_api_is_the_html_page():
    response = Client(raise_request_exception=False).get("/ops-test-boom/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.api.urls_500")
def test_400_from_django_under_api_is_problem(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join(f"f{i}=1" for i in range(10))
    assert_problem(Client().get(f"{URL}?{query}"), 400)


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "bearer ops_x_y extra"])
def test_malformed_bearer_header_is_401_even_with_a_session(operator, user_client, header):
    client = user_client(operator)
    assert client.get(URL).status_code == 200
    assert_problem(client.get(URL, HTTP_AUTHORIZATION=header), 401)


def test_other_authorization_schemes_leave_the_session_in_charge(operator, user_client):
    assert user_client(operator).get(URL, HTTP_AUTHORIZATION="Basic b2xpdmlhOnB3").status_code == 200

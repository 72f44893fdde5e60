"""Idempotency-Key (DESIGN §7.1) against the catalog API on real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

import opsportal.catalog.api as catalog_api
from audit.models import AuditEntry
from opsportal.accounts.models import IntegrationToken
from opsportal.api.models import IdempotencyKey
from opsportal.api.tasks import purge_idempotency_keys
from opsportal.catalog.models import Service

URL = "/api/v1/services/"
PROBLEM = "application/problem+json"


@pytest.fixture
def create_calls(monkeypatch):
    """Counts how often the view body (service_create) runs."""
    calls = []
    real = catalog_api.service_create

    def counting(**kwargs):
        calls.append(kwargs["name"])
        return real(**kwargs)

    monkeypatch.setattr(catalog_api, "service_create", counting)
    return calls


def post(client, body, key, **extra):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


@pytest.mark.django_db
def test_completed_post_is_replayed_without_running_the_view(token_client, create_calls):
    client = token_client("catalog:write")
    first = post(client, {"name": "payments", "tier": 1}, "k-1")
    again = post(client, {"name": "payments", "tier": 1}, "k-1")

    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == first["Content-Type"]
    assert again.json() == first.json()
    assert create_calls == ["payments"]
    assert Service.objects.filter(name="payments").count() == 1
    assert AuditEntry.objects.filter(action="catalog.service.create", target_repr="payments").count() == 1


@pytest.mark.django_db
def test_quoted_sf_string_key_is_the_same_key(token_client, create_calls):
    client = token_client("catalog:write")
    post(client, {"name": "payments"}, "abc-123")
    again = post(client, {"name": "payments"}, '"abc-123"')
    assert again["Idempotent-Replayed"] == "true"
    assert len(create_calls) == 1


@pytest.mark.django_db
def test_same_key_with_different_body_is_422_problem(token_client, create_calls):
    client = token_client("catalog:write")
    post(client, {"name": "payments"}, "k-1")
    other = post(client, {"name": "billing"}, "k-1")

    assert other.status_code == 422
    assert other["Content-Type"] == PROBLEM
    body = other.json()
    assert body["status"] == 422 and body["type"].endswith("/idempotency-key-reused")
    assert create_calls == ["payments"]
    assert not Service.objects.filter(name="billing").exists()


@pytest.mark.django_db
def test_same_key_with_different_query_is_422(token_client, create_calls):
    client = token_client("catalog:write")
    post(client, {"name": "payments"}, "k-1")
    other = client.post(URL + "?dry_run=1", {"name": "payments"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert len(create_calls) == 1


@pytest.mark.django_db
def test_key_is_scoped_by_principal(token_client, create_calls):
    alice = token_client("catalog:write", service="alice")
    bob = token_client("catalog:write", service="bob")
    post(alice, {"name": "payments"}, "shared")
    # Another principal: neither a 422 (different body) nor a replay of alice's response.
    theirs = post(bob, {"name": "billing"}, "shared")

    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert theirs.json()["name"] == "billing"
    assert create_calls == ["payments", "billing"]


@pytest.mark.django_db
def test_session_user_and_token_are_different_principals(operator, user_client, token_client, create_calls):
    post(user_client(operator), {"name": "payments"}, "shared")
    theirs = post(token_client("catalog:write"), {"name": "billing"}, "shared")
    assert theirs.status_code == 201
    assert len(create_calls) == 2


@pytest.mark.django_db
def test_key_is_scoped_by_path_and_method(token_client, monkeypatch):
    client = token_client("catalog:write")
    one = post(client, {"name": "one"}, "k").json()
    two = post(client, {"name": "two"}, "k2").json()
    updates = []
    real = catalog_api.service_update
    monkeypatch.setattr(catalog_api, "service_update", lambda **kw: updates.append(kw) or real(**kw))

    # The same key, already used for a POST on /services/, on two other paths with PATCH.
    r1 = client.patch(f"{URL}{one['id']}/", {"team": "core"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    r2 = client.patch(f"{URL}{two['id']}/", {"team": "edge"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (r1.status_code, r2.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in r1 and "Idempotent-Replayed" not in r2
    assert len(updates) == 2
    assert set(Service.objects.filter(name__in=["one", "two"]).values_list("team", flat=True)) == {"core", "edge"}


@pytest.mark.django_db
def test_patch_is_replayed_and_fingerprinted(token_client, monkeypatch):
    client = token_client("catalog:write")
    service_id = post(client, {"name": "payments"}, "create").json()["id"]
    updates = []
    real = catalog_api.service_update
    monkeypatch.setattr(catalog_api, "service_update", lambda **kw: updates.append(kw) or real(**kw))
    url = f"{URL}{service_id}/"

    first = client.patch(url, {"team": "core"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    replay = client.patch(url, {"team": "core"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    reused = client.patch(url, {"team": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")

    assert first.status_code == 200 and first.json()["team"] == "core"
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert reused.status_code == 422 and reused["Content-Type"] == PROBLEM
    assert len(updates) == 1
    assert Service.objects.get(name="payments").team == "core"


@pytest.mark.django_db
def test_final_client_error_is_stored_and_replayed(token_client, create_calls):
    client = token_client("catalog:write")
    bad = post(client, {"name": "not a slug!"}, "k-bad")
    again = post(client, {"name": "not a slug!"}, "k-bad")
    assert bad.status_code == 400 and again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == PROBLEM
    assert again.json() == bad.json()


@pytest.mark.django_db
def test_403_releases_the_key(make_user, user_client, create_calls):
    user = make_user("newcomer")  # staff, no role yet: may not write
    client = user_client(user)
    denied = post(client, {"name": "payments"}, "k-1")
    assert denied.status_code == 403 and denied["Content-Type"] == PROBLEM
    assert not IdempotencyKey.objects.exists()

    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="operator"))
    allowed = post(client, {"name": "payments"}, "k-1")
    assert allowed.status_code == 201 and "Idempotent-Replayed" not in allowed
    assert create_calls == ["payments"]


@pytest.mark.django_db
def test_401_leaves_no_claim(issue_token, create_calls):
    anonymous = post(APIClient(), {"name": "payments"}, "k-1")
    bad_token = post(APIClient(HTTP_AUTHORIZATION="Bearer ops_nope_nope"), {"name": "payments"}, "k-1")
    raw = issue_token("catalog:write", expires_at=timezone.now() + timedelta(minutes=5))
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        expired = post(APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}"), {"name": "payments"}, "k-1")

    assert [r.status_code for r in (anonymous, bad_token, expired)] == [401, 401, 401]
    assert all(r["Content-Type"] == PROBLEM for r in (anonymous, bad_token, expired))
    assert not IdempotencyKey.objects.exists()
    assert create_calls == []


@pytest.mark.django_db
def test_5xx_releases_the_key(token_client, monkeypatch):
    client = token_client("catalog:write")
    client.raise_request_exception = False
    real = catalog_api.service_create
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database fell over")
        return real(**kwargs)

    monkeypatch.setattr(catalog_api, "service_create", flaky)
    failed = post(client, {"name": "payments"}, "k-1")
    retried = post(client, {"name": "payments"}, "k-1")

    assert failed.status_code == 500 and failed["Content-Type"] == PROBLEM
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert len(calls) == 2


@pytest.mark.django_db
def test_expired_key_is_reclaimable(token_client, create_calls):
    client = token_client("catalog:write")
    post(client, {"name": "payments"}, "k-1")
    later = timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    with time_machine.travel(later, tick=False):
        # Within the TTL this would be a 422; after it the key is free again.
        fresh = post(client, {"name": "billing"}, "k-1")
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
    assert create_calls == ["payments", "billing"]


@pytest.mark.django_db
def test_abandoned_claim_is_reclaimable_after_its_lease(token_client, create_calls):
    client = token_client("catalog:write")
    token_id = IntegrationToken.objects.get().pk
    now = timezone.now()
    claim = {"principal": f"token:{token_id}", "method": "POST", "path": URL, "key": "k-1", "fingerprint": "x"}
    IdempotencyKey.objects.create(created_at=now, expires_at=now + timedelta(hours=24), **claim)
    assert post(client, {"name": "payments"}, "k-1").status_code == 422  # held by a live claim

    IdempotencyKey.objects.all().delete()
    stale = now - timedelta(seconds=settings.IDEMPOTENCY_CLAIM_LEASE_SECONDS + 1)
    IdempotencyKey.objects.create(created_at=stale, expires_at=stale + timedelta(hours=24), **claim)
    assert post(client, {"name": "payments"}, "k-1").status_code == 201
    assert create_calls == ["payments"]


@pytest.mark.django_db
def test_purge_task_deletes_only_expired_keys(token_client):
    assert purge_idempotency_keys.name == "api.purge_idempotency_keys"
    assert any(
        entry["task"] == "api.purge_idempotency_keys" for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    client = token_client("catalog:write")
    post(client, {"name": "old"}, "old-key")
    with time_machine.travel(timezone.now() + timedelta(hours=23), tick=False):
        post(client, {"name": "recent"}, "recent-key")
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=False):
        deleted = purge_idempotency_keys.apply().get()
    assert deleted == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent-key"]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "tab\there", "ключ"])
def test_invalid_key_is_400(token_client, create_calls, key):
    response = post(token_client("catalog:write"), {"name": "payments"}, key)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/bad-idempotency-key")
    assert create_calls == []


@pytest.mark.django_db
def test_longest_valid_key_is_accepted(token_client):
    client = token_client("catalog:write")
    assert post(client, {"name": "payments"}, "k" * 255).status_code == 201
    assert post(client, {"name": "payments"}, "k" * 255)["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_get_and_paths_outside_api_v1_ignore_the_key(token_client):
    client = token_client("read")
    client.get(URL, HTTP_IDEMPOTENCY_KEY="k")
    client.get(URL, HTTP_IDEMPOTENCY_KEY="")  # not validated either: GET is idempotent already
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_the_view_once(issue_token, monkeypatch):
    """Two threads, two PostgreSQL connections, one key: one 2xx, one 409, one execution."""
    raw = issue_token("catalog:write")
    real = catalog_api.service_create
    calls = []
    finished = threading.Event()

    def slow(**kwargs):
        calls.append(threading.get_ident())
        # Hold the view until the other request has been answered, so the two really overlap
        # whatever the scheduler does; bounded (and then failing on len(calls)) if both got in.
        finished.wait(timeout=30)
        return real(**kwargs)

    monkeypatch.setattr(catalog_api, "service_create", slow)
    barrier = threading.Barrier(2)
    responses = []

    def worker():
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        try:
            barrier.wait(timeout=5)
            response = post(client, {"name": "payments"}, "concurrent")
            responses.append(response)
            finished.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict["Content-Type"] == PROBLEM and conflict["Retry-After"]
    assert len(calls) == 1
    assert Service.objects.filter(name="payments").count() == 1
    # Once the first request completed, the key replays its answer.
    replay = post(APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}"), {"name": "payments"}, "concurrent")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_session_with_another_authorization_scheme_still_claims_the_key(operator, user_client, create_calls):
    client = user_client(operator)
    post(client, {"name": "payments"}, "k-basic", HTTP_AUTHORIZATION="Basic b2xpdmlhOnB3")
    again = post(client, {"name": "payments"}, "k-basic", HTTP_AUTHORIZATION="Basic b2xpdmlhOnB3")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert create_calls == ["payments"]

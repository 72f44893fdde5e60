"""Shared fixtures: users per role, tokens, API clients, a clean Redis db."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from audit.actors import Actor
from opsportal.accounts.roles import ROLES
from tests import fastflush

fastflush.install()  # transactional tests: truncate what holds rows, keep what post_migrate writes


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Each test starts with an empty Redis database (its own db number)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


@pytest.fixture
def no_faults():
    """No injected fault before or after the test (faults live in Redis and in a local cache)."""
    from reliability import faults

    faults.fault_clear()
    yield
    faults.fault_clear()


@pytest.fixture(autouse=True)
def _degradation_held_normal():
    """Tests run at NORMAL with no level lookups (cache/database) in their query counts.

    tests/health/degrade/ drops the held snapshot to exercise the real lookups (health-degrade).
    """
    from reliability.health.degradation import state

    state.hold_local(state.Snapshot())
    yield
    state.forget_local()


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str, *roles: str, superuser: bool = False, password: str = "pw-Opsportal-1"):
        user = django_user_model.objects.create_user(
            username=username, password=password, is_staff=True, is_superuser=superuser
        )
        for role in roles:
            assert role in ROLES, role
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def operator(make_user):
    return make_user("olivia", "operator")


@pytest.fixture
def support_user(make_user):
    return make_user("sam", "support")


@pytest.fixture
def auditor(make_user):
    return make_user("audrey", "auditor")


@pytest.fixture
def chaos_operator(make_user):
    return make_user("chad", "chaos_operator")


@pytest.fixture
def issue_token(db):
    """issue_token(scopes, service="svc") -> raw token string."""
    from opsportal.accounts.services import token_issue

    def issue(*scopes: str, service: str = "integration", expires_at=None) -> str:
        _, raw = token_issue(
            service_name=service, scopes=list(scopes), actor=Actor.for_system("test"), expires_at=expires_at
        )
        return raw

    return issue


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def token_client(issue_token):
    def make(*scopes: str, service: str = "integration") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(*scopes, service=service)}")
        return client

    return make


@pytest.fixture
def user_client():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_readiness_cache():
    """/health/ready caches its results per process for 2 s (health-core): no test sees another's."""
    from reliability.health.checks import clear_cache

    clear_cache()
    yield
    clear_cache()

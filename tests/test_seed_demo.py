"""seed_demo: one user per role, catalog services, a token — and nothing more on a second run."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.roles import ROLES
from opsportal.catalog.models import Service
from opsportal.demo import seed_steps
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "services": Service.objects.count(),
        "tokens": IntegrationToken.objects.count(),
        "audit": AuditEntry.objects.count(),
        "events": OutboxEvent.objects.count(),
    }


def test_seed_demo_twice_leaves_one_user_per_role_and_the_same_counts():
    first = StringIO()
    call_command("seed_demo", stdout=first)
    after_first = counts()
    second = StringIO()
    call_command("seed_demo", stdout=second)

    assert counts() == after_first
    User = get_user_model()
    for role in ROLES:
        members = User.objects.filter(groups__name=role)
        assert members.count() == 1, role
        user = members.get()
        assert user.username == role and not user.is_superuser
        assert user.is_staff is (role != "support"), "support reads /ops/ without staff status"
        assert user.check_password(f"{role}-demo")
        assert f"{role}-demo" in second.getvalue()  # logins are printed on every run
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin-demo")
    assert after_first["services"] >= 4 and after_first["tokens"] == 1


def test_seed_demo_writes_through_services_with_audit_and_events():
    call_command("seed_demo", stdout=StringIO())
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions.count("user.create") == 5
    assert actions.count("token.issue") == 1
    assert actions.count("catalog.service.create") == Service.objects.count()
    # the seed acts as cli:seed_demo; the demo breakers' automatic transitions are the runtime's ("breaker")
    assert set(AuditEntry.objects.values_list("actor_label", flat=True)) - {"breaker"} == {"cli:seed_demo"}
    types = list(OutboxEvent.objects.values_list("type", flat=True))
    assert types.count("auth.user_created") == 5
    assert types.count("token.issued") == 1
    assert types.count("catalog.service_created") == Service.objects.count()


def test_seed_demo_prints_the_token_only_when_it_creates_it():
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert "ops_" in first.getvalue()
    assert "ops_" not in second.getvalue()
    assert "already there" in second.getvalue()


def test_seed_steps_run_in_order_and_include_the_foundation_steps():
    steps = seed_steps()
    assert [s.order for s in steps] == sorted(s.order for s in steps)
    names = [s.name for s in steps]
    assert "catalog: demo services" in names and "accounts: demo users, one per role" in names


def test_seed_demo_refuses_production(settings):
    settings.OPSPORTAL_ENV = "production"
    with pytest.raises(CommandError, match="OPSPORTAL_ENV=production"):
        call_command("seed_demo", stdout=StringIO())
    assert get_user_model().objects.count() == 0

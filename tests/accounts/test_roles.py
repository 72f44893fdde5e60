"""The four roles exist after migrate with the permissions declared in roles.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal

from opsportal.accounts.roles import ROLE_PERMISSIONS, ROLES, has_role, sync_role_permissions

pytestmark = pytest.mark.django_db


def expected(role: str) -> set[str]:
    wanted = set()
    for label, actions in ROLE_PERMISSIONS[role].items():
        app_label, model = label.split(".")
        for action in actions:
            if Permission.objects.filter(content_type__app_label=app_label, codename=f"{action}_{model}").exists():
                wanted.add(f"{app_label}.{action}_{model}")
    return wanted


def actual(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
    }


def test_the_four_roles_exist_after_migrate():
    assert set(ROLES) == {"operator", "support", "chaos_operator", "auditor"}
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_role_has_exactly_its_declared_permissions(role):
    assert actual(role) == expected(role)
    assert actual(role), f"{role} has no permissions at all"


def test_declared_core_permissions_resolve():
    """The foundation's own models must exist, or a typo silently drops a permission."""
    assert "catalog.view_service" in actual("support")
    assert "audit.view_auditentry" in actual("auditor")
    assert {"accounts.add_integrationtoken", "accounts.change_integrationtoken"} <= actual("operator")
    assert "accounts.change_integrationtoken" not in actual("auditor")


def test_post_migrate_resyncs_permissions():
    """Permissions are re-synced by the post_migrate hook (so later apps extend roles in code)."""
    for role in ROLES:
        Group.objects.get(name=role).permissions.clear()
    Group.objects.get(name="support").permissions.add(Permission.objects.get(codename="delete_service"))

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    for role in ROLES:
        assert actual(role) == expected(role)


def test_sync_recreates_a_deleted_group():
    Group.objects.filter(name="auditor").delete()
    sync_role_permissions()
    assert actual("auditor") == expected("auditor")


def test_has_role(make_user):
    operator = make_user("o", "operator")
    root = make_user("root", superuser=True)
    inactive = make_user("gone", "operator")
    inactive.is_active = False
    assert has_role(operator, "operator") and not has_role(operator, "auditor")
    assert has_role(root, "auditor")
    assert not has_role(inactive, "operator")
    assert not has_role(None, "operator")

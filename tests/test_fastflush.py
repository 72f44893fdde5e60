"""The transactional teardown (tests/fastflush.py) leaves the state Django's flush would.

The tests run in file order: the first leaves rows behind and changes a role's permissions, the
second finds the rows gone and the role restored.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from opsportal.accounts.roles import ROLE_PERMISSIONS
from opsportal.catalog.models import Service

pytestmark = pytest.mark.django_db(transaction=True)


def test_leaves_rows_and_a_changed_role_behind():
    User.objects.create_user("left-behind")
    Service.objects.create(name="left-behind")
    Group.objects.get(name="support").permissions.clear()
    # committed (no transaction wraps a transactional test): only the teardown can undo them
    assert User.objects.filter(username="left-behind").exists() and Service.objects.count() == 1
    assert not Group.objects.get(name="support").permissions.exists()


_seen: dict[str, set[int]] = {}


def test_finds_the_rows_gone_and_the_role_restored():
    assert not User.objects.filter(username="left-behind").exists()
    assert not Service.objects.exists()
    assert Group.objects.get(name="support").permissions.count() == sum(
        len(actions) for actions in ROLE_PERMISSIONS["support"].values())
    _seen["groups"] = set(Group.objects.values_list("pk", flat=True))
    User.objects.create_user("another")


def test_unchanged_reference_tables_are_kept_not_recreated():
    """Django's flush would have re-created the groups under new ids; the fast path kept them."""
    assert not User.objects.exists()
    assert set(Group.objects.values_list("pk", flat=True)) == _seen["groups"]

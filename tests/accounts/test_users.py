"""People and their privileges (#7 item 4): services, the rebuilt auth admin and the commands.

Each privilege change writes exactly one audit entry with before/after and one event, from
the admin and from the commands; only superusers (and the shell) may make them; a password
or its hash never reaches an audit entry, an event or a log line.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.accounts.services import (
    UserChangeRefused,
    token_issue,
    user_create,
    user_deactivate,
    user_roles_set,
    user_set_password,
    user_set_staff,
    user_set_superuser,
)
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db
User = get_user_model()
SYSTEM = Actor.for_system("test")
SECRET = "Correct-Horse-Battery-9"
USERS = reverse("admin:auth_user_changelist")


def change_url(user) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


@pytest.fixture
def root(make_user):
    return make_user("root", superuser=True)


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def events(type_: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=type_).order_by("id"))


def assert_one(action: str, event: str) -> AuditEntry:
    found = entries(action)
    assert len(found) == 1, [e.changes for e in found]
    assert len(events(event)) == 1
    return found[0]


def no_secret_anywhere(user, *texts: str) -> None:
    """Neither the password nor its hash (nor the hash's salted part) is stored outside the user row."""
    user.refresh_from_db()
    secrets = [SECRET, user.password, user.password.split("$")[-1]]
    blob = json.dumps([
        list(AuditEntry.objects.values("changes", "target_repr", "reason", "actor_label")),
        list(OutboxEvent.objects.values("data")),
    ], default=str)
    for secret in secrets:
        assert secret not in blob
        for text in texts:
            assert secret not in text


# --- services -----------------------------------------------------------------------------------
def test_user_create_is_one_entry_one_event_with_roles_and_no_password():
    user = user_create(username="alice", password=SECRET, roles=["operator"], actor=SYSTEM, source="test")
    assert user.check_password(SECRET) and user.is_staff and not user.is_superuser
    assert sorted(user.groups.values_list("name", flat=True)) == ["operator"]
    entry = assert_one("user.create", "auth.user_created")
    assert entry.changes["roles"] == [None, ["operator"]]
    assert entry.changes["is_staff"] == [None, True]
    assert entry.changes["has_password"] == [None, True]
    assert (entry.target_type, entry.target_id) == ("auth.user", str(user.pk))
    no_secret_anywhere(user)


def test_user_create_validates_username_roles_and_uniqueness():
    with pytest.raises(ValidationError):
        user_create(username="bad name!", actor=SYSTEM, source="test")
    with pytest.raises(ValidationError, match="unknown role"):
        user_create(username="bob", roles=["god"], actor=SYSTEM, source="test")
    user_create(username="bob", actor=SYSTEM, source="test")
    with pytest.raises(ValidationError):
        user_create(username="bob", actor=SYSTEM, source="test")
    assert len(entries("user.create")) == 1
    assert not User.objects.get(username="bob").has_usable_password()


def test_roles_set_records_before_and_after_and_nothing_when_unchanged(make_user):
    user = make_user("carol", "support")
    user_roles_set(user_id=user.pk, roles=["support", "auditor"], actor=SYSTEM, source="test", reason="review")
    entry = assert_one("user.roles_set", "auth.user_roles_changed")
    assert entry.changes == {"roles": [["support"], ["auditor", "support"]]}
    assert entry.reason == "review"
    assert events("auth.user_roles_changed")[0].data["added"] == ["auditor"]
    user_roles_set(user_id=user.pk, roles=["auditor", "support"], actor=SYSTEM, source="test")
    assert len(entries("user.roles_set")) == 1  # no change, no entry


@pytest.mark.parametrize(
    ("service", "kwargs", "action", "event", "field", "before", "after"),
    [
        (user_deactivate, {}, "user.deactivate", "auth.user_deactivated", "is_active", True, False),
        (user_set_superuser, {"is_superuser": True}, "user.superuser_set", "auth.user_superuser_changed", "is_superuser", False, True),
        (user_set_staff, {"is_staff": False}, "user.staff_set", "auth.user_staff_changed", "is_staff", True, False),
    ],
)
def test_flag_services(make_user, service, kwargs, action, event, field, before, after):
    user = make_user("dave", "operator")
    service(user_id=user.pk, actor=SYSTEM, source="test", **kwargs)
    entry = assert_one(action, event)
    assert entry.changes == {field: [before, after]}
    user.refresh_from_db()
    assert getattr(user, field) is after
    service(user_id=user.pk, actor=SYSTEM, source="test", **kwargs)  # idempotent
    assert len(entries(action)) == 1


def test_only_superusers_and_the_shell_manage_users_and_refusals_are_audited(make_user, operator):
    target = make_user("erin", "support")
    operator_actor = Actor(user=operator)
    for call in (
        lambda: user_roles_set(user_id=target.pk, roles=["operator"], actor=operator_actor, source="test"),
        lambda: user_set_superuser(user_id=operator.pk, is_superuser=True, actor=operator_actor, source="test"),
        lambda: user_create(username="mallory", roles=["auditor"], actor=operator_actor, source="test"),
        lambda: user_deactivate(user_id=target.pk, actor=operator_actor, source="test"),
    ):
        with pytest.raises(UserChangeRefused):
            call()
    operator.refresh_from_db()
    assert not operator.is_superuser and not User.objects.filter(username="mallory").exists()
    assert list(target.groups.values_list("name", flat=True)) == ["support"]
    refused = entries("user.change_refused")
    assert [e.changes["attempted"] for e in refused] == [
        "user.roles_set", "user.superuser_set", "user.create", "user.deactivate"]
    assert {e.actor_label for e in refused} == {"olivia"}
    assert len(events("auth.user_change_refused")) == 4
    token, _ = token_issue(service_name="svc", scopes=["admin"], actor=SYSTEM)
    with pytest.raises(UserChangeRefused):  # nor may an integration token, even an admin one
        user_deactivate(user_id=target.pk, actor=Actor(token=token), source="test")


def test_a_superuser_cannot_lock_itself_out(root):
    with pytest.raises(ValidationError):
        user_deactivate(user_id=root.pk, actor=Actor(user=root), source="test")
    with pytest.raises(ValidationError):
        user_set_superuser(user_id=root.pk, is_superuser=False, actor=Actor(user=root), source="test")


def test_password_change_is_audited_without_the_password(make_user, caplog):
    user = make_user("frank")
    with caplog.at_level(logging.DEBUG):
        user_set_password(user_id=user.pk, password=SECRET, actor=SYSTEM, source="test")
    entry = assert_one("user.password_set", "auth.user_password_changed")
    assert entry.changes == {"has_password": True}
    no_secret_anywhere(user, caplog.text)


# --- the admin ----------------------------------------------------------------------------------
def _change_data(user, **overrides) -> dict:
    data = {
        "username": user.username, "email": user.email, "first_name": "", "last_name": "",
        "is_active": "on" if user.is_active else "", "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(g.pk) for g in user.groups.all()],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def test_admin_add_user_with_a_role_is_one_create_entry(root_client, caplog):
    operator_group = Group.objects.get(name="operator")
    with caplog.at_level(logging.DEBUG):
        response = root_client.post(reverse("admin:auth_user_add"), {
            "username": "gina", "usable_password": "true", "password1": SECRET, "password2": SECRET,
            "email": "gina@example.com", "groups": [operator_group.pk],
        })
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(username="gina")
    assert user.check_password(SECRET) and user.is_staff
    entry = assert_one("user.create", "auth.user_created")
    assert (entry.source, entry.actor_label, entry.changes["roles"]) == ("admin", "root", [None, ["operator"]])
    assert not entries("user.roles_set")  # the m2m save did not bypass the service
    no_secret_anywhere(user, caplog.text)


def test_admin_adding_a_role_is_exactly_one_entry_with_before_and_after(root_client, make_user):
    user = make_user("hank", "support")
    auditor = Group.objects.get(name="auditor")
    data = _change_data(user, groups=[str(g.pk) for g in user.groups.all()] + [str(auditor.pk)])
    response = root_client.post(change_url(user), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = assert_one("user.roles_set", "auth.user_roles_changed")
    assert entry.changes == {"roles": [["support"], ["auditor", "support"]]}
    assert entry.source == "admin"
    assert AuditEntry.objects.exclude(action="auth.login").count() == 1  # nothing else was written


@pytest.mark.parametrize(
    ("field", "value", "action", "event"),
    [
        ("is_superuser", "on", "user.superuser_set", "auth.user_superuser_changed"),
        ("is_staff", "", "user.staff_set", "auth.user_staff_changed"),
        ("is_active", "", "user.deactivate", "auth.user_deactivated"),
    ],
)
def test_admin_status_changes_are_one_entry_each(root_client, make_user, field, value, action, event):
    user = make_user("ivan", "operator")
    before = getattr(user, field)
    response = root_client.post(change_url(user), _change_data(user, **{field: value}))
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = assert_one(action, event)
    assert entry.changes == {field: [before, not before]}
    assert AuditEntry.objects.exclude(action="auth.login").count() == 1


def test_admin_deactivate_action_asks_for_a_reason(root_client, make_user, root):
    user = make_user("judy", "operator")
    data = {"action": "deactivate_users", "_selected_action": [user.pk, root.pk]}
    page = root_client.post(USERS, data)
    assert page.status_code == 200 and "judy" in page.content.decode()
    assert f'value="{root.pk}"' not in page.content.decode()  # you cannot deactivate yourself
    done = root_client.post(USERS, {**data, "apply": "1", "reason": "left the company"})
    assert done.status_code == 302
    entry = assert_one("user.deactivate", "auth.user_deactivated")
    assert entry.reason == "left the company"
    root.refresh_from_db()
    assert root.is_active


def test_admin_password_change_is_audited_without_the_password(root_client, make_user, caplog):
    user = make_user("kate")
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    with caplog.at_level(logging.DEBUG):
        response = root_client.post(url, {"usable_password": "true", "password1": SECRET, "password2": SECRET})
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.check_password(SECRET)
    assert_one("user.password_set", "auth.user_password_changed")
    no_secret_anywhere(user, caplog.text)


def test_superuser_cannot_remove_own_superuser_status_in_the_admin(root_client, root):
    response = root_client.post(change_url(root), _change_data(root, is_superuser=""))
    assert response.status_code == 200 and "your own superuser status" in response.content.decode()
    root.refresh_from_db()
    assert root.is_superuser


def test_operators_and_auditors_never_reach_the_user_or_group_admin(client, operator, auditor, make_user):
    target = make_user("leo", "support")
    for person in (operator, auditor):
        client.force_login(person)
        assert client.get(USERS).status_code == 403
        assert client.get(change_url(target)).status_code == 403
        assert client.post(change_url(target), _change_data(target, is_superuser="on")).status_code == 403
        assert client.get(reverse("admin:auth_group_changelist")).status_code == 403
    target.refresh_from_db()
    assert not target.is_superuser
    assert not AuditEntry.objects.filter(action__startswith="user.").exists()


def test_role_groups_are_read_only_and_users_cannot_be_deleted(root_client, make_user):
    operator_group = Group.objects.get(name="operator")
    assert root_client.get(reverse("admin:auth_group_changelist")).status_code == 200
    assert root_client.get(reverse("admin:auth_group_add")).status_code == 403
    assert root_client.post(reverse("admin:auth_group_change", args=[operator_group.pk]), {"name": "x"}).status_code == 403
    user = make_user("mia")
    assert root_client.post(reverse("admin:auth_user_delete", args=[user.pk]), {"post": "yes"}).status_code == 403


def test_the_change_form_offers_only_roles_and_no_per_user_permissions(root_client, make_user):
    Group.objects.create(name="not-a-role")
    page = root_client.get(change_url(make_user("nina"))).content.decode()
    assert "not-a-role" not in page and 'name="user_permissions"' not in page
    for role in ("operator", "support", "chaos_operator", "auditor"):
        assert role in page


# --- commands ------------------------------------------------------------------------------------
def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command(*args, **kwargs)
    return out.getvalue()


def test_user_create_command_reads_the_password_from_stdin(caplog):
    with caplog.at_level(logging.DEBUG):
        out = run("user_create", "olga", "--roles", "auditor", "--password-stdin", stdin=SECRET + "\n")
    user = User.objects.get(username="olga")
    assert user.check_password(SECRET) and "created user olga (auditor; staff)" in out
    entry = assert_one("user.create", "auth.user_created")
    assert (entry.actor_label, entry.source) == ("cli:user_create", "cli")
    no_secret_anywhere(user, out, caplog.text)
    with pytest.raises(CommandError, match="password"):
        run("user_create", "pete", "--password-stdin", stdin="short\n")


def test_user_roles_command_adds_removes_sets_and_shows(make_user):
    make_user("quinn", "support")
    assert "now auditor, support" in run("user_roles", "quinn", "--add", "auditor")
    assert "now auditor" in run("user_roles", "quinn", "--remove", "support")
    assert "now operator" in run("user_roles", "quinn", "--set", "operator")
    assert "quinn: operator" in run("user_roles", "quinn")
    assert [e.changes["roles"] for e in entries("user.roles_set")] == [
        [["support"], ["auditor", "support"]], [["auditor", "support"], ["auditor"]], [["auditor"], ["operator"]]]
    assert len(events("auth.user_roles_changed")) == 3
    with pytest.raises(CommandError, match="unknown role"):
        run("user_roles", "quinn", "--add", "god")
    with pytest.raises(CommandError, match="no user"):
        run("user_roles", "nobody", "--add", "auditor")


def test_user_deactivate_and_access_commands(make_user):
    make_user("rita", "operator")
    assert "rita: deactivated" in run("user_deactivate", "rita", "--reason", "offboarded")
    assert "already deactivated" in run("user_deactivate", "rita")
    assert assert_one("user.deactivate", "auth.user_deactivated").reason == "offboarded"
    assert "rita: active" in run("user_deactivate", "rita", "--reactivate")
    assert "superuser on, staff on" in run("user_access", "rita", "--superuser", "on")
    assert "superuser on, staff off" in run("user_access", "rita", "--staff", "off")
    assert_one("user.superuser_set", "auth.user_superuser_changed")
    assert_one("user.staff_set", "auth.user_staff_changed")


def test_audit_verify_passes_after_user_changes(make_user, capsys):
    user = make_user("sue", "support")
    user_roles_set(user_id=user.pk, roles=["operator"], actor=SYSTEM, source="test")
    user_deactivate(user_id=user.pk, actor=SYSTEM, source="test")
    call_command("audit_verify")
    assert "audit chain intact: 2 entries verified" in capsys.readouterr().out

"""People and their privileges: create, roles, active, superuser and staff status, profile, password.

Each service is one transaction that changes the user, writes exactly one audit entry with
before/after and emits one ``auth.*`` event (which only auditors' dashboards receive). A
change that changes nothing writes nothing. Privilege changes close the user's live
sockets after commit (``accounts.sockets``), so a socket never outlives its rights.

Only superusers (and the shell: system actors) may use these services; any other principal
is refused with ``UserChangeRefused``, and the refusal is itself audited. The refusal is
recorded in its own transaction, so interfaces call these outside a transaction of their own.
A password or its hash never enters an audit entry, an event or a log line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.accounts.names import Action, Event
from opsportal.accounts.roles import ROLES
from opsportal.accounts.sockets import close_user_sockets_on_commit
from opsportal.events.services import emit

PROFILE_FIELDS = ("username", "email", "first_name", "last_name")


class UserChangeRefused(PermissionError):
    """The actor may not change people's access; the attempt is in the audit trail."""


def may_manage_users(actor: Actor) -> bool:
    """Superusers and the system (shell commands, seed_demo) manage people; nobody else."""
    if actor.system is not None:
        return True
    user = actor.user
    return user is not None and user.is_active and user.is_superuser


@transaction.atomic
def user_change_refused(*, actor: Actor, attempted: str, target: str, source: str) -> None:
    """Record a refused change to someone's access: one audit entry, one event."""
    changes = {"attempted": attempted, "target": target}
    audit_record(actor=actor, action=Action.USER_REFUSED, target=("auth.user", target), changes=changes,
                 reason="only superusers manage users", source=source)
    emit(Event.USER_REFUSED, ("auth.user", target), {**changes, "actor": actor.label})


def _require_manager(actor: Actor, attempted: str, target: str, source: str) -> None:
    if not may_manage_users(actor):
        user_change_refused(actor=actor, attempted=attempted, target=target, source=source)
        raise UserChangeRefused("only superusers may create users or change their roles, status or password")


def _roles_of(user: AbstractBaseUser) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def _snapshot(user: AbstractBaseUser) -> dict[str, Any]:
    return {
        **{f: getattr(user, f) for f in PROFILE_FIELDS},
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "roles": _roles_of(user),
    }


def _role_groups(roles: Iterable[str]) -> list[Group]:
    wanted = sorted(set(roles))
    unknown = sorted(set(wanted) - set(ROLES))
    if unknown:
        raise ValidationError({"roles": [f"unknown role(s): {', '.join(unknown)}; roles are {', '.join(ROLES)}"]})
    groups = list(Group.objects.filter(name__in=wanted).order_by("name"))
    if len(groups) != len(wanted):  # the role groups come from accounts' data migration
        missing = sorted(set(wanted) - {g.name for g in groups})
        raise ValidationError({"roles": [f"role group(s) missing, run migrate: {', '.join(missing)}"]})
    return groups


def _locked(user_id: int) -> AbstractBaseUser:
    return get_user_model().objects.select_for_update().get(pk=user_id)


def _label(user_id: int) -> str:
    user = get_user_model().objects.filter(pk=user_id).only("username").first()
    return user.get_username() if user else str(user_id)


# --- create ------------------------------------------------------------------------------------
def user_create(
    *,
    username: str,
    actor: Actor,
    source: str,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: Iterable[str] = (),
    is_staff: bool | None = None,
    is_superuser: bool = False,
) -> AbstractBaseUser:
    """Create a user holding ``roles``. ``password=None`` leaves it unable to sign in with one.

    Staff status (admin access) defaults to "has a role or is a superuser".
    """
    _require_manager(actor, Action.USER_CREATE, str(username)[:100], source)
    return _user_create(username=username, actor=actor, source=source, password=password, email=email,
                        first_name=first_name, last_name=last_name, roles=list(roles), is_staff=is_staff,
                        is_superuser=is_superuser)


@transaction.atomic
def _user_create(*, username, actor, source, password, email, first_name, last_name, roles, is_staff, is_superuser):
    groups = _role_groups(roles)
    if is_staff is None:
        is_staff = bool(groups) or is_superuser
    user = get_user_model()(username=username, email=email, first_name=first_name, last_name=last_name,
                            is_staff=is_staff, is_superuser=is_superuser, is_active=True)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()  # username rules and uniqueness, as a ValidationError naming the field
    user.save(force_insert=True)
    user.groups.set(groups)
    after = _snapshot(user)
    changes = {**diff({}, after), "has_password": [None, bool(password)]}
    audit_record(actor=actor, action=Action.USER_CREATE, target=user, changes=changes, source=source)
    emit(Event.USER_CREATED, user, after)
    return user


# --- roles -------------------------------------------------------------------------------------
def user_roles_set(*, user_id: int, roles: Iterable[str], actor: Actor, source: str, reason: str = "") -> AbstractBaseUser:
    """Make ``roles`` exactly the user's roles (groups). Closes the user's sockets on commit."""
    _require_manager(actor, Action.USER_ROLES_SET, _label(user_id), source)
    return _user_roles_set(user_id=user_id, roles=list(roles), actor=actor, source=source, reason=reason)


@transaction.atomic
def _user_roles_set(*, user_id, roles, actor, source, reason):
    groups = _role_groups(roles)
    user = _locked(user_id)
    before = _roles_of(user)
    after = [g.name for g in groups]
    if before == after:
        return user
    user.groups.set(groups)
    audit_record(actor=actor, action=Action.USER_ROLES_SET, target=user, changes={"roles": [before, after]},
                 reason=reason, source=source)
    emit(Event.USER_ROLES_CHANGED, user, {
        "username": user.get_username(), "roles": after,
        "added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
    })
    close_user_sockets_on_commit(user.pk, "roles changed")
    return user


# --- flags: active, superuser, staff --------------------------------------------------------------
def _flag_set(*, user_id: int, field: str, value: bool, actor: Actor, source: str, reason: str,
              action: Action, event: Event, close_sockets: bool) -> AbstractBaseUser:
    _require_manager(actor, action, _label(user_id), source)
    if actor.user is not None and actor.user.pk == user_id and not value and field in ("is_active", "is_superuser"):
        # Locking yourself out is a mistake, not a privilege question: another superuser must do it.
        raise ValidationError({field: [f"you cannot remove your own {'access' if field == 'is_active' else 'superuser status'}"]})
    with transaction.atomic():
        user = _locked(user_id)
        before = getattr(user, field)
        if before == value:
            return user
        setattr(user, field, value)
        user.save(update_fields=[field])
        audit_record(actor=actor, action=action, target=user, changes={field: [before, value]}, reason=reason,
                     source=source)
        emit(event, user, {"username": user.get_username(), field: value})
        if close_sockets:
            close_user_sockets_on_commit(user.pk, f"{field} changed")
    return user


def user_deactivate(*, user_id: int, actor: Actor, source: str, reason: str = "") -> AbstractBaseUser:
    """The user can no longer sign in; its sessions stop authenticating and its sockets close."""
    return _flag_set(user_id=user_id, field="is_active", value=False, actor=actor, source=source, reason=reason,
                     action=Action.USER_DEACTIVATE, event=Event.USER_DEACTIVATED, close_sockets=True)


def user_reactivate(*, user_id: int, actor: Actor, source: str, reason: str = "") -> AbstractBaseUser:
    return _flag_set(user_id=user_id, field="is_active", value=True, actor=actor, source=source, reason=reason,
                     action=Action.USER_REACTIVATE, event=Event.USER_REACTIVATED, close_sockets=False)


def user_set_superuser(*, user_id: int, is_superuser: bool, actor: Actor, source: str, reason: str = "") -> AbstractBaseUser:
    return _flag_set(user_id=user_id, field="is_superuser", value=bool(is_superuser), actor=actor, source=source,
                     reason=reason, action=Action.USER_SUPERUSER_SET, event=Event.USER_SUPERUSER_CHANGED,
                     close_sockets=True)


def user_set_staff(*, user_id: int, is_staff: bool, actor: Actor, source: str, reason: str = "") -> AbstractBaseUser:
    """Staff status opens the admin (what it shows there is still decided by roles)."""
    return _flag_set(user_id=user_id, field="is_staff", value=bool(is_staff), actor=actor, source=source,
                     reason=reason, action=Action.USER_STAFF_SET, event=Event.USER_STAFF_CHANGED,
                     close_sockets=False)


# --- profile and password -----------------------------------------------------------------------
def user_update(*, user_id: int, actor: Actor, source: str, **fields: Any) -> AbstractBaseUser:
    """Username, email and names. Access (roles, status) has its own services."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable here"] for f in sorted(unknown)})
    _require_manager(actor, Action.USER_UPDATE, _label(user_id), source)
    with transaction.atomic():
        user = _locked(user_id)
        before = {f: getattr(user, f) for f in PROFILE_FIELDS}
        for key, value in fields.items():
            setattr(user, key, value)
        user.full_clean(exclude=["password"])
        changes = diff(before, {f: getattr(user, f) for f in PROFILE_FIELDS})
        if not changes:
            return user
        user.save(update_fields=sorted(changes))
        audit_record(actor=actor, action=Action.USER_UPDATE, target=user, changes=changes, source=source)
        emit(Event.USER_UPDATED, user, {"username": user.get_username(), "changes": changes})
    return user


def user_set_password(*, user_id: int, password: str | None, actor: Actor, source: str) -> AbstractBaseUser:
    """Set (or, with None, disable) the password. The trail says that it changed, never what to."""
    _require_manager(actor, Action.USER_PASSWORD_SET, _label(user_id), source)
    with transaction.atomic():
        user = _locked(user_id)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(update_fields=["password"])
        audit_record(actor=actor, action=Action.USER_PASSWORD_SET, target=user,
                     changes={"has_password": bool(password)}, source=source)
        emit(Event.USER_PASSWORD_CHANGED, user, {"username": user.get_username()})
        close_user_sockets_on_commit(user.pk, "password changed")
    return user

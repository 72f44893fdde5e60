"""Demo users (one per role, plus a superuser) and a demo integration token (seed_demo steps).

The passwords are published on purpose: seed_demo refuses to run in production.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.names import Action, Event
from opsportal.accounts.roles import AUDITOR, CHAOS_OPERATOR, OPERATOR, ROLES, SUPPORT
from opsportal.accounts.services import token_issue
from opsportal.demo import SeedContext, seed_step
from opsportal.events.services import emit

# (username, password, role or "superuser")
DEMO_USERS = (
    ("admin", "admin-demo", "superuser"),
    ("operator", "operator-demo", OPERATOR),
    ("support", "support-demo", SUPPORT),
    ("chaos_operator", "chaos_operator-demo", CHAOS_OPERATOR),
    ("auditor", "auditor-demo", AUDITOR),
)
DEMO_TOKEN_NAME = "demo-alertmanager"


@transaction.atomic
def demo_user_create(
    *, username: str, password: str, roles: Iterable[str], actor: Actor, source: str, superuser: bool = False
) -> AbstractBaseUser:
    """Create a staff user holding ``roles``; audited and emitted like any change."""
    roles = sorted(set(roles))
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    groups = list(Group.objects.filter(name__in=roles))
    if len(groups) != len(roles):  # the role groups come from accounts' data migration
        raise ValueError(f"role group(s) missing, run migrate: {', '.join(sorted(set(roles) - {g.name for g in groups}))}")
    user = get_user_model().objects.create_user(
        username=username, password=password, is_staff=True, is_superuser=superuser
    )
    user.groups.set(groups)
    changes = {"username": username, "roles": roles, "superuser": superuser, "staff": True}
    audit_record(actor=actor, action=Action.USER_CREATE, target=user, changes=changes, source=source)
    emit(Event.USER_CREATED, user, changes)
    return user


@seed_step("accounts: demo users, one per role", order=200)
def seed_users(ctx: SeedContext) -> None:
    User = get_user_model()
    existing = set(User.objects.filter(username__in=[u for u, _, _ in DEMO_USERS]).values_list("username", flat=True))
    for username, password, role in DEMO_USERS:
        if username not in existing:
            demo_user_create(
                username=username,
                password=password,
                roles=[] if role == "superuser" else [role],
                superuser=role == "superuser",
                actor=ctx.actor,
                source=ctx.source,
            )
            ctx.created(f"user {username} ({role})")
        ctx.logins.append((username, password, role))


@seed_step("accounts: a demo integration token", order=210)
def seed_token(ctx: SeedContext) -> None:
    if IntegrationToken.objects.filter(name=DEMO_TOKEN_NAME).exists():
        return
    token, raw = token_issue(
        service_name="alertmanager",
        scopes=["alerts:write", "read"],
        name=DEMO_TOKEN_NAME,
        actor=ctx.actor,
        source=ctx.source,
    )
    ctx.created(f"token {token.prefix} for alertmanager (alerts:write, read)")
    ctx.note(f"Demo integration token for alertmanager (shown once): {raw}")

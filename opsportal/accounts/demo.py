"""Demo users (one per role, plus a superuser) and a demo integration token (seed_demo steps).

The passwords are published on purpose: seed_demo refuses to run in production.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.roles import AUDITOR, CHAOS_OPERATOR, OPERATOR, SUPPORT
from opsportal.accounts.services import token_issue, user_create
from opsportal.demo import SeedContext, seed_step

# (username, password, role or "superuser")
DEMO_USERS = (
    ("admin", "admin-demo", "superuser"),
    ("operator", "operator-demo", OPERATOR),
    ("support", "support-demo", SUPPORT),
    ("chaos_operator", "chaos_operator-demo", CHAOS_OPERATOR),
    ("auditor", "auditor-demo", AUDITOR),
)
DEMO_TOKEN_NAME = "demo-alertmanager"


@seed_step("accounts: demo users, one per role", order=200)
def seed_users(ctx: SeedContext) -> None:
    User = get_user_model()
    existing = set(User.objects.filter(username__in=[u for u, _, _ in DEMO_USERS]).values_list("username", flat=True))
    for username, password, role in DEMO_USERS:
        if username not in existing:
            user_create(
                username=username,
                password=password,
                roles=[] if role == "superuser" else [role],
                is_superuser=role == "superuser",
                is_staff=None if role != SUPPORT else False,  # support reads /ops/ (signs in at /login/), no admin
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

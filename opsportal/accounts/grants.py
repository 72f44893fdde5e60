"""What a principal may put on a token it issues: only scopes it could use itself.

A selector (no writes): the token service enforces it, the admin form and ``issue_token``
offer only what it returns. See docs/security.md, "Roles, scopes and tokens".
"""

from __future__ import annotations

from audit.actors import Actor
from opsportal.accounts.models import KNOWN_SCOPES
from opsportal.accounts.roles import ROLE_TOKEN_SCOPES, user_roles

ISSUE_PERMISSION = "accounts.add_integrationtoken"


def grantable_scopes(actor: Actor) -> frozenset[str]:
    """The scopes ``actor`` may grant (empty: it may not issue tokens at all).

    - the system (shell commands, seed_demo, migrations): every scope — it runs with the
      server's own rights;
    - a superuser: every scope;
    - another active user: the union of its roles' ``ROLE_TOKEN_SCOPES``, and only if it
      holds the add permission on tokens (operators);
    - an integration token: its own scopes (``admin`` meaning all) — no interface lets a
      token issue tokens today; the rule is here so none can by accident.
    """
    if actor.system is not None:
        return frozenset(KNOWN_SCOPES)
    if actor.token is not None:
        own = set(actor.token.scopes)
        return frozenset(KNOWN_SCOPES) if "admin" in own else frozenset(own & set(KNOWN_SCOPES))
    user = actor.user
    if user is None or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(KNOWN_SCOPES)
    if not user.has_perm(ISSUE_PERMISSION):
        return frozenset()
    scopes: set[str] = set()
    for role in user_roles(user):
        scopes |= ROLE_TOKEN_SCOPES.get(role, frozenset())
    return frozenset(scopes)


def refused_scopes(actor: Actor, scopes: list[str] | set[str]) -> list[str]:
    """The requested (known) scopes ``actor`` may not grant, sorted."""
    allowed = grantable_scopes(actor)
    return sorted({s for s in scopes if s in KNOWN_SCOPES} - allowed)

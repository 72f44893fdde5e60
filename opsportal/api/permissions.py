"""Scopes for tokens, roles for people, declared per view.

A view sets ``token_scopes = {"read": "read", "write": "catalog:write"}`` and
``roles = {"read": {...}, "write": {...}}``. Safe methods are "read". The
``admin`` scope implies every scope; superusers have every role.
"""

from __future__ import annotations

from rest_framework import permissions

from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.roles import AUDITOR, CHAOS_OPERATOR, OPERATOR, SUPPORT, has_role

READ_ROLES = {OPERATOR, SUPPORT, CHAOS_OPERATOR, AUDITOR}
WRITE_ROLES = {OPERATOR}


def _kind(request) -> str:
    return "read" if request.method in permissions.SAFE_METHODS else "write"


class ScopedPermission(permissions.BasePermission):
    message = "your credentials do not allow this"

    def has_permission(self, request, view) -> bool:
        kind = _kind(request)
        if isinstance(request.auth, IntegrationToken):
            scopes = getattr(view, "token_scopes", {"read": "read", "write": "admin"})
            needed = scopes.get(kind)
            if needed is None:
                return False
            self.message = f"this token lacks the '{needed}' scope"
            return request.auth.has_scope(needed)
        user = request.user
        if not user or not user.is_authenticated:
            return False
        roles = getattr(view, "roles", {"read": READ_ROLES, "write": WRITE_ROLES}).get(kind, set())
        self.message = f"this needs one of the roles: {', '.join(sorted(roles)) or 'superuser'}"
        return has_role(user, *roles)


class PublicPermission(permissions.BasePermission):
    """For endpoints authenticated by something else (webhook signatures)."""

    def has_permission(self, request, view) -> bool:
        return True

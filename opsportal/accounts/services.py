"""Integration tokens and sign-in events: every change audited and emitted."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.accounts.auth import TOKEN_PREFIX, hash_token, token_cache_clear
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.names import Action, Event
from opsportal.catalog.services import service_get_or_create
from opsportal.events.services import emit


class TokenError(ValueError):
    pass


@transaction.atomic
def token_issue(
    *,
    service_name: str,
    scopes: list[str],
    actor: Actor,
    name: str = "",
    expires_at: datetime | None = None,
    source: str = "cli",
) -> tuple[IntegrationToken, str]:
    """Create a token for ``service_name`` (creating the service if absent).

    Returns the row and the raw token, which is never stored and cannot be
    shown again.
    """
    unknown = sorted(set(scopes) - set(KNOWN_SCOPES))
    if unknown:
        raise TokenError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    if not scopes:
        raise TokenError("a token needs at least one scope")
    if len(name) > IntegrationToken._meta.get_field("name").max_length:
        raise TokenError("the token name is too long (100 characters at most)")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("expires_at must be in the future")
    service = service_get_or_create(name=service_name, actor=actor, source=source)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = IntegrationToken.objects.create(
        service=service,
        name=name,
        prefix=prefix,
        token_hash=hash_token(raw),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=Action.TOKEN_ISSUE,
        target=token,
        changes={"service": service.name, "scopes": token.scopes, "expires_at": expires_at.isoformat() if expires_at else None},
        source=source,
    )
    emit(Event.TOKEN_ISSUED, token, {"service": service.name, "prefix": prefix, "scopes": token.scopes})
    return token, raw


@transaction.atomic
def token_revoke(*, token_id: int, actor: Actor, reason: str, source: str) -> IntegrationToken:
    token = IntegrationToken.objects.select_for_update().select_related("service").get(pk=token_id)
    if token.revoked_at is not None:
        raise TokenError("token already revoked")
    if not reason.strip():
        raise TokenError("a reason is required to revoke a token")
    token.revoked_at = timezone.now()
    token.revoked_reason = reason
    token.save(update_fields=["revoked_at", "revoked_reason"])
    audit_record(actor=actor, action=Action.TOKEN_REVOKE, target=token, changes={"revoked": [False, True]}, reason=reason, source=source)
    emit(Event.TOKEN_REVOKED, token, {"service": token.service.name, "prefix": token.prefix})
    # Forget the cached token now and again after commit: a request racing this
    # transaction could re-cache the still-active row in between.
    token_cache_clear(token.token_hash)
    transaction.on_commit(lambda: token_cache_clear(token.token_hash))
    return token


_AUTH_EVENTS = {Action.LOGIN: Event.LOGIN, Action.LOGOUT: Event.LOGOUT, Action.LOGIN_FAILED: Event.LOGIN_FAILED}


@transaction.atomic
def auth_event_record(*, action: str, actor: Actor, username: str = "", source: str = "web") -> None:
    """Logins, logouts and failed logins: one audit entry and one event each (same name)."""
    if action not in _AUTH_EVENTS:
        raise ValueError(action)
    # Target ids hold 100 characters; a failed login may name any 150-character username.
    target_id = (username or actor.label)[:100]
    entry = audit_record(actor=actor, action=Action(action), target=("auth.user", target_id) if username else None, source=source)
    emit(_AUTH_EVENTS[action], ("auth.user", target_id), {"username": username or actor.label, "audit_id": entry.pk})

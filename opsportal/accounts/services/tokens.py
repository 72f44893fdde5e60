"""Integration tokens: issue (only scopes the issuer could use itself) and revoke, audited and emitted."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.accounts.auth import TOKEN_PREFIX, hash_token, token_cache_clear
from opsportal.accounts.grants import grantable_scopes, refused_scopes
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.names import Action, Event
from opsportal.catalog.services import service_get_or_create
from opsportal.common.text import clean_text
from opsportal.events.services import emit


class TokenError(ValueError):
    pass


class TokenScopeRefused(TokenError):
    """The issuer asked for scopes it could not use itself; the refusal is in the audit trail."""

    def __init__(self, refused: list[str], allowed: frozenset[str]) -> None:
        self.refused = refused
        self.allowed = sorted(allowed)
        if not allowed:
            message = "you may not issue integration tokens"
        else:
            message = (
                f"you may not grant the scope(s) {', '.join(refused)}: a token carries only scopes its issuer "
                f"could use itself (you may grant: {', '.join(self.allowed)})"
            )
        super().__init__(message)


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
    shown again. Refused when a scope is one ``actor`` could not use itself (``grants.grantable_scopes``):
    the refusal is recorded (audit entry ``token.issue_refused`` and an event) in its own
    transaction, then ``TokenScopeRefused`` is raised. Interfaces call this outside any
    transaction of their own, or the refusal record rolls back with it.
    """
    unknown = sorted(set(scopes) - set(KNOWN_SCOPES))
    if unknown:
        raise TokenError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    if not scopes:
        raise TokenError("a token needs at least one scope")
    refused = refused_scopes(actor, scopes)
    if refused:
        token_issue_refused(service_name=service_name, scopes=scopes, refused=refused, actor=actor, source=source)
        raise TokenScopeRefused(refused, grantable_scopes(actor))
    return _token_create(
        service_name=service_name, scopes=scopes, actor=actor, name=name, expires_at=expires_at, source=source
    )


@transaction.atomic
def token_issue_refused(*, service_name: str, scopes: list[str], refused: list[str], actor: Actor, source: str) -> None:
    """Record a refused grant: one audit entry and one event (auditors see it live)."""
    service_label = clean_text(service_name, 100)
    changes = {"service": service_label, "scopes": sorted(set(scopes)), "refused": refused}
    audit_record(
        actor=actor, action=Action.TOKEN_ISSUE_REFUSED, target=("catalog.service", service_label),
        changes=changes, reason="scopes beyond the issuer's own", source=source,
    )
    emit(Event.TOKEN_ISSUE_REFUSED, ("catalog.service", service_label), {**changes, "actor": actor.label})


@transaction.atomic
def _token_create(
    *, service_name: str, scopes: list[str], actor: Actor, name: str, expires_at: datetime | None, source: str
) -> tuple[IntegrationToken, str]:
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

"""Bearer-token authentication for integrations (DRF)."""

from __future__ import annotations

import hashlib
import time

import structlog
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from opsportal.accounts.models import IntegrationToken

TOKEN_PREFIX = "ops_"
_LAST_USED_RESOLUTION_SECONDS = 60  # at most one write a minute per token


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no KDF needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def is_bearer(header: str | None) -> bool:
    """The Authorization header uses the Bearer scheme (well-formed or not)."""
    return bool(header) and header.split(maxsplit=1)[0].lower() == "bearer"


def token_from_header(header: str | None) -> str | None:
    if not header:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


# Resolved tokens are kept in-process for TOKEN_CACHE_SECONDS: the lookup was a
# third of an authenticated GET's cost. Expiry is still checked on every request;
# a revocation clears this process's entry on commit and reaches the others
# within the TTL (docs/decisions.md).
_cache: dict[str, tuple[float, IntegrationToken | None]] = {}
_CACHE_MAX_ENTRIES = 10_000
_clock = time.monotonic  # replaced by tests


def token_cache_clear(token_hash: str | None = None) -> None:
    if token_hash is None:
        _cache.clear()
    else:
        _cache.pop(token_hash, None)


def _lookup(token_hash: str) -> IntegrationToken | None:
    ttl = settings.TOKEN_CACHE_SECONDS
    now = _clock()
    hit = _cache.get(token_hash)
    if hit is not None and hit[0] > now:
        return hit[1]
    token = IntegrationToken.objects.select_related("service").filter(token_hash=token_hash).first()
    if ttl > 0:
        if len(_cache) >= _CACHE_MAX_ENTRIES:
            _cache.clear()  # unknown-token floods must not grow memory without bound
        _cache[token_hash] = (now + ttl, token)
    return token


def resolve_token(raw: str) -> IntegrationToken | None:
    """The active token for ``raw``, or None (unknown, revoked or expired)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = _lookup(hash_token(raw))
    if token is None or not token.is_active:
        return None
    return token


class TokenUser:
    """request.user for token requests: authenticated, no Django permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: IntegrationToken):
        self.token = token
        self.username = f"token:{token.service.name}"

    def get_username(self) -> str:
        return self.username

    @property
    def groups(self):
        from django.contrib.auth.models import Group

        return Group.objects.none()

    def has_perm(self, *args, **kwargs) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not is_bearer(header):
            return None  # another scheme (or none): the session may authenticate
        raw = token_from_header(header)
        token = resolve_token(raw) if raw is not None else None
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
            # Bookkeeping, not a state change worth an audit entry.
            IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now  # the cached instance too, so the next request skips the write
        user = TokenUser(token)
        structlog.contextvars.bind_contextvars(user=f"{user.username}/{token.prefix}")
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="opsportal"'

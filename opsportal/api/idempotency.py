"""Idempotency-Key for POST/PATCH under /api/v1/ (IETF httpapi draft semantics).

The key is scoped by principal, method and path. The first request claims it
with an insert-if-absent before the view runs; a concurrent duplicate gets
409; the same key with another request fingerprint gets 422; a completed
request is replayed with its stored status and body and
``Idempotent-Replayed: true``. Keys expire after IDEMPOTENCY_KEY_TTL_HOURS.

Responses the client should be free to retry release the key instead of being
stored: 5xx, 401, 403, 408, 409, 425, 429 and streamed responses. Every other
response (2xx, and final 4xx such as 400/404/422) is stored and replayed.
A claim whose request never finished (the process died) is reclaimable after
IDEMPOTENCY_CLAIM_LEASE_SECONDS so a crash does not block the key for 24 h.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone

from opsportal.accounts.auth import is_bearer, resolve_token, token_from_header
from opsportal.api.errors import problem_response
from opsportal.api.models import IdempotencyKey

HEADER = "Idempotency-Key"
METHODS = {"POST", "PATCH"}
PREFIX = "/api/v1/"
# Signed webhook ingestion dedupes on the provider's event id instead; an anonymous,
# sender-shared key scope there would let anyone pre-claim a key a provider later sends.
EXEMPT_PREFIXES = ("/api/v1/webhooks/in/",)
MAX_KEY_LENGTH = 255
RELEASE_STATUSES = frozenset({401, 403, 408, 409, 425, 429})
_KEPT_HEADERS = ("Content-Type", "Location")
_PATH_MAX = 300  # IdempotencyKey.path


def _principal(request) -> str | None:
    """Who the key belongs to; None when the credentials are unusable (the view answers 401)."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if is_bearer(header):  # as BearerTokenAuthentication decides: the token, or a 401
        raw = token_from_header(header)
        token = resolve_token(raw) if raw is not None else None
        return f"token:{token.pk}" if token else None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


def parse_key(value: str) -> str | None:
    """The key from the header: an sf-string (``"…"``) or, leniently, a bare token.

    None when invalid: empty, longer than 255 characters or not printable ASCII.
    """
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
        return None
    return value


def _scoped_path(path: str) -> str:
    if len(path) <= _PATH_MAX:
        return path
    # Keep long paths distinct instead of truncating two of them into one scope.
    return path[: _PATH_MAX - 65] + "#" + hashlib.sha256(path.encode()).hexdigest()


def _fingerprint(request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.META.get("QUERY_STRING", "").encode("latin-1", "replace"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_CLAIM_LEASE_SECONDS", 300))


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw_key = request.headers.get(HEADER)
        if raw_key is None or request.method not in METHODS or not request.path.startswith(PREFIX):
            return self.get_response(request)
        if request.path.startswith(EXEMPT_PREFIXES):
            return self.get_response(request)
        key = parse_key(raw_key)
        if key is None:
            return problem_response(
                400,
                f"{HEADER} must be 1–{MAX_KEY_LENGTH} printable ASCII characters (optionally a quoted string)",
                code="bad-idempotency-key",
            )
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # the view answers 401 without claiming anything
        try:
            body = request.body
        except Exception:  # over DATA_UPLOAD_MAX_MEMORY_SIZE, client gone: the view answers
            return self.get_response(request)
        fingerprint = _fingerprint(request, body)
        lookup = {"principal": principal, "method": request.method, "path": _scoped_path(request.path), "key": key}
        now = timezone.now()
        try:
            with transaction.atomic():
                # Expired keys, and claims abandoned by a crashed request, are free again.
                IdempotencyKey.objects.filter(
                    Q(expires_at__lte=now) | Q(completed_at__isnull=True, created_at__lte=now - _lease()), **lookup
                ).delete()
                claim = IdempotencyKey.objects.create(
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                    **lookup,
                )
        except IntegrityError:
            return self._existing(lookup, fingerprint)

        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(pk=claim.pk).delete()
            raise
        if response.streaming or response.status_code >= 500 or response.status_code in RELEASE_STATUSES:
            IdempotencyKey.objects.filter(pk=claim.pk).delete()
            return response
        IdempotencyKey.objects.filter(pk=claim.pk).update(
            completed_at=timezone.now(),
            response_status=response.status_code,
            response_headers={h: response[h] for h in _KEPT_HEADERS if response.has_header(h)},
            response_body=bytes(response.content),
        )
        return response

    @staticmethod
    def _existing(lookup: dict, fingerprint: str):
        existing = IdempotencyKey.objects.filter(**lookup).first()
        if existing is not None and existing.fingerprint != fingerprint:
            return problem_response(
                422,
                f"this {HEADER} was already used with a different request body or query",
                code="idempotency-key-reused",
            )
        if existing is None or existing.completed_at is None:
            return problem_response(
                409,
                f"a request with this {HEADER} is still being processed; retry later",
                code="idempotency-in-progress",
                headers={"Retry-After": "1"},
            )
        response = HttpResponse(bytes(existing.response_body or b""), status=existing.response_status)
        for name, value in existing.response_headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return response


def purge_expired_keys() -> int:
    """Delete expired keys (the periodic ``api.purge_idempotency_keys`` task)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted

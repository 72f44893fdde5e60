"""Request context for the audit trail and the logs."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from audit import context

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if addr.version == 6:
        if addr.scope_id:  # fe80::1%eth0: inet has no zone ids
            return None
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    cidrs = tuple(getattr(settings, "TRUSTED_PROXY_CIDRS", ("127.0.0.0/8", "::1/128")))
    return any(addr.version == net.version and addr in net for net in _networks(cidrs))


def _from_forwarded_for(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The right-most X-Forwarded-For entry that is not itself a trusted proxy.

    Entries to its left were written by whoever sent the request and prove nothing.
    """
    for item in reversed(value.split(",")[-20:]):
        addr = _parse_ip(item)
        if addr is None:
            return None  # garbage where a hop should be: believe nothing further left
        if not _trusted(addr):
            return addr
    return None


def client_ip(request) -> str | None:
    """The client's address, validated, as the audit trail and the sign-in lockout use it.

    ``X-Real-IP`` (then ``X-Forwarded-For``) is believed only when the direct peer
    (``REMOTE_ADDR``) is in ``settings.TRUSTED_PROXY_CIDRS`` — the reverse proxy, which
    overwrites both headers (deploy/nginx.conf). From anyone else the headers are ignored:
    a client could otherwise write any IP into the audit trail, or lock out someone else.
    """
    peer = _parse_ip(request.META.get("REMOTE_ADDR"))
    if peer is not None and _trusted(peer):
        forwarded = _parse_ip(request.META.get("HTTP_X_REAL_IP"))
        if forwarded is None and request.META.get("HTTP_X_FORWARDED_FOR"):
            forwarded = _from_forwarded_for(request.META["HTTP_X_FORWARDED_FOR"])
        if forwarded is not None:
            return str(forwarded)
    return str(peer) if peer is not None else None


class RequestContextMiddleware:
    """Assigns a request id (or keeps a sane incoming X-Request-ID) and binds context.

    Both modes (the context is contextvars): under ASGI the lean ingest chain stays on the
    event loop (opsportal.handlers).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def _bind(self, request) -> tuple[str, object]:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = context.bind(
            context.RequestContext(
                request_id=request_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:300],
                path=request.path[:300],
            )
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, path=request.path)
        return request_id, token

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        request_id, token = self._bind(request)
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request):
        request_id, token = self._bind(request)
        try:
            response = await self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestActorMiddleware:
    """Adds the authenticated user to the log context (after AuthenticationMiddleware).

    For writes it also hands the user and the validated client IP to
    django-auditlog, so its field diffs name who did them (auditlog's own
    middleware would store an unvalidated X-Forwarded-For). Its correlation id
    is our request id (settings.AUDITLOG_CID_GETTER), linking each LogEntry to
    the AuditEntry written in the same request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        if authenticated:
            structlog.contextvars.bind_contextvars(user=user.get_username())
        if request.method in _SAFE_METHODS:
            return self.get_response(request)
        from auditlog.context import set_extra_data

        with set_extra_data(
            context_data={"actor": user if authenticated else None, "remote_addr": context.current().ip}
        ):
            return self.get_response(request)

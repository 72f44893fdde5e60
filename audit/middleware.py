"""Request context for the audit trail and the logs."""

from __future__ import annotations

import ipaddress
import re
import uuid

import structlog

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


def client_ip(request) -> str | None:
    """The client's address, validated, as the audit trail stores it.

    Behind the reverse proxy REMOTE_ADDR is the proxy and nginx sets X-Real-IP.
    The header is believed only when the direct peer is a loopback or private
    address (the proxy); anyone else could write any IP into the audit trail.
    """
    peer = _parse_ip(request.META.get("REMOTE_ADDR"))
    if peer is not None and (peer.is_loopback or peer.is_private):
        forwarded = _parse_ip(request.META.get("HTTP_X_REAL_IP"))
        if forwarded is not None:
            return str(forwarded)
    return str(peer) if peer is not None else None


class RequestContextMiddleware:
    """Assigns a request id (or keeps a sane incoming X-Request-ID) and binds context."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
        try:
            response = self.get_response(request)
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

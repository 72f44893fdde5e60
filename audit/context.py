"""Per-request (or per-task) context the audit trail and logs pick up.

Set by ``audit.middleware.RequestContextMiddleware`` for HTTP, left empty for
tasks and commands (their actor names them instead).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    path: str = ""


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "opsportal_request_context", default=RequestContext()  # noqa: B039 - frozen, immutable
)


def current() -> RequestContext:
    return _current.get()


def current_request_id() -> str | None:
    """django-auditlog's correlation-id getter (settings.AUDITLOG_CID_GETTER)."""
    return _current.get().request_id or None


def bind(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)

"""The slow-query monitor: a ``connection.execute_wrapper`` on every database connection.

Installed from the ``connection_created`` signal, so it covers web processes, Celery workers,
beat and management commands alike. A statement slower than ``SLOW_QUERY_MS`` is logged (text
without parameters, duration, user, role, request path or task name), counted in
``slow_queries_total`` and ``slow_query_duration_seconds``, and buffered; the buffer is written
as ``SlowQuery`` rows when the request or task ends (``flush()``), outside the statement's own
transaction so a slow statement that fails or is rolled back is still kept.
"""

from __future__ import annotations

import contextvars
import time
from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import structlog
from django.conf import settings
from prometheus_client import Counter, Histogram

log = structlog.get_logger("opsportal.slow_query")

SLOW_QUERIES = Counter("slow_queries", "Statements slower than SLOW_QUERY_MS", ["source"])
SLOW_QUERY_SECONDS = Histogram("slow_query_duration_seconds", "Duration of statements slower than SLOW_QUERY_MS",
                               buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
STATEMENT_MAX = 4000
BUFFER_MAX = 200  # per process; beyond it the oldest unflushed entries are dropped (log and metrics keep them)


@dataclass(frozen=True)
class Scope:
    """Who the current statements run for: a request or a task."""

    request: Any = None
    path: str = ""
    task: str = ""


_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar("opsportal_slow_query_scope", default=Scope())  # noqa: B039
_recording: contextvars.ContextVar[bool] = contextvars.ContextVar("opsportal_slow_query_recording", default=False)
_buffer: deque[dict] = deque(maxlen=BUFFER_MAX)
# SLOW_QUERY_MS in seconds, read once (a settings lookup costs more than the rest of the wrapper);
# refreshed by the setting_changed receiver (override_settings, tests).
_threshold: list[float] = []


def threshold_seconds() -> float:
    if not _threshold:
        _threshold.append(settings.SLOW_QUERY_MS / 1000)
    return _threshold[0]


def setting_changed(setting=None, **kwargs) -> None:
    if setting == "SLOW_QUERY_MS":
        _threshold.clear()


def bind(scope: Scope) -> contextvars.Token:
    return _scope.set(scope)


def reset(token: contextvars.Token) -> None:
    _scope.reset(token)


def _principal(request: Any) -> tuple[str, str]:
    """(user, role) of the request: a token's service, or the user and their roles."""
    if request is None:
        return "", ""
    from opsportal.accounts.models import IntegrationToken
    from opsportal.accounts.roles import user_roles

    auth = getattr(request, "auth", None)
    if isinstance(auth, IntegrationToken):
        return f"token:{auth.service.name}/{auth.prefix}"[:200], ("token:" + ",".join(auth.scopes or []))[:200]
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anonymous", ""
    role = "superuser" if user.is_superuser else ",".join(sorted(user_roles(user)))
    return user.get_username()[:200], role[:200]


def _record(sql: str, duration: float, alias: str) -> None:
    scope = _scope.get()
    source = "task" if scope.task else ("request" if scope.path else "other")
    SLOW_QUERIES.labels(source=source).inc()
    SLOW_QUERY_SECONDS.observe(duration)
    token = _recording.set(True)  # resolving the user may query: do not measure ourselves
    try:
        user, role = _principal(scope.request)
    except Exception:  # the connection may be unusable after the slow statement failed
        user, role = "", ""
    finally:
        _recording.reset(token)
    entry = {
        "statement": str(sql)[:STATEMENT_MAX], "duration_ms": round(duration * 1000, 2), "user": user, "role": role,
        "path": scope.path[:300], "task": scope.task[:200], "database": alias,
    }
    log.warning("slow_query", **entry)
    _buffer.append({**entry, "at": time.time()})


class SlowQueryWrapper:
    """The execute wrapper: times each statement, records those over the threshold."""

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __call__(self, execute, sql, params, many, context):
        start = perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            duration = perf_counter() - start
            if duration >= (_threshold[0] if _threshold else threshold_seconds()) and not _recording.get():
                _record(sql, duration, self.alias)


def install(sender=None, connection=None, **kwargs) -> None:
    """``connection_created`` receiver: add the wrapper once per connection object."""
    if connection is None or not getattr(settings, "SLOW_QUERY_MONITOR", True):
        return
    if not any(isinstance(w, SlowQueryWrapper) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(SlowQueryWrapper(connection.alias))


def pending() -> int:
    return len(_buffer)


def flush() -> int:
    """Write buffered slow statements as SlowQuery rows; returns how many."""
    if not _buffer:
        return 0
    entries = []
    while _buffer:
        try:
            entries.append(_buffer.popleft())
        except IndexError:
            break
    from reliability.health.slowqueries.services import slow_queries_record

    token = _recording.set(True)
    try:
        return slow_queries_record(entries=entries)
    except Exception as exc:  # telemetry must never fail the request or task it ran in
        log.warning("slow_query_flush_failed", error=f"{type(exc).__name__}: {exc}"[:200], dropped=len(entries))
        return 0
    finally:
        _recording.reset(token)

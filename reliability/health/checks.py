"""Readiness checks: each answers within the deadline or counts as failed.

``/health/ready`` must answer within 1 s (Kubernetes' default probe timeout) even when a
dependency hangs or its port is closed, and must not be usable to overload the
dependencies it asks. So:

- every check runs in a small thread pool and the request waits at most
  ``HEALTH_CHECK_TIMEOUT_SECONDS`` (default 0.8 s) for all of them together;
- each check carries its own network timeouts below that deadline, and gives up at once
  on a refused connection (no retry loop: kombu's default retry alone slept 2 s);
- a check still running from an earlier request is joined, not started again
  (single flight), so a hung dependency holds one thread per check, never one per request;
- results are cached in the process for ``HEALTH_READY_CACHE_SECONDS`` (default 2 s).

Other apps add checks with ``register_check`` (e.g. the breaker store).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 2), "detail": self.detail}


def _budget() -> float:
    """Network timeout of one check: a little under the request's deadline."""
    return max(0.05, float(settings.HEALTH_CHECK_TIMEOUT_SECONDS) * 0.9)


def check_database() -> str:
    """A fresh connection with the process's database settings and ``SELECT 1`` (never the request's connection).

    A fresh connection is what a restarted process would need; the request's own connection
    may be a healthy leftover while new connections are refused.
    """
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.utils import ConnectionHandler

    db = dict(connections.settings[DEFAULT_DB_ALIAS])  # what new connections of this process would use
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k != "pool"}
    if db.get("ENGINE", "").endswith("postgresql"):
        # libpq counts whole seconds (minimum 2): the request's deadline bounds the wait anyway.
        options["connect_timeout"] = 2
    db.update(OPTIONS=options, CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    conn = ConnectionHandler({DEFAULT_DB_ALIAS: db})[DEFAULT_DB_ALIAS]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return conn.vendor
    finally:
        conn.close()


def ping_redis(url: str, timeout: float) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                  retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
    try:
        client.ping()
    finally:
        client.close()


def check_redis() -> str:
    ping_redis(settings.REDIS_URL, _budget())
    return "pong"


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return "in-memory"
    if url.startswith(("redis://", "rediss://", "unix://")):
        ping_redis(url, _budget())
        return "connected"
    from kombu import Connection

    with Connection(url, connect_timeout=_budget()) as conn:
        # max_retries=0: one attempt, raised at once (the default retry sleeps 2 s first).
        conn.ensure_connection(max_retries=0)
    return "connected"


_extra_checks: dict[str, Callable[[], str]] = {}


def register_check(name: str, fn: Callable[[], str]) -> None:
    """Add a readiness check: ``fn`` returns a short detail or raises."""
    _extra_checks[name] = fn
    clear_cache()


def unregister_check(name: str) -> None:
    _extra_checks.pop(name, None)
    clear_cache()


def readiness_checks() -> dict[str, Callable[[], str]]:
    checks: dict[str, Callable[[], str]] = {"database": check_database}
    if settings.REDIS_URL:
        checks["redis"] = check_redis
    checks["broker"] = check_broker
    checks.update(_extra_checks)
    return checks


# A hung check occupies one worker until its own timeout; single flight keeps it at one per check.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
_lock = threading.Lock()
_inflight: dict[str, Future] = {}
_cache: tuple[float, list[CheckResult]] | None = None


def clear_cache() -> None:
    global _cache
    with _lock:
        _cache = None


def _timed(name: str, fn: Callable[[], str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail = fn()
        return CheckResult(name, True, (time.perf_counter() - start) * 1000, str(detail))
    except Exception as exc:  # a failing dependency is a result, not an error
        return CheckResult(name, False, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        # Pool threads are reused at random: a connection kept here would sit
        # idle (up to one per worker per process), so close it every time.
        connection.close()


def _submit(name: str, fn: Callable[[], str]) -> Future:
    with _lock:
        running = _inflight.get(name)
        if running is not None and not running.done():
            return running  # the previous request's check is still waiting on the dependency: join it
        future = _pool.submit(_timed, name, fn)
        _inflight[name] = future
        return future


def run_checks(checks: dict[str, Callable[[], str]] | None = None, *, timeout: float | None = None) -> list[CheckResult]:
    """Run the checks concurrently; whatever has not answered by the deadline counts as failed."""
    checks = checks if checks is not None else readiness_checks()
    timeout = float(settings.HEALTH_CHECK_TIMEOUT_SECONDS if timeout is None else timeout)
    futures = {name: _submit(name, fn) for name, fn in checks.items()}
    deadline = time.monotonic() + timeout
    results = []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            results.append(CheckResult(name, False, timeout * 1000, f"no answer within {timeout:g}s"))
    return results


def readiness() -> tuple[list[CheckResult], bool]:
    """The readiness checks' results, from the process cache when fresh: ``(results, cached)``."""
    global _cache
    ttl = float(settings.HEALTH_READY_CACHE_SECONDS)
    now = time.monotonic()
    with _lock:
        if _cache is not None and ttl > 0 and now - _cache[0] < ttl:
            return _cache[1], True
    results = run_checks()
    with _lock:
        _cache = (time.monotonic(), results)
    return results, False

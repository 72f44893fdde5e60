"""Readiness checks: each answers within its timeout or counts as failed.

Other apps add checks with ``register_check`` (e.g. the breaker store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_redis() -> str:
    import redis

    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    return "pong"


def check_broker() -> str:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return "in-memory"
    with Connection(url, connect_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
    return "connected"


_extra_checks: dict[str, Callable[[], str]] = {}


def register_check(name: str, fn: Callable[[], str]) -> None:
    """Add a readiness check: ``fn`` returns a short detail or raises."""
    _extra_checks[name] = fn


def unregister_check(name: str) -> None:
    _extra_checks.pop(name, None)


def readiness_checks() -> dict[str, Callable[[], str]]:
    checks: dict[str, Callable[[], str]] = {"database": check_database}
    if settings.REDIS_URL:
        checks["redis"] = check_redis
    checks["broker"] = check_broker
    checks.update(_extra_checks)
    return checks


# A hung check occupies one worker until it returns, so the pool is larger
# than the number of checks.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


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


def run_checks(checks: dict[str, Callable[[], str]] | None = None) -> list[CheckResult]:
    checks = checks if checks is not None else readiness_checks()
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    futures = {name: _pool.submit(_timed, name, fn) for name, fn in checks.items()}
    deadline = time.monotonic() + timeout
    results = []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            results.append(CheckResult(name, False, timeout * 1000, f"no answer within {timeout:g}s"))
    return results

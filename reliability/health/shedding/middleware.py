"""LoadSheddingMiddleware: rate limits and level-driven shedding (classes in classify.py).

Placed after authentication (it needs the user) and before the Idempotency-Key middleware (a
refused request claims no key). Also in the lean ingestion chain (opsportal/handlers.py), where
it costs a prefix test and ``current_level()`` (a local read) until the level is CRITICAL.
"""

from __future__ import annotations

import hashlib
import threading

from opsportal.api.errors import problem_response
from reliability.health.degradation.levels import Level
from reliability.health.degradation.state import current_level
from reliability.health.shedding.classify import INTAKE, NON_CRITICAL, classify
from reliability.health.shedding.config import config
from reliability.health.shedding.limits import limit_for, limiter
from reliability.health.shedding.metrics import REQUESTS_SHED

_CRITICAL = int(Level.CRITICAL)  # plain ints: enum attribute lookups cost microseconds on the hot path
_SEVERE = int(Level.SEVERE)


def _shed(reason: str, detail: str, level: Level, retry_after: str) -> object:
    REQUESTS_SHED.labels(reason=reason).inc()
    return problem_response(503, detail, code="shed", title="Service Unavailable", level=level.name,
                            headers={"Retry-After": retry_after})


def _principal(request) -> tuple[str, str] | None:
    """("token", digest) for a bearer token, ("user", id) for a signed-in user, else None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer " and len(header) > 7:
        return "token", hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return "user", str(user.pk)
    return None


class LoadSheddingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        kind = classify(request.path_info)
        level = current_level()
        if kind == INTAKE:
            if level < _CRITICAL:
                return self.get_response(request)
            return self._capped(request, level)
        cfg = config()
        if not cfg.shedding_enabled:
            return self.get_response(request)
        if kind == NON_CRITICAL and level >= _SEVERE:
            return _shed("non_critical", f"shed while the portal is degraded ({level.name}); try again later",
                         level, str(cfg.retry_after))
        principal = _principal(request)
        if principal is not None and cfg.rate_limit_enabled:
            who, ident = principal
            verdict = limiter.hit(who, ident, limit_for(who, level))
            if not verdict.allowed:
                REQUESTS_SHED.labels(reason=f"rate_limit_{who}").inc()
                return problem_response(
                    429, f"rate limit of {verdict.limit} requests per {cfg.window} s "
                         f"per {who} exceeded (level {level.name})",
                    code="rate-limited", title="Too Many Requests", limit=verdict.limit, level=level.name,
                    headers={"Retry-After": str(verdict.retry_after)},
                )
        return self.get_response(request)

    def _capped(self, request, level: Level):
        cfg = config()
        if not cfg.shedding_enabled:
            return self.get_response(request)
        with self._lock:
            if self._in_flight >= cfg.intake_cap:
                over = True
            else:
                over = False
                self._in_flight += 1
        if over:
            return _shed("intake_concurrency",
                         f"over {cfg.intake_cap} requests in flight at level {level.name}; retry",
                         level, "5")
        try:
            return self.get_response(request)
        finally:
            with self._lock:
                self._in_flight -= 1

"""LoadSheddingMiddleware: rate limits and level-driven shedding (classes in classify.py).

Placed after authentication (it needs the user) and before the Idempotency-Key middleware (a
refused request claims no key). Also in the lean ingestion chain (opsportal/handlers.py), where
it costs a prefix test and ``current_level()`` (a local read) until the level is CRITICAL.
"""

from __future__ import annotations

import hashlib
import threading

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

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
    """Sync and async capable (see reliability/health/slowqueries/middleware.py for why).

    The async path decides with the same code: the level and limits are local reads until a
    rate limit needs the shared counter, which then runs off the event loop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._in_flight = 0
        self._lock = threading.Lock()
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        kind = classify(request.path_info)
        level = current_level()
        if kind == INTAKE:
            if level < _CRITICAL:
                return self.get_response(request)
            return self._capped(request, level)
        return self._refusal(request, kind, level) or self.get_response(request)

    async def _acall(self, request):
        kind = classify(request.path_info)
        level = current_level()
        if kind == INTAKE:
            if level < _CRITICAL:  # the hot path: ingestion and alert intake below CRITICAL
                return await self.get_response(request)
            return await self._acapped(request, level)
        # the rate limiter's shared counter and request.user may do I/O: in the request thread,
        # where the sync-only version of this middleware ran
        refused = await sync_to_async(self._refusal)(request, kind, level)
        return refused or await self.get_response(request)

    def _refusal(self, request, kind: str, level: Level):
        """The 503 or 429 for a request that is not intake, or None."""
        cfg = config()
        if not cfg.shedding_enabled:
            return None
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
        return None

    def _enter(self, level: Level):
        """Take an intake slot: None, or the 503 when the cap is reached."""
        cfg = config()
        with self._lock:
            if self._in_flight >= cfg.intake_cap:
                return _shed("intake_concurrency",
                             f"over {cfg.intake_cap} requests in flight at level {level.name}; retry",
                             level, "5")
            self._in_flight += 1
        return None

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    async def _acapped(self, request, level: Level):
        if not config().shedding_enabled:
            return await self.get_response(request)
        refused = self._enter(level)
        if refused is not None:
            return refused
        try:
            return await self.get_response(request)
        finally:
            self._leave()

    def _capped(self, request, level: Level):
        if not config().shedding_enabled:
            return self.get_response(request)
        refused = self._enter(level)
        if refused is not None:
            return refused
        try:
            return self.get_response(request)
        finally:
            self._leave()

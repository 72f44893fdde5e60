"""Fixed-window rate limits per token and per user, tightening with the degradation level.

Counters live in Redis (``INCR`` + ``EXPIRE`` in one pipelined round trip) so every process
shares them. When Redis is unreachable the limiter counts in-process instead (the limit then
applies per process) and retries Redis after ``_REDIS_RETRY_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import structlog
from django.conf import settings

from reliability.health.degradation.levels import Level

log = structlog.get_logger(__name__)

# The share of the NORMAL limit allowed at each level.
LEVEL_FACTORS: dict[Level, float] = {
    Level.NORMAL: 1.0,
    Level.MINOR: 1.0,
    Level.MODERATE: 0.5,
    Level.SEVERE: 0.2,
    Level.CRITICAL: 0.05,
}
_REDIS_RETRY_SECONDS = 5.0
_KEY_PREFIX = "rl:"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    count: int
    retry_after: int  # seconds until the window resets


def limit_for(kind: str, level: Level) -> int:
    from reliability.health.shedding.config import config

    cfg = config()
    base = cfg.token_limit if kind == "token" else cfg.user_limit
    return max(1, int(base * LEVEL_FACTORS[level]))


class RateLimiter:
    def __init__(self) -> None:
        self._client = None
        self._client_url: str | None = None
        self._redis_down_until = 0.0
        self._local: dict[str, int] = {}
        self._local_window = -1
        self._lock = threading.Lock()

    def _redis(self):
        url = settings.REDIS_URL
        if not url or time.monotonic() < self._redis_down_until:
            return None
        if self._client is None or self._client_url != url:
            import redis

            self._client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
            self._client_url = url
        return self._client

    def hit(self, kind: str, ident: str, limit: int, *, now: float | None = None) -> Verdict:
        from reliability.health.shedding.config import config

        window = config().window
        now = time.time() if now is None else now
        bucket = int(now // window)
        retry_after = max(1, int((bucket + 1) * window - now + 0.999))
        key = f"{_KEY_PREFIX}{kind}:{ident}:{bucket}"
        count = self._hit_redis(key, window)
        if count is None:
            count = self._hit_local(key, bucket)
        return Verdict(allowed=count <= limit, limit=limit, count=count, retry_after=retry_after)

    def _hit_redis(self, key: str, window: int) -> int | None:
        client = self._redis()
        if client is None:
            return None
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count, _ = pipe.execute()
            return int(count)
        except Exception as exc:  # Redis away: count locally for a while
            self._redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
            log.warning("rate_limit_redis_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
            return None

    def _hit_local(self, key: str, bucket: int) -> int:
        with self._lock:
            if bucket != self._local_window:
                self._local = {}
                self._local_window = bucket
            self._local[key] = count = self._local.get(key, 0) + 1
            return count

    def reset_local(self) -> None:
        with self._lock:
            self._local = {}
            self._redis_down_until = 0.0


limiter = RateLimiter()

"""Pacing: a destination's rate limit (deliveries/s) and concurrency limit, shared by every worker.

Every send (first attempts, retries and DLQ replays alike) passes ``admit``
before its HTTP request and ``release`` after it:

- **rate**: a token bucket per destination. Capacity (the burst allowance) is
  ``max(1, rate × WEBHOOK_PACING_BURST_SECONDS)`` (default 0.2 s: 10 tokens at
  50/s); a new bucket starts with one token and refills at ``rate`` while
  idle. A send takes a token only when one is there at the moment it goes
  (no reservations: a thread the scheduler wakes late cannot bunch up with
  the next one), else it waits the time the next token needs (plus a random
  spread, so waiting senders do not all retry at once) and tries again. So
  any one-second window of sends holds at most ``rate + burst``. A send that
  found no token within ``WEBHOOK_PACING_MAX_WAIT_SECONDS`` (default 5) is
  deferred (``paced``: no attempt counted) and the sweep brings it back.
- **concurrency**: at most ``concurrency_limit`` sends in flight. Each holds
  a slot (a member of a sorted set scored by its lease's expiry, so a worker
  killed mid-send frees its slot after the destination's timeout).

With ``REDIS_URL`` both live in Redis (two small Lua scripts using Redis's
clock, so every process shares one bucket and one slot set); without it (the
embedded default), or while Redis does not answer, in this process (limits
then hold per process). No database access.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid

from django.conf import settings

from reliability.webhooks.engine.jobs import Job

log = logging.getLogger("reliability.webhooks.delivery")

KEY_PREFIX = "opsportal:webhooks:pace"

_RATE_LUA = """
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1]); local ts = tonumber(s[2])
if tokens == nil then tokens = 1; ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""

_SLOT_LUA = """
local limit = tonumber(ARGV[1]); local lease = tonumber(ARGV[3])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 60)
  return 1
end
return 0
"""


def burst_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_PACING_BURST_SECONDS", 0.2))


def max_wait() -> float:
    return float(getattr(settings, "WEBHOOK_PACING_MAX_WAIT_SECONDS", 5.0))


def burst_for(rate: float) -> float:
    """The bucket's capacity: the documented burst allowance on top of ``rate`` per second."""
    return max(1.0, rate * burst_seconds())


def rate_key(destination_id: int) -> str:
    return f"{KEY_PREFIX}:rate:{destination_id}"


def slot_key(destination_id: int) -> str:
    return f"{KEY_PREFIX}:slots:{destination_id}"


class _Local:
    """The in-process fallback: the same bucket and slot count, per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[int, list[float]] = {}
        self.slots: dict[int, int] = {}

    def take(self, destination_id: int, rate: float, burst: float) -> float:
        with self.lock:
            now = time.monotonic()
            tokens, ts = self.buckets.get(destination_id, [1.0, now])
            tokens = min(burst, tokens + (now - ts) * rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            self.buckets[destination_id] = [tokens, now]
            return wait

    def take_slot(self, destination_id: int, limit: int) -> bool:
        with self.lock:
            if self.slots.get(destination_id, 0) < limit:
                self.slots[destination_id] = self.slots.get(destination_id, 0) + 1
                return True
            return False

    def free_slot(self, destination_id: int) -> None:
        with self.lock:
            self.slots[destination_id] = max(0, self.slots.get(destination_id, 0) - 1)


_local = _Local()
_client_lock = threading.Lock()
_client = None
_scripts: dict[str, object] = {}
_held = threading.local()  # (destination_id, member, where) of this thread's slot


def _redis():
    global _client
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    if _client is None:
        with _client_lock:
            if _client is None:
                import redis

                client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
                _scripts["rate"] = client.register_script(_RATE_LUA)
                _scripts["slot"] = client.register_script(_SLOT_LUA)
                _client = client
    return _client


def _warn(exc: Exception) -> None:
    log.warning("webhook pacing falls back to this process's own limits: Redis did not answer (%s)", exc)


def take_token(job: Job) -> float:
    """0: a token was taken, go now. Otherwise the seconds until the next token (none taken)."""
    rate = float(job.rate_limit)
    burst = burst_for(rate)
    client = _redis()
    if client is not None:
        try:
            return float(_scripts["rate"](keys=[rate_key(job.destination_id)], args=[rate, burst]))
        except Exception as exc:
            _warn(exc)
    return _local.take(job.destination_id, rate, burst)


def _take_slot(job: Job, member: str) -> str | None:
    client = _redis()
    if client is not None:
        try:
            lease = job.timeout + 15.0
            if int(_scripts["slot"](keys=[slot_key(job.destination_id)], args=[job.concurrency_limit, member, lease])):
                return "redis"
            return None
        except Exception as exc:
            _warn(exc)
    return "local" if _local.take_slot(job.destination_id, int(job.concurrency_limit)) else None


def admit(job: Job, *, sleep=time.sleep) -> float | None:
    """Wait for this send's turn. None: go ahead (call ``release`` after). A number: defer by that many seconds."""
    _held.slot = None
    if job.rate_limit:
        deadline = time.monotonic() + max_wait()
        while True:
            wait = take_token(job)
            if wait <= 0:
                break
            if time.monotonic() + wait > deadline:
                return wait
            sleep(wait * (1 + 0.25 * random.random()))  # noqa: S311 - a spread, not a secret
    if job.concurrency_limit:
        member = uuid.uuid4().hex
        deadline = time.monotonic() + max_wait()
        pause = 0.002
        while True:
            where = _take_slot(job, member)
            if where is not None:
                _held.slot = (job.destination_id, member, where)
                break
            if time.monotonic() >= deadline:
                return 0.2
            sleep(pause)
            pause = min(pause * 2, 0.02)
    return None


def release(job: Job) -> None:
    """Give back this thread's concurrency slot, if it holds one."""
    held = getattr(_held, "slot", None)
    _held.slot = None
    if held is None:
        return
    destination_id, member, where = held
    if where == "local":
        _local.free_slot(destination_id)
        return
    client = _redis()
    try:
        client.zrem(slot_key(destination_id), member)
    except Exception as exc:  # the slot expires with its lease anyway
        _warn(exc)


def pacing_reset(destination_id: int | None = None) -> None:
    """Forget buckets and slots (tests, and an operator changing a limit)."""
    with _local.lock:
        if destination_id is None:
            _local.buckets.clear()
            _local.slots.clear()
        else:
            _local.buckets.pop(destination_id, None)
            _local.slots.pop(destination_id, None)
    client = _redis()
    if client is None:
        return
    try:
        if destination_id is None:
            keys = list(client.scan_iter(f"{KEY_PREFIX}:*", count=1000))
        else:
            keys = [rate_key(destination_id), slot_key(destination_id)]
        if keys:
            client.unlink(*keys)
    except Exception as exc:
        _warn(exc)

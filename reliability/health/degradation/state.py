"""``current_level()``: the effective level, cheap enough for every request.

Three tiers, each a fallback for the one before:

1. a process-local snapshot, at most ``DEGRADATION_CACHE_SECONDS`` (5 s) old;
2. the Django cache (Redis in production), written by the beat evaluator and the override
   services, so every process agrees within the local TTL;
3. the database (active override, else the last evaluation's computed level).

A snapshot carries the override's expiry, so an expired override stops counting at once
(on the wall clock) even inside the TTL. When neither the cache nor the database answers,
the last known snapshot stays in use (NORMAL when there never was one): a lookup failure
must not itself shed traffic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from time import monotonic as _monotonic
from time import time as _time

import structlog
from django.conf import settings

from reliability.health.degradation.levels import Level

log = structlog.get_logger(__name__)

CACHE_KEY = "health:degradation:snapshot"
CACHE_TIMEOUT_SECONDS = 300  # the evaluator rewrites it every DEGRADATION_EVALUATE_SECONDS
_LEVELS = tuple(Level)  # index → member


@dataclass(frozen=True)
class Snapshot:
    computed: int = Level.NORMAL
    override_level: int | None = None
    override_expires_at: float | None = None  # epoch seconds
    reasons: tuple[str, ...] = field(default_factory=tuple)
    at: float = 0.0

    def __post_init__(self) -> None:
        # Enum construction costs microseconds: resolve the members once, here.
        object.__setattr__(self, "_computed", _LEVELS[int(self.computed)])
        has_override = self.override_level is not None and self.override_expires_at is not None
        object.__setattr__(self, "_override", _LEVELS[int(self.override_level)] if has_override else None)

    def level(self, now: float | None = None) -> Level:
        override = self._override
        if override is not None and (now if now is not None else time.time()) < self.override_expires_at:
            return override
        return self._computed

    def as_cache(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons)}

    @classmethod
    def from_cache(cls, value: dict) -> Snapshot:
        return cls(
            computed=int(value["computed"]),
            override_level=value.get("override_level"),
            override_expires_at=value.get("override_expires_at"),
            reasons=tuple(value.get("reasons") or ()),
            at=float(value.get("at") or 0.0),
        )


_local: tuple[float, Snapshot] | None = None  # (monotonic time fetched, snapshot)
_refreshing = threading.Lock()


_ttl_seconds: list[float] = []


def _ttl() -> float:
    # Read once (a settings lookup costs more than the rest of current_level()).
    if not _ttl_seconds:
        _ttl_seconds.append(min(5.0, float(getattr(settings, "DEGRADATION_CACHE_SECONDS", 5.0))))
    return _ttl_seconds[0]


def forget_ttl() -> None:
    _ttl_seconds.clear()


def current_level() -> Level:
    """The effective degradation level (override if active, else computed)."""
    entry = _local
    if entry is None or _monotonic() - entry[0] >= (_ttl_seconds[0] if _ttl_seconds else _ttl()):
        entry = _refresh(entry)
    snapshot = entry[1]
    override = snapshot._override
    if override is not None and _time() < snapshot.override_expires_at:
        return override
    return snapshot._computed


def current_snapshot() -> Snapshot:
    entry = _local
    if entry is None or time.monotonic() - entry[0] >= _ttl():
        entry = _refresh(entry)
    return entry[1]


def _refresh(stale: tuple[float, Snapshot] | None) -> tuple[float, Snapshot]:
    global _local
    # One thread refreshes; the others keep using the stale snapshot meanwhile.
    if not _refreshing.acquire(blocking=stale is None):
        return stale  # type: ignore[return-value]
    try:
        snapshot = _read_cache()
        if snapshot is None:
            snapshot = _read_database()
            if snapshot is not None:
                publish(snapshot, timeout=_ttl())
        if snapshot is None:
            snapshot = stale[1] if stale is not None else Snapshot()
        entry = (time.monotonic(), snapshot)
        _local = entry
        _set_gauge(snapshot)
        return entry
    finally:
        _refreshing.release()


def _read_cache() -> Snapshot | None:
    from django.core.cache import cache

    try:
        value = cache.get(CACHE_KEY)
    except Exception as exc:  # Redis away: fall through to the database
        log.warning("degradation_cache_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
        return None
    if not isinstance(value, dict):
        return None
    try:
        return Snapshot.from_cache(value)
    except (KeyError, TypeError, ValueError):
        return None


def _read_database() -> Snapshot | None:
    from reliability.health.degradation.selectors import snapshot_from_database

    try:
        return snapshot_from_database()
    except Exception as exc:  # database away: keep the last known snapshot
        log.warning("degradation_database_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
        return None


def publish(snapshot: Snapshot, *, timeout: float = CACHE_TIMEOUT_SECONDS) -> None:
    """Share ``snapshot`` with every process (and adopt it in this one)."""
    global _local
    from django.core.cache import cache

    _local = (time.monotonic(), snapshot)
    _set_gauge(snapshot)
    try:
        cache.set(CACHE_KEY, snapshot.as_cache(), timeout=timeout)
    except Exception as exc:
        log.warning("degradation_cache_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])


def hold_local(snapshot: Snapshot) -> None:
    """Use ``snapshot`` in this process until forget_local() (tests: no cache or database lookups)."""
    global _local
    _local = (float("inf"), snapshot)


def forget_local() -> None:
    """Drop this process's copy (tests; the next call reads the cache or database)."""
    global _local
    _local = None


def _set_gauge(snapshot: Snapshot) -> None:
    from reliability.health.degradation.metrics import DEGRADATION_LEVEL

    DEGRADATION_LEVEL.set(int(snapshot.level()))

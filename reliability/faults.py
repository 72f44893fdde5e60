"""Fault injection for outbound calls and other seams: the hook chaos drills set (DESIGN §7.8).

``reliability.http`` consults ``fault_for(target)`` before every call. A fault
adds latency, raises an error (``"timeout"``, ``"connect"``, ``"hang"``,
``"reset"`` or an HTTP status such as 503), and fires with a probability.
Every fault carries an expiry and disappears on its own; a fault for ``"*"``
applies to every target without a fault of its own (``fault_for(t,
fallback=False)`` skips it: the database and Redis seams use their own names).

Shared across processes (the chaos feature, docs/decisions.md "Distributed
faults"): with ``REDIS_URL`` set, ``fault_set``/``fault_clear`` write a Redis
hash and bump a version counter; every process keeps a local snapshot and
re-reads the version at most every ``FAULTS_REFRESH_SECONDS`` (one GET), the
hash only when the version moved. The hot path with no fault anywhere is a
truth test on an empty dict plus a monotonic-clock comparison. Expiry is
decided by each reader from ``expires_at`` against ``_clock``, so a fault
whose drill worker died still ends on time; ``faults_sweep()`` (beat) deletes
the expired entries. Redis unreachable: the local snapshot keeps working.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime

ANY_TARGET = "*"
ERROR_KINDS = ("timeout", "connect", "hang", "reset")
REDIS_KEY = "opsportal:faults"
REDIS_VERSION_KEY = "opsportal:faults:version"

_faults: dict[str, Fault] = {}
_lock = threading.Lock()  # writers only; readers take a snapshot reference
_clock = time.time  # wall clock: expiries are absolute times; tests may replace it
_rng = random.Random()
_shared_state = {"next_refresh": 0.0, "version": None, "client": None, "url": None}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """One active fault for a target (or ``"*"``)."""

    target: str
    expires_at: float  # epoch seconds
    latency_ms: int = 0
    error: str | int | None = None  # "timeout" | "connect" | "hang" | "reset" | HTTP status 400..599 | None
    probability: float = 1.0
    tag: str = ""  # who set it (a chaos run: "chaos-run:12"); reports and metrics tell drills apart

    def fires(self, rng: random.Random | None = None) -> bool:
        """Whether this call is hit (probability 1 always, 0 never)."""
        if self.probability >= 1.0:
            return True
        return (rng or _rng).random() < self.probability

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "probability": self.probability,
            "expires_at": self.expires_at,
            "tag": self.tag,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Fault:
        return cls(target=str(data["target"]), expires_at=float(data["expires_at"]),
                   latency_ms=int(data.get("latency_ms") or 0), error=data.get("error"),
                   probability=float(data.get("probability", 1.0)), tag=str(data.get("tag") or ""))


# --- the shared store (Redis) -----------------------------------------------------------------


def _settings():
    try:
        from django.conf import settings

        return settings if settings.configured else None
    except Exception:  # noqa: BLE001 - outside Django the store is local
        return None


def _client():
    settings = _settings()
    url = getattr(settings, "REDIS_URL", "") if settings is not None else ""
    if not url or not getattr(settings, "FAULTS_SHARED", True):
        return None
    if _shared_state["client"] is None or _shared_state["url"] != url:
        import redis

        timeout = float(getattr(settings, "REDIS_SOCKET_TIMEOUT", 0.5))
        _shared_state["client"] = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        _shared_state["url"] = url
        _shared_state["version"] = None
    return _shared_state["client"]


def _refresh_interval() -> float:
    settings = _settings()
    return float(getattr(settings, "FAULTS_REFRESH_SECONDS", 0.5)) if settings is not None else 0.5


# After a failed read of the shared store, the local snapshot is kept this long before trying again.
_UNAVAILABLE_BACKOFF_SECONDS = 5.0


def _refresh(force: bool = False) -> None:
    """Re-read the shared store when its version moved (at most every refresh interval)."""
    now = time.monotonic()
    if not force and now < _shared_state["next_refresh"]:
        return
    _shared_state["next_refresh"] = now + _refresh_interval()
    client = _client()
    if client is None:
        return
    try:
        version = client.get(REDIS_VERSION_KEY)
        if version == _shared_state["version"] and not force:
            return
        raw = client.hgetall(REDIS_KEY)
    except Exception as exc:  # noqa: BLE001 - Redis away: keep the local snapshot
        # Back off from the end of the failed read: a wedged Redis costs a whole socket timeout
        # per read, and the seams call this on every DB query, so retrying every interval made
        # each query of an operator action wait ~0.5 s (tests/security/test_redis_down.py).
        _shared_state["next_refresh"] = time.monotonic() + max(_refresh_interval(), _UNAVAILABLE_BACKOFF_SECONDS)
        log.debug("faults: shared store unavailable: %s", exc)
        return
    fresh = {}
    for value in raw.values():
        try:
            fault = Fault.from_dict(json.loads(value))
        except (ValueError, KeyError, TypeError):
            continue
        fresh[fault.target] = fault
    global _faults
    with _lock:
        _faults = fresh
        _shared_state["version"] = version


def _publish(set_fault: Fault | None = None, clear: str | None = None, clear_all: bool = False) -> None:
    client = _client()
    if client is None:
        return
    try:
        pipe = client.pipeline()
        if clear_all:
            pipe.delete(REDIS_KEY)
        elif clear is not None:
            pipe.hdel(REDIS_KEY, clear)
        if set_fault is not None:
            pipe.hset(REDIS_KEY, set_fault.target, json.dumps(set_fault.as_dict()))
        pipe.incr(REDIS_VERSION_KEY)
        pipe.execute()
        _shared_state["next_refresh"] = 0.0  # this process re-reads next time too
    except Exception as exc:  # noqa: BLE001
        log.warning("faults: could not publish to the shared store: %s", exc)


# --- the API ------------------------------------------------------------------------------------


def _validate_error(error: str | int | None) -> str | int | None:
    if error is None or error in ERROR_KINDS:
        return error
    if isinstance(error, int) and not isinstance(error, bool) and 400 <= error <= 599:
        return error
    raise ValueError(f"error must be None, one of {ERROR_KINDS} or an HTTP status 400-599, not {error!r}")


def fault_set(
    target: str,
    *,
    latency_ms: int = 0,
    error: str | int | None = None,
    probability: float = 1.0,
    expires_at: datetime | float,
    tag: str = "",
) -> Fault:
    """Activate (or replace) the fault for ``target`` until ``expires_at`` (aware datetime or epoch seconds)."""
    if not target:
        raise ValueError("target is required ('*' for every target)")
    if latency_ms < 0:
        raise ValueError("latency_ms must be >= 0")
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be within [0, 1]")
    error = _validate_error(error)
    if latency_ms == 0 and error is None:
        raise ValueError("a fault needs latency_ms or an error")
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = expires_at.timestamp()
    else:
        expires = float(expires_at)
    if expires <= _clock():
        raise ValueError("expires_at must be in the future")
    fault = Fault(target=target, expires_at=expires, latency_ms=int(latency_ms), error=error,
                  probability=float(probability), tag=str(tag or ""))
    with _lock:
        _faults[target] = fault
    _publish(set_fault=fault)
    return fault


def fault_clear(target: str | None = None) -> None:
    """Remove the fault for ``target``, or every fault when ``target`` is None (the kill switch)."""
    with _lock:
        if target is None:
            _faults.clear()
        else:
            _faults.pop(target, None)
    _publish(clear=target, clear_all=target is None)


def _expire(target: str, fault: Fault) -> None:
    with _lock:
        if _faults.get(target) is fault:
            del _faults[target]


def fault_for(target: str, *, fallback: bool = True) -> Fault | None:
    """The live fault for ``target`` (its own, else ``"*"``), dropping expired ones. Hot path."""
    if _shared_state["url"] is not None or _shared_state["next_refresh"] == 0.0:
        _refresh()
    if not _faults:
        return None
    fault = _faults.get(target) or (_faults.get(ANY_TARGET) if fallback else None)
    if fault is None:
        return None
    if fault.expires_at <= _clock():
        _expire(fault.target, fault)
        return fault_for(target, fallback=fallback) if fault.target != ANY_TARGET else None
    return fault


def faults_active() -> list[Fault]:
    """Every unexpired fault (in every process when shared), expired ones pruned."""
    _refresh(force=True)
    now = _clock()
    with _lock:
        for target in [t for t, f in _faults.items() if f.expires_at <= now]:
            del _faults[target]
        return sorted(_faults.values(), key=lambda f: f.target)


def faults_sweep() -> list[str]:
    """Delete expired faults from the shared store (beat); returns their targets."""
    _refresh(force=True)
    now = _clock()
    expired = [t for t, f in list(_faults.items()) if f.expires_at <= now]
    for target in expired:
        with _lock:
            _faults.pop(target, None)
        client = _client()
        if client is not None:
            try:
                client.hdel(REDIS_KEY, target)
            except Exception as exc:  # noqa: BLE001 - readers ignore it anyway (expired)
                log.debug("faults: could not delete expired %s: %s", target, exc)
    if expired:
        _publish()
    return expired

"""Shared mode: the registry's Redis round trips (flush and poll, degrade, restore)."""

from __future__ import annotations

import time

from reliability.breakers.config import CLOSED
from reliability.breakers.runtime.base import _error_excerpt, log


class SharedSync:
    """The registry's side of the shared store; mixed into ``BreakerRegistry``."""

    def degrade(self, exc: BaseException) -> None:
        """Redis is unreachable: every breaker carries on with its local state."""
        with self._lock:
            if not self.shared_active:
                return
            self.shared_active = False
            self.degraded_since = time.time()
            self.degraded_reason = _error_excerpt(exc)[:200]
            self._next_reconnect = time.monotonic() + 1.0
            for core in self._cores.values():
                core.shared = False
        log.error("breaker store unreachable, breakers run per process: %s", self.degraded_reason)

    def restore(self) -> None:
        with self._lock:
            self.shared_active = True
            self.degraded_since = None
            self.degraded_reason = ""
            for core in self._cores.values():
                with core.lock:
                    core.shared = True
                    core.remote_version = None
                    core.pending_calls = core.pending_failures = core.pending_slow = 0
        log.warning("breaker store reachable again, breakers share state")

    def store_status(self) -> tuple[str, str]:
        """("shared" | "local" | "degraded", detail) for the readiness check."""
        if self.store is None:
            return "local", "in-process state (no REDIS_URL)"
        if self.shared_active:
            return "shared", "redis"
        return "degraded", f"redis unreachable since {time.strftime('%H:%M:%S', time.gmtime(self.degraded_since or 0))}Z ({self.degraded_reason}); breakers run per process"

    def sync_once(self) -> None:
        """One flush/poll round trip for every breaker (the flusher calls this every 250 ms)."""
        store = self.store
        if store is None:
            return
        if not self.shared_active:
            if time.monotonic() < self._next_reconnect:
                return
            try:
                store.ping()
            except Exception:
                self._next_reconnect = time.monotonic() + 1.0
                return
            self.restore()
        with self._sync_lock:
            cores = list(self._cores.values())
            if not cores:
                return
            items = [(core.name, core.take_batch()) for core in cores]
            try:
                results = store.sync(items)
            except Exception as exc:
                self.degrade(exc)
                return
            now = self.clock()
            for core, remote in zip(cores, results, strict=True):
                core.apply_remote(remote, now)
                if remote.decided:
                    self.dispatch(core._event_from_remote(remote, CLOSED))

    def read_remote(self, names: list[str]) -> dict[str, dict]:
        """Fleet-wide window totals from Redis (admin, API); {} when not shared."""
        if not (self.store is not None and self.shared_active) or not names:
            return {}
        try:
            results = self.store.read_many(names)
        except Exception as exc:
            self.degrade(exc)
            return {}
        return {
            name: {
                "state": r.state,
                "calls": r.calls,
                "failures": r.failures,
                "failure_rate": round(r.failures * 100.0 / r.calls, 2) if r.calls else None,
                "store": "shared",
            }
            for name, r in zip(names, results, strict=True)
        }

"""The state machine of one named breaker in one process (``BreakerCore``)."""

from __future__ import annotations

import contextvars
import threading
import time
from bisect import bisect_left
from typing import TYPE_CHECKING

from reliability.breakers.config import (
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    OPEN,
    STATES,
    BreakerConfig,
)
from reliability.breakers.runtime.base import (
    DURATION_BUCKETS,
    FAILURE,
    IGNORED,
    NORMAL,
    REJECTED,
    SUCCESS,
    TIMEOUT,
    CircuitOpenError,
    TransitionEvent,
    _error_excerpt,
)
from reliability.breakers.windows import make_window

_FIRST_BUCKET = DURATION_BUCKETS[0]

if TYPE_CHECKING:
    from reliability.breakers.runtime.registry import BreakerRegistry


class BreakerCore:
    """The state of one named breaker in this process. Use it through ``Breaker``."""

    def __init__(self, registry: BreakerRegistry, name: str, config: BreakerConfig) -> None:
        self.registry = registry
        self.name = name
        self.clock = registry.clock
        self.lock = threading.Lock()
        self.state = CLOSED
        self.version = 0
        self.open_until = 0.0
        self.ho_issued = 0
        self.ho_successes = 0
        self.denied_until = 0.0
        self.last_error = ""
        self.shared = registry.shared_active
        self.remote_version: int | None = None
        # outcomes not yet flushed to Redis, and Redis' window totals at the last flush
        self.pending_calls = self.pending_failures = self.pending_slow = 0
        self.pending_error = ""
        self.remote_calls = self.remote_failures = self.remote_slow = 0
        # metrics, read by the collector at scrape time (no per-call Prometheus cost)
        self.counts = [0, 0, 0, 0, 0]
        self.hist = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.transitions: dict[str, int] = {}
        self.cm_stack: contextvars.ContextVar[tuple] = contextvars.ContextVar(f"breaker-{name}", default=())
        self._apply_config(config)
        self.state_changed_at = time.time()

    # --- configuration ---------------------------------------------------------------
    def _apply_config(self, config: BreakerConfig) -> None:
        self.config = config
        self.slow_threshold_s = config.slow_call_duration
        self.window = make_window(config.window_type, config.window_size)

    def reconfigure(self, config: BreakerConfig) -> None:
        with self.lock:
            if config != self.config:
                self._apply_config(config)

    # --- admission ---------------------------------------------------------------------
    def acquire(self) -> int:
        st = self.state
        if st == CLOSED or st == DISABLED:
            return NORMAL
        return self.acquire_slow()

    def acquire_slow(self) -> int:
        if self.shared and self.registry.shared_active:
            return self._acquire_shared()
        event = None
        with self.lock:
            now = self.clock()
            st = self.state
            if st == CLOSED or st == DISABLED:
                return NORMAL
            if st == OPEN:
                if now < self.open_until:
                    self.counts[REJECTED] += 1
                    raise CircuitOpenError(self.name, self.open_until - now)
                event = self._set_state(HALF_OPEN, "open_duration_elapsed", now)
            if self.state == HALF_OPEN and self.ho_issued < self.config.half_open_permitted_calls:
                self.ho_issued += 1
                token = self.version
            else:
                self.counts[REJECTED] += 1
                token = None
                retry_after = self.config.open_duration if self.state == FORCED_OPEN else min(1.0, self.config.open_duration)
        if event is not None:
            self.registry.dispatch(event)
        if token is None:
            raise CircuitOpenError(self.name, retry_after)
        return token

    def _acquire_shared(self) -> int:
        now = self.clock()
        st = self.state
        if st == FORCED_OPEN:
            self._reject(self.config.open_duration)
        if st == OPEN and now < self.open_until:
            self._reject(self.open_until - now)
        if st == HALF_OPEN and now < self.denied_until:
            self._reject(self.denied_until - now)
        cfg = self.config
        lease_ms = int(1000 * max(30.0, 2 * (cfg.call_timeout or cfg.slow_call_duration)))
        try:
            remote = self.registry.store.acquire(self.name, permitted=cfg.half_open_permitted_calls, lease_ms=lease_ms)
        except Exception as exc:
            self.registry.degrade(exc)
            return self.acquire_slow()
        self.apply_remote(remote, now)
        if remote.decided:
            self.registry.dispatch(self._event_from_remote(remote, OPEN))
        if remote.outcome == "normal":
            return NORMAL
        if remote.outcome == "granted":
            return remote.version
        if remote.state == HALF_OPEN:
            # every permit is out: fail fast locally until a flush shows the outcome
            self.denied_until = now + min(self.registry.flush_interval, remote.remaining or 1.0)
            self._reject(self.denied_until - now)
        self._reject(remote.remaining if remote.state == OPEN else cfg.open_duration)
        raise AssertionError("unreachable")

    def _reject(self, retry_after: float) -> None:
        with self.lock:
            self.counts[REJECTED] += 1
        raise CircuitOpenError(self.name, retry_after)

    # --- outcomes ----------------------------------------------------------------------
    def on_success(self, token: int, start: float, end: float) -> None:
        # The hot path of every protected call: the lock is taken with acquire/release, not
        # ``with`` (the context-manager protocol costs ~120 ns more on CPython 3.11), and the
        # bucket of a fast call is found without a bisect (bench/breakers).
        d = end - start
        slow = d >= self.slow_threshold_s
        bucket = 0 if d <= _FIRST_BUCKET else bisect_left(DURATION_BUCKETS, d)
        lock = self.lock
        lock.acquire()
        try:
            self.counts[SUCCESS] += 1
            self.duration_sum += d
            self.hist[bucket] += 1
            if token == NORMAL:
                if self.state != CLOSED:
                    return
                w = self.window
                w.record(False, slow, end)
                if self.shared:
                    self.pending_calls += 1
                    if not slow:
                        return
                    self.pending_slow += 1
                elif not (w.failures or w.slow) or w.calls < self.config.minimum_calls:
                    return  # nothing that could trip (the usual case)
        finally:
            lock.release()
        if token == NORMAL:
            self._after_bad_outcome(end)
        else:
            self._probe_outcome(token, "success", end, "")

    def on_error(self, token: int, start: float, end: float, exc: BaseException,
                 exclude: tuple = (), timeout: bool = False) -> None:
        if not isinstance(exc, Exception) or (exclude and isinstance(exc, exclude)):
            # excluded errors and cancellations are neither success nor failure
            with self.lock:
                self.counts[IGNORED] += 1
            if token != NORMAL:
                self._probe_outcome(token, "ignored", end, "")
            return
        if not timeout and isinstance(exc, TimeoutError):
            timeout = True
        d = end - start
        slow = d >= self.slow_threshold_s
        excerpt = _error_excerpt(exc)
        with self.lock:
            self.counts[TIMEOUT if timeout else FAILURE] += 1
            self.duration_sum += d
            self.hist[bisect_left(DURATION_BUCKETS, d)] += 1
            self.last_error = excerpt
            if token == NORMAL:
                if self.state != CLOSED:
                    return
                self.window.record(True, slow, end)
                if self.shared:
                    self.pending_calls += 1
                    self.pending_failures += 1
                    if slow:
                        self.pending_slow += 1
                    self.pending_error = excerpt
        if token == NORMAL:
            self._after_bad_outcome(end)
        else:
            self._probe_outcome(token, "failure", end, excerpt)

    def _rates(self, calls: int, failures: int, slow: int) -> tuple[str, float, float] | None:
        cfg = self.config
        if calls < cfg.minimum_calls or calls <= 0:
            return None
        fr = failures * 100.0 / calls
        sr = slow * 100.0 / calls
        if fr >= cfg.failure_rate_threshold:
            return "failure_rate", fr, sr
        if sr >= cfg.slow_call_rate_threshold:
            return "slow_call_rate", fr, sr
        return None

    def _after_bad_outcome(self, now: float) -> None:
        """A failure or slow call: trip here (local mode) or hurry the flusher (shared mode)."""
        event = None
        with self.lock:
            if self.state != CLOSED:
                return
            if self.shared:
                hint = self._rates(self.remote_calls + self.pending_calls,
                                   self.remote_failures + self.pending_failures,
                                   self.remote_slow + self.pending_slow)
                if hint is None:
                    return
            else:
                w = self.window
                w.advance(now)
                verdict = self._rates(w.calls, w.failures, w.slow)
                if verdict is None:
                    return
                cause, fr, sr = verdict
                calls = w.calls
                event = self._set_state(OPEN, cause, now, failure_rate=fr, slow_rate=sr, calls=calls)
        if event is None:
            self._flush_now(now)
        else:
            self.registry.dispatch(event)

    def _flush_now(self, now: float) -> None:
        """This process' outcomes may trip the breaker: let Redis decide now, not at the next flush.

        A round trip on the failure that crosses the threshold only, never on the fast path.
        """
        registry = self.registry
        batch = self.take_batch()
        if batch is None:
            return
        try:
            (remote,) = registry.store.sync([(self.name, batch)])
        except Exception as exc:
            registry.degrade(exc)
            self._after_bad_outcome(now)  # decide locally instead
            return
        self.apply_remote(remote, now)
        if remote.decided:
            registry.dispatch(self._event_from_remote(remote, CLOSED))

    def _probe_outcome(self, token: int, result: str, now: float, excerpt: str) -> None:
        if self.shared and self.registry.shared_active:
            cfg = self.config
            try:
                remote = self.registry.store.probe_result(
                    self.name, version=token, result=result, success_threshold=cfg.success_threshold,
                    open_ms=int(cfg.open_duration * 1000), last_error=excerpt,
                )
            except Exception as exc:
                self.registry.degrade(exc)
            else:
                self.apply_remote(remote, now)
                if remote.decided:
                    self.registry.dispatch(self._event_from_remote(remote, HALF_OPEN))
                return
        event = None
        with self.lock:
            if self.state != HALF_OPEN or token != self.version:
                return  # a probe of an earlier episode (or the state was changed by hand)
            if result == "ignored":
                self.ho_issued = max(0, self.ho_issued - 1)
            elif result == "success":
                self.ho_successes += 1
                if self.ho_successes >= self.config.success_threshold:
                    event = self._set_state(CLOSED, "probe_success", now)
            else:
                event = self._set_state(OPEN, "probe_failure", now)
        if event is not None:
            self.registry.dispatch(event)

    # --- state changes -------------------------------------------------------------------
    def _set_state(self, to: str, cause: str, now: float, *, failure_rate: float | None = None,
                   slow_rate: float | None = None, calls: int = 0, record: bool = True) -> TransitionEvent | None:
        """Change state under ``self.lock``; returns the event to dispatch after unlocking."""
        before = self.state
        self.state = to
        self.version += 1
        self.state_changed_at = time.time()
        self.window.reset()
        self.ho_issued = self.ho_successes = 0
        self.denied_until = 0.0
        self.pending_calls = self.pending_failures = self.pending_slow = 0
        self.remote_calls = self.remote_failures = self.remote_slow = 0
        if to == OPEN:
            self.open_until = now + self.config.open_duration
        if not record:
            return None
        self.transitions[to] = self.transitions.get(to, 0) + 1
        return TransitionEvent(self.name, before, to, cause, failure_rate, slow_rate, calls, self.last_error)

    def apply_remote(self, remote, now: float) -> None:
        """Adopt the state Redis holds (seen by a flush, a probe or a manual change)."""
        state = remote.state if remote.state in STATES else CLOSED
        with self.lock:
            self.remote_calls, self.remote_failures, self.remote_slow = remote.calls, remote.failures, remote.slow
            self.remote_version = remote.version
            if remote.decided:
                self.transitions[remote.decided] = self.transitions.get(remote.decided, 0) + 1
            if state == self.state and remote.version == self.version:
                if state == OPEN:
                    self.open_until = now + remote.remaining
                return
            self.state = state
            self.version = remote.version
            self.state_changed_at = time.time()
            self.window.reset()
            self.ho_issued = self.ho_successes = 0
            self.denied_until = 0.0
            self.pending_calls = self.pending_failures = self.pending_slow = 0
            if state == OPEN:
                self.open_until = now + remote.remaining

    def _event_from_remote(self, remote, from_if_unknown: str) -> TransitionEvent:
        before = {OPEN: CLOSED, HALF_OPEN: OPEN, CLOSED: HALF_OPEN}.get(remote.decided, from_if_unknown)
        if remote.cause == "probe_failure":
            before = HALF_OPEN
        return TransitionEvent(
            self.name, before, remote.decided, remote.cause, remote.failure_rate, remote.slow_rate,
            remote.calls, remote.last_error or self.last_error, scope="shared",
        )

    def set_manual(self, state: str) -> None:
        """Apply a manual state (forced_open, disabled, closed) in this process; services record it."""
        with self.lock:
            if self.state != state or state == CLOSED:
                self._set_state(state, "manual", self.clock(), record=False)

    # --- shared-mode flush ---------------------------------------------------------------
    def take_batch(self) -> tuple | None:
        with self.lock:
            if not self.pending_calls:
                return None
            cfg = self.config
            batch = (
                self.pending_calls, self.pending_failures, self.pending_slow,
                cfg.failure_rate_threshold, cfg.minimum_calls, cfg.window_type, cfg.window_size,
                cfg.slow_call_rate_threshold, int(cfg.open_duration * 1000), self.pending_error,
            )
            self.pending_calls = self.pending_failures = self.pending_slow = 0
            self.pending_error = ""
            return batch

    def snapshot(self) -> dict:
        """This process' view (local mode: the truth; shared mode: its own share)."""
        with self.lock:
            w = self.window
            w.advance(self.clock())
            calls, failures = (w.calls, w.failures)
            if self.shared:
                calls, failures = self.remote_calls + self.pending_calls, self.remote_failures + self.pending_failures
            return {
                "name": self.name,
                "state": self.state,
                "calls": calls,
                "failures": failures,
                "failure_rate": round(failures * 100.0 / calls, 2) if calls else None,
                "last_error": self.last_error,
                "store": "shared" if self.shared and self.registry.shared_active else "local",
            }


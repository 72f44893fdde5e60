"""The breaker runtime: a per-process registry of breakers and their state machine.

Plain Python (no Django import), so it loads at import time anywhere. The
Django app plugs in ``RuntimeHooks`` (record transitions, register names, load
configs from the database) and, when ``REDIS_URL`` is set, a ``RedisStore``.

Modes:
- local: state lives in this process (the embedded default, or Redis down).
- shared: the closed-state fast path only counts outcomes in memory; a
  background flusher sends the counts to Redis every ``flush_interval``
  (0.25 s) in one pipelined round trip and reads back every breaker's state
  and version there, so a transition made anywhere is seen here within a
  flush interval. Trip and close decisions are Lua scripts in Redis; only the
  process whose script made the transition records it. Open → half-open and
  probe outcomes are one round trip each (not the closed fast path).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
import queue
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reliability.breakers.config import (
    CLOSED,
    DEFAULT_CONFIG,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    MANUAL_STATES,
    OPEN,
    STATES,
    BreakerConfig,
)
from reliability.breakers.windows import make_window

log = logging.getLogger("reliability.breakers")

# Prometheus histogram bounds for call durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

NORMAL = -1  # the token of a call admitted in closed/disabled; probes carry the state version (>= 0)

# Indexes into BreakerCore.counts (requests_total{result}).
SUCCESS, FAILURE, TIMEOUT, REJECTED, IGNORED = range(5)
RESULTS = ("success", "failure", "timeout", "rejected", "ignored")


class CircuitOpenError(Exception):
    """Raised instead of calling a protected function while its breaker refuses calls."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(f"circuit breaker {name!r} is open; retry after {self.retry_after:.2f}s")

    def __reduce__(self):
        return (type(self), (self.name, self.retry_after))


@dataclass(frozen=True)
class TransitionEvent:
    """An automatic transition this process decided (and so must record)."""

    name: str
    from_state: str
    to_state: str
    cause: str
    failure_rate: float | None = None
    slow_call_rate: float | None = None
    calls_in_window: int = 0
    last_error: str = ""
    at: float = field(default_factory=time.time)  # wall clock, for the DB row
    scope: str = "local"  # "shared" (decided in Redis for the fleet) or "local"


class RuntimeHooks:
    """What the Django app plugs in; every method runs off the caller's thread by default."""

    def record_transition(self, event: TransitionEvent) -> None:  # pragma: no cover - interface
        pass

    def register(self, name: str, config: BreakerConfig) -> None:  # pragma: no cover - interface
        pass

    def load_configs(self) -> dict[str, tuple[BreakerConfig, str | None]]:  # pragma: no cover - interface
        """name → (config, manual state or None) as stored in the database."""
        return {}


def _error_excerpt(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:500]
    except Exception:  # a broken __str__ must not break the caller
        return type(exc).__name__


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
        d = end - start
        slow = d >= self.slow_threshold_s
        with self.lock:
            self.counts[SUCCESS] += 1
            self.duration_sum += d
            self.hist[bisect_left(DURATION_BUCKETS, d)] += 1
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


class Breaker:
    """A handle on a named breaker: call it, decorate with it, or use it as a context manager."""

    __slots__ = ("_core", "_fallback", "_exclude", "__weakref__")

    def __init__(self, core: BreakerCore, fallback: Callable | None = None, exclude: tuple = ()) -> None:
        self._core = core
        self._fallback = fallback
        self._exclude = tuple(exclude)

    def __repr__(self) -> str:
        return f"<Breaker {self._core.name!r} {self.state}>"

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def state(self) -> str:
        core = self._core
        if core.state == OPEN and core.clock() >= core.open_until:
            return HALF_OPEN  # the next call will probe
        return core.state

    @property
    def config(self) -> BreakerConfig:
        return self._core.config

    # --- sync ----------------------------------------------------------------------------
    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        st = core.state
        if st == CLOSED or st == DISABLED:
            token = NORMAL
        else:
            try:
                token = core.acquire_slow()
            except CircuitOpenError:
                if self._fallback is not None:
                    return self._fallback(*args, **kwargs)
                raise
        clock = core.clock
        start = clock()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            core.on_error(token, start, clock(), exc, self._exclude)
            raise
        core.on_success(token, start, clock())
        return result

    def __enter__(self) -> Breaker:
        core = self._core
        token = core.acquire()
        core.cm_stack.set(core.cm_stack.get() + ((token, core.clock(), None),))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        core = self._core
        stack = core.cm_stack.get()
        token, start, _ = stack[-1]
        core.cm_stack.set(stack[:-1])
        if exc is None:
            core.on_success(token, start, core.clock())
        else:
            core.on_error(token, start, core.clock(), exc, self._exclude)
        return False

    # --- async ---------------------------------------------------------------------------
    async def acall(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        try:
            token = core.acquire()
        except CircuitOpenError:
            if self._fallback is not None:
                result = self._fallback(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            raise
        timeout = core.config.call_timeout
        clock = core.clock
        start = clock()
        try:
            if timeout is None:
                result = await fn(*args, **kwargs)
            else:
                async with asyncio.timeout(timeout):
                    result = await fn(*args, **kwargs)
        except BaseException as exc:
            core.on_error(token, start, clock(), exc, self._exclude)
            raise
        core.on_success(token, start, clock())
        return result

    async def __aenter__(self) -> Breaker:
        core = self._core
        token = core.acquire()
        timer = None
        if core.config.call_timeout is not None:
            timer = asyncio.timeout(core.config.call_timeout)
            await timer.__aenter__()
        core.cm_stack.set(core.cm_stack.get() + ((token, core.clock(), timer),))
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        core = self._core
        stack = core.cm_stack.get()
        token, start, timer = stack[-1]
        core.cm_stack.set(stack[:-1])
        if timer is not None:
            try:
                await timer.__aexit__(exc_type, exc, tb)
            except TimeoutError as timed_out:
                core.on_error(token, start, core.clock(), timed_out, self._exclude, timeout=True)
                raise
        if exc is None:
            core.on_success(token, start, core.clock())
        else:
            core.on_error(token, start, core.clock(), exc, self._exclude)
        return False

    # --- decorator -----------------------------------------------------------------------
    def __call__(self, fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                return await self.acall(fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return self.call(fn, *args, **kwargs)

        return wrapper


class BreakerRegistry:
    """Every breaker of this process, the optional Redis store and the background threads."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, redis_url: str | None = None,
                 hooks: RuntimeHooks | None = None, background: bool = True, recorder: bool = True,
                 flush_interval: float = 0.25,
                 config_refresh: float = 30.0, store_timeout: float = 0.25) -> None:
        self.clock = clock
        self.flush_interval = flush_interval
        self.config_refresh = config_refresh
        self.background = background
        self.recorder = recorder
        self.hooks = hooks
        self._lock = threading.RLock()
        # Orders a sync round trip against a manual change: without it a sync that read Redis
        # just before an operator's change could apply that stale state just after it.
        self._sync_lock = threading.Lock()
        self._cores: dict[str, BreakerCore] = {}
        self._handles: dict[str, Breaker] = {}
        self._declared: dict[str, BreakerConfig] = {}
        self._db_configs: dict[str, BreakerConfig] = {}
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.store = None
        self.redis_url = redis_url or None
        self.store_timeout = store_timeout
        self.shared_active = False
        self.degraded_since: float | None = None
        self.degraded_reason = ""
        self._next_reconnect = 0.0
        if self.redis_url:
            from reliability.breakers.store import RedisStore

            self.store = RedisStore(self.redis_url, timeout=store_timeout)
            self.shared_active = True
        _registries.add(self)

    # --- lookup --------------------------------------------------------------------------
    def get(self, name: str, *, config: BreakerConfig | None = None, fallback: Callable | None = None,
            exclude: tuple = ()) -> Breaker:
        handle = self._handles.get(name)
        if handle is None or config is not None:
            handle = self._create(name, config)
        if fallback is None and not exclude:
            return handle
        return Breaker(handle._core, fallback=fallback, exclude=exclude)

    def _create(self, name: str, config: BreakerConfig | None) -> Breaker:
        if not isinstance(name, str) or not name or len(name) > 100 or "\x00" in name:
            raise ValueError("a breaker name is a non-empty string of at most 100 characters (no NUL)")
        with self._lock:
            if config is not None:
                self._declared[name] = config
            handle = self._handles.get(name)
            if handle is not None:
                if config is not None and name not in self._db_configs:
                    handle._core.reconfigure(config)
                return handle
            effective = self._db_configs.get(name) or self._declared.get(name) or DEFAULT_CONFIG
            core = BreakerCore(self, name, effective)
            handle = Breaker(core)
            self._cores[name] = core
            self._handles[name] = handle
        if self.hooks is not None:
            self._events.put(("register", name, effective))
        self._ensure_threads()
        self.wake_flusher()
        return handle

    def names(self) -> list[str]:
        return sorted(self._cores)

    def core(self, name: str) -> BreakerCore | None:
        return self._cores.get(name)

    def cores(self) -> list[BreakerCore]:
        return list(self._cores.values())

    # --- configuration ---------------------------------------------------------------------
    def configure(self, *, redis_url: str | None = None, hooks: RuntimeHooks | None = None,
                  background: bool | None = None, recorder: bool | None = None,
                  clock: Callable[[], float] | None = None) -> None:
        """(Re)wire the registry; existing breakers keep their state but follow the new store."""
        self.close()
        with self._lock:
            if hooks is not None:
                self.hooks = hooks
            if background is not None:
                self.background = background
            if recorder is not None:
                self.recorder = recorder
            if clock is not None:
                self.clock = clock
                for core in self._cores.values():
                    core.clock = clock
            self.redis_url = redis_url or None
            self.store = None
            self.shared_active = False
            self.degraded_since = None
            if self.redis_url:
                from reliability.breakers.store import RedisStore

                self.store = RedisStore(self.redis_url, timeout=self.store_timeout)
                self.shared_active = True
            for core in self._cores.values():
                core.shared = self.shared_active
                core.remote_version = None
        self._stop = threading.Event()
        if self._cores:
            self._ensure_threads()

    def apply_configs(self, configs: dict[str, tuple[BreakerConfig, str | None]]) -> None:
        """Adopt configs (and manual states, in local mode) loaded from the database."""
        with self._lock:
            self._db_configs = {name: cfg for name, (cfg, _) in configs.items()}
        for name, (cfg, manual) in configs.items():
            core = self._cores.get(name)
            if core is None:
                continue
            core.reconfigure(cfg)
            if core.shared:
                continue  # Redis holds the manual state for the fleet
            if manual is not None and core.state != manual:
                core.set_manual(manual)
            elif manual is None and core.state in MANUAL_STATES:
                core.set_manual(CLOSED)  # an operator closed it while we were not listening

    def apply_config(self, name: str, config: BreakerConfig) -> None:
        """A config saved in the database: it wins over the code-declared one."""
        with self._lock:
            self._db_configs[name] = config
        core = self._cores.get(name)
        if core is not None:
            core.reconfigure(config)

    def refresh_configs(self) -> None:
        if self.hooks is not None:
            self.apply_configs(self.hooks.load_configs())

    # --- manual changes ----------------------------------------------------------------------
    def apply_manual(self, name: str, state: str) -> None:
        """Make a manual state (forced_open, disabled, closed) effective fleet-wide."""
        handle = self.get(name)
        core = handle._core
        with self._sync_lock:
            if self.shared_active and self.store is not None:
                try:
                    remote = self.store.set_state(name, state=state, open_ms=int(core.config.open_duration * 1000))
                except Exception as exc:
                    self.degrade(exc)
                else:
                    core.apply_remote(remote, self.clock())
                    return
            core.set_manual(state)

    # --- events ---------------------------------------------------------------------------
    def dispatch(self, event: TransitionEvent) -> None:
        log.warning(
            "circuit breaker %s: %s -> %s (%s)", event.name, event.from_state, event.to_state, event.cause,
            extra={"breaker": event.name, "to": event.to_state, "cause": event.cause, "scope": event.scope},
        )
        if self.hooks is not None:
            self._events.put(("transition", event))
            self._ensure_threads()

    def drain(self) -> int:
        """Run the queued hook calls in this thread (tests; the recorder thread does it otherwise)."""
        done = 0
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return done
            self._run_hook(item)
            done += 1

    def _run_hook(self, item: tuple) -> None:
        hooks = self.hooks
        if hooks is None:
            return
        try:
            if item[0] == "transition":
                hooks.record_transition(item[1])
            elif item[0] == "register":
                hooks.register(item[1], item[2])
        except Exception:
            log.exception("breaker hook %s failed", item[0])

    # --- shared store ------------------------------------------------------------------------
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

    # --- threads -----------------------------------------------------------------------------
    def wake_flusher(self) -> None:
        if self.store is not None:
            self._wake.set()

    def _ensure_threads(self) -> None:
        if not self.background or self._threads and all(t.is_alive() for t in self._threads):
            return
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            names = {t.name for t in self._threads}
            stop = self._stop
            if self.store is not None and "breaker-flusher" not in names:
                t = threading.Thread(target=self._flusher_loop, args=(stop,), name="breaker-flusher", daemon=True)
                t.start()
                self._threads.append(t)
            if self.hooks is not None and self.recorder and "breaker-recorder" not in names:
                t = threading.Thread(target=self._recorder_loop, args=(stop,), name="breaker-recorder", daemon=True)
                t.start()
                self._threads.append(t)

    def _flusher_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if stop.is_set():
                return
            try:
                self.sync_once()
            except Exception:
                log.exception("breaker flush failed")

    def _recorder_loop(self, stop: threading.Event) -> None:
        next_refresh = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + self.config_refresh
                try:
                    self.refresh_configs()
                except Exception:
                    log.exception("loading breaker configs failed")
                finally:
                    self._close_db()
            try:
                item = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            self._run_hook(item)
            self._close_db()

    @staticmethod
    def _close_db() -> None:
        # The recorder owns a DB connection only while it writes: never hold one idle.
        try:
            from django.db import connection

            connection.close()
        except Exception:  # noqa: S110 - Django absent or not configured: nothing to close
            pass

    def close(self) -> None:
        """Stop the background threads (they are daemons; this is for tests and reconfigure)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)
        self._threads = []
        self._wake.clear()

    def reset(self) -> None:
        """Forget every breaker of this process (tests)."""
        with self._lock:
            self._cores.clear()
            self._handles.clear()
            self._declared.clear()
            self._db_configs.clear()
        while True:
            try:
                self._events.get_nowait()
            except queue.Empty:
                break

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads = []
        self._events = queue.SimpleQueue()
        for core in self._cores.values():
            core.lock = threading.Lock()
            core.pending_calls = core.pending_failures = core.pending_slow = 0
        if self.store is not None:
            self.store.reconnect()
        if self._cores:
            self._ensure_threads()


_registries: weakref.WeakSet[BreakerRegistry] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for registry in list(_registries):
        try:
            registry._after_fork_in_child()
        except Exception:
            log.exception("breaker registry reinit after fork failed")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


default_registry = BreakerRegistry()


def breaker(name: str, *, config: BreakerConfig | None = None, fallback: Callable | None = None,
            exclude: tuple = ()) -> Breaker:
    """The process-wide breaker called ``name`` (created with defaults on first use).

    ``config`` declares it in code (a database row, when there is one, wins).
    ``fallback`` is called with the call's arguments instead of raising
    ``CircuitOpenError``; ``exclude`` lists exception types that do not count.
    """
    if fallback is None and not exclude and config is None:
        handle = default_registry._handles.get(name)
        if handle is not None:
            return handle
    return default_registry.get(name, config=config, fallback=fallback, exclude=exclude)


def declare(name: str, config: BreakerConfig) -> Breaker:
    """Declare a breaker's config in code (e.g. at import time of the integration module)."""
    return default_registry.get(name, config=config)

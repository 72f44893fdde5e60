"""``BreakerRegistry``: every breaker of this process; ``breaker()`` and ``declare()``."""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable

from reliability.breakers.config import CLOSED, DEFAULT_CONFIG, MANUAL_STATES, BreakerConfig
from reliability.breakers.runtime.base import RuntimeHooks, TransitionEvent, log
from reliability.breakers.runtime.core import BreakerCore
from reliability.breakers.runtime.handle import Breaker
from reliability.breakers.runtime.recorder import BackgroundThreads
from reliability.breakers.runtime.shared import SharedSync


class BreakerRegistry(SharedSync, BackgroundThreads):
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

    # --- lifecycle -----------------------------------------------------------------------------
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


def flush_at_exit(*_args, **_kwargs) -> None:
    """Flush every registry of this process (atexit, gunicorn ``worker_exit``, Celery shutdown signals)."""
    for registry in list(_registries):
        registry.shutdown()


def declare(name: str, config: BreakerConfig) -> Breaker:
    """Declare a breaker's config in code (e.g. at import time of the integration module)."""
    return default_registry.get(name, config=config)

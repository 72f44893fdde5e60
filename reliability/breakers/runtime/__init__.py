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

Rooms:
- ``base``: result constants, ``CircuitOpenError``, ``TransitionEvent``, ``RuntimeHooks``.
- ``core``: ``BreakerCore``, one breaker's state machine in this process.
- ``handle``: ``Breaker``, what callers hold (call, decorator, context manager, async).
- ``registry``: ``BreakerRegistry``, ``default_registry``, ``breaker()``, ``declare()``.
- ``shared``: the registry's Redis round trips (flush/poll, degrade, restore).
- ``recorder``: the background threads (flusher, recorder of hook calls).

Nothing here imports Django (``tests/breakers/test_runtime_layout.py`` checks it):
the recorder thread asks the hooks to release their connections instead.
"""

from reliability.breakers.runtime.base import (
    DURATION_BUCKETS,
    FAILURE,
    IGNORED,
    NORMAL,
    REJECTED,
    RESULTS,
    SUCCESS,
    TIMEOUT,
    CircuitOpenError,
    RuntimeHooks,
    TransitionEvent,
)
from reliability.breakers.runtime.core import BreakerCore
from reliability.breakers.runtime.handle import Breaker
from reliability.breakers.runtime.registry import (
    BreakerRegistry,
    breaker,
    declare,
    default_registry,
    flush_at_exit,
)

__all__ = [
    "DURATION_BUCKETS",
    "FAILURE",
    "IGNORED",
    "NORMAL",
    "REJECTED",
    "RESULTS",
    "SUCCESS",
    "TIMEOUT",
    "Breaker",
    "BreakerCore",
    "BreakerRegistry",
    "CircuitOpenError",
    "RuntimeHooks",
    "TransitionEvent",
    "breaker",
    "declare",
    "default_registry",
    "flush_at_exit",
]

"""What every room of the runtime shares: result constants, the refusal error, the
transition event and the hooks interface the Django app implements."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from reliability.breakers.config import BreakerConfig

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
    def release_connections(self) -> None:  # pragma: no cover - interface
        """Called on the recorder thread after its hook calls: give back what they hold between calls."""


def _error_excerpt(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:500]
    except Exception:  # a broken __str__ must not break the caller
        return type(exc).__name__


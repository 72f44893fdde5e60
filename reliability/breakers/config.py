"""Breaker configuration: one frozen value object shared by code, the DB and Redis."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

WINDOW_COUNT = "count"
WINDOW_TIME = "time"

# Runtime states (the strings are the public contract: ``breaker(...).state``).
CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
FORCED_OPEN = "forced_open"
DISABLED = "disabled"
STATES = (CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED)
MANUAL_STATES = (FORCED_OPEN, DISABLED)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """How a breaker trips and recovers.

    failure_rate_threshold / slow_call_rate_threshold are percentages (0-100]
    of the calls in the sliding window; nothing trips before ``minimum_calls``
    outcomes are in the window. ``window_size`` counts calls for a count window
    and seconds for a time window. In half-open, at most
    ``half_open_permitted_calls`` probes run (across all processes in shared
    mode); ``success_threshold`` successful probes close the breaker and any
    failed probe re-opens it. ``call_timeout`` (seconds) bounds async calls.
    """

    failure_rate_threshold: float = 50.0
    minimum_calls: int = 10
    window_type: str = WINDOW_COUNT
    window_size: int = 100
    slow_call_duration: float = 5.0
    slow_call_rate_threshold: float = 100.0
    open_duration: float = 30.0
    half_open_permitted_calls: int = 3
    success_threshold: int = 2
    call_timeout: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.failure_rate_threshold <= 100:
            problems.append("failure_rate_threshold must be in (0, 100]")
        if not 0 < self.slow_call_rate_threshold <= 100:
            problems.append("slow_call_rate_threshold must be in (0, 100]")
        if self.minimum_calls < 1:
            problems.append("minimum_calls must be >= 1")
        if self.window_type not in (WINDOW_COUNT, WINDOW_TIME):
            problems.append("window_type must be 'count' or 'time'")
        if self.window_size < 1:
            problems.append("window_size must be >= 1")
        if self.slow_call_duration <= 0:
            problems.append("slow_call_duration must be > 0")
        if self.open_duration <= 0:
            problems.append("open_duration must be > 0")
        if self.half_open_permitted_calls < 1:
            problems.append("half_open_permitted_calls must be >= 1")
        if not 1 <= self.success_threshold <= self.half_open_permitted_calls:
            problems.append("success_threshold must be between 1 and half_open_permitted_calls")
        if self.call_timeout is not None and self.call_timeout <= 0:
            problems.append("call_timeout must be > 0 or None")
        if problems:
            raise ValueError("invalid BreakerConfig: " + "; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BreakerConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def with_changes(self, **changes) -> BreakerConfig:
        return replace(self, **changes)


DEFAULT_CONFIG = BreakerConfig()

"""Named retry policies built on tenacity (DESIGN §7.3).

A policy says how often to try and how long to wait between tries:

    from reliability.retry import get_policy
    get_policy("default").call(fn, *args)          # or: await policy.acall(afn, ...)

Only retriable failures are retried: connect errors, timeouts, and HTTP 429 /
5xx responses (returned or raised as ``httpx.HTTPStatusError``). Other 4xx are
final, and ``CircuitOpenError`` is never retried: an open breaker means "stop".
A ``Retry-After`` header on a retriable response replaces the computed backoff,
clamped to the policy's ``max_delay``.

``backoff_delay`` is the pure strategy function; the webhook gateway reuses it
(and ``RetryPolicy.delay``) to compute durable, DB-scheduled retry times.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import tenacity
from prometheus_client import Counter

from reliability.breakers import CircuitOpenError

Strategy = Literal["exponential", "linear", "fixed", "fibonacci", "schedule"]
STRATEGIES: tuple[str, ...] = ("exponential", "linear", "fixed", "fibonacci", "schedule")
# "none": the computed delay; "full": uniform(0, delay) (AWS "full jitter");
# a float f in (0, 1]: uniform(delay * (1 - f), delay * (1 + f)), e.g. 0.2 for ±20 %.
Jitter = Literal["none", "full"] | float | None

RETRIABLE_STATUSES = frozenset({429}) | frozenset(range(500, 600))

RETRY_ATTEMPTS = Counter(
    "retry_attempts_total",
    "Retries made (attempts after the first) by retry policy.",
    ["policy"],
)

T = TypeVar("T")

# Indirection so tests can replace sleeping without touching each policy.
_sleep: Callable[[float], None] = time.sleep
_asleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class UnknownPolicy(KeyError):
    """No retry policy is registered under that name."""


# --- Pure strategy maths -----------------------------------------------------------------


def _fibonacci(n: int) -> int:
    a, b = 1, 1  # F(1) = F(2) = 1
    for _ in range(n - 1):
        a, b = b, a + b
    return a


def backoff_delay(
    strategy: str,
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter: Jitter = "none",
    rng: random.Random | None = None,
    schedule: tuple[float, ...] = (),
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based), before the next one.

    exponential: base * 2**(n-1)  → base, 2·base, 4·base, …
    linear:      base * n         → base, 2·base, 3·base, …
    fixed:       base
    fibonacci:   base * F(n)      → base, base, 2·base, 3·base, 5·base, …
    schedule:    schedule[n-1], the last entry repeating (base is ignored)

    The result never exceeds ``cap`` (jitter is applied before the clamp) and is never negative.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    if strategy == "exponential":
        # Past 2**64 every realistic cap has long been reached; avoid float overflow.
        delay = base * (2.0 ** min(attempt - 1, 64))
    elif strategy == "linear":
        delay = base * attempt
    elif strategy == "fixed":
        delay = base
    elif strategy == "fibonacci":
        delay = base * _fibonacci(min(attempt, 90))
    elif strategy == "schedule":
        if not schedule:
            raise ValueError("the schedule strategy needs a non-empty schedule")
        delay = float(schedule[min(attempt, len(schedule)) - 1])
    else:
        raise ValueError(f"unknown backoff strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    delay = min(delay, cap)
    if jitter not in (None, "none", 0, 0.0):
        rng = rng or random
        if jitter == "full":
            delay = rng.uniform(0.0, delay)
        elif isinstance(jitter, int | float) and 0 < jitter <= 1:
            delay = rng.uniform(delay * (1 - jitter), delay * (1 + jitter))
        else:
            raise ValueError(f"jitter must be 'none', 'full' or a fraction in (0, 1], not {jitter!r}")
    return max(0.0, min(delay, cap))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or HTTP-date), or None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; obsolete forms may parse naive
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


# --- What may be retried -----------------------------------------------------------------


def is_retriable_status(status: int) -> bool:
    return status in RETRIABLE_STATUSES


def is_retriable_exception(exc: BaseException) -> bool:
    """Connect errors and timeouts are retriable; CircuitOpenError and everything else are not."""
    if isinstance(exc, CircuitOpenError):  # an open breaker means stop, not "try again"
        return False
    if isinstance(exc, httpx.HTTPStatusError):
        return is_retriable_status(exc.response.status_code)
    if isinstance(exc, httpx.TimeoutException | httpx.ConnectError):
        return True
    # reliability.http's OutboundTimeout / OutboundConnectError declare themselves retriable.
    if getattr(type(exc), "retriable", False) is True:
        return True
    return isinstance(exc, TimeoutError | ConnectionRefusedError)


def _retriable_response(result: Any) -> bool:
    status = getattr(result, "status_code", None)
    return isinstance(status, int) and is_retriable_status(status)


def _retry_after_of(outcome: tenacity.Future | None, *, now: float | None = None) -> float | None:
    if outcome is None:
        return None
    if outcome.failed:
        exc = outcome.exception()
        response = getattr(exc, "response", None)
    else:
        response = outcome.result()
    headers = getattr(response, "headers", None)
    if headers is None or not _retriable_response(response):
        return None
    return parse_retry_after(headers.get("retry-after"), now=now)


# --- Policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait in between.

    ``max_attempts`` counts the first try (1 = no retry). ``max_delay`` caps every single wait,
    including one asked for by ``Retry-After``. ``deadline`` (optional) stops retrying once that
    many seconds have passed since the first try. ``durable`` marks schedules meant for
    DB-scheduled retries (minutes to hours), which the in-process seam refuses to sleep through.
    """

    name: str
    strategy: str = "exponential"
    max_attempts: int = 3
    base: float = 0.2
    max_delay: float = 5.0
    jitter: Jitter = "full"
    respect_retry_after: bool = True
    deadline: float | None = None
    schedule: tuple[float, ...] = ()
    durable: bool = False
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown backoff strategy {self.strategy!r}")
        if self.strategy == "schedule" and not self.schedule:
            raise ValueError("the schedule strategy needs a non-empty schedule")
        backoff_delay(self.strategy, 1, base=self.base, cap=self.max_delay, jitter=self.jitter,
                      rng=random.Random(0), schedule=self.schedule)  # validates base/cap/jitter

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); a Retry-After wins, clamped."""
        if retry_after is not None and self.respect_retry_after:
            return max(0.0, min(retry_after, self.max_delay))
        return backoff_delay(self.strategy, attempt, base=self.base, cap=self.max_delay,
                             jitter=self.jitter, rng=rng or self.rng, schedule=self.schedule)

    def delays(self, *, rng: random.Random | None = None) -> list[float]:
        """The waits between all attempts when every attempt fails (len = max_attempts - 1)."""
        return [self.delay(n, rng=rng) for n in range(1, self.max_attempts)]

    # --- tenacity wiring ----------------------------------------------------------------

    def _wait(self, rng: random.Random | None) -> Callable[[tenacity.RetryCallState], float]:
        def wait(retry_state: tenacity.RetryCallState) -> float:
            return self.delay(retry_state.attempt_number, retry_after=_retry_after_of(retry_state.outcome),
                              rng=rng)

        return wait

    def _kwargs(self, rng: random.Random | None) -> dict[str, Any]:
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.max_attempts)
        if self.deadline is not None:
            stop = stop | tenacity.stop_after_delay(self.deadline)
        name = self.name

        def count_retry(retry_state: tenacity.RetryCallState) -> None:
            RETRY_ATTEMPTS.labels(policy=name).inc()

        return {
            "stop": stop,
            "wait": self._wait(rng),
            "retry": tenacity.retry_if_exception(is_retriable_exception) | tenacity.retry_if_result(_retriable_response),
            "before_sleep": count_retry,
            "reraise": True,
            # Out of attempts on a 429/5xx *result*: hand the last response back (callers decide by status).
            "retry_error_callback": lambda rs: rs.outcome.result(),
        }

    def retrying(self, *, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None) -> tenacity.Retrying:
        """A tenacity ``Retrying`` for this policy (sleep injectable for tests)."""
        return tenacity.Retrying(sleep=sleep or (lambda s: _sleep(s)), **self._kwargs(rng))

    def aretrying(self, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                  rng: random.Random | None = None) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(sleep=sleep or (lambda s: _asleep(s)), **self._kwargs(rng))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` under this policy. Non-retriable errors raise at once; exhausted errors re-raise."""
        if self.max_attempts == 1:
            return fn(*args, **kwargs)
        return self.retrying()(fn, *args, **kwargs)

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self.max_attempts == 1:
            return await fn(*args, **kwargs)
        return await self.aretrying()(fn, *args, **kwargs)


# --- Registry ----------------------------------------------------------------------------

_POLICIES: dict[str, RetryPolicy] = {}


def register_policy(policy: RetryPolicy, *, replace: bool = False) -> RetryPolicy:
    """Make ``policy`` available by name. Re-registering a name needs ``replace=True``."""
    if policy.name in _POLICIES and not replace and _POLICIES[policy.name] != policy:
        raise ValueError(f"retry policy {policy.name!r} is already registered")
    _POLICIES[policy.name] = policy
    return policy


def get_policy(policy: str | RetryPolicy) -> RetryPolicy:
    if isinstance(policy, RetryPolicy):
        return policy
    try:
        return _POLICIES[policy]
    except KeyError:
        raise UnknownPolicy(f"no retry policy named {policy!r}; known: {', '.join(sorted(_POLICIES))}") from None


def policies() -> dict[str, RetryPolicy]:
    return dict(_POLICIES)


NONE = register_policy(RetryPolicy(name="none", max_attempts=1, jitter="none"))
# Interactive/outbound calls: 3 tries within ~1 s of backoff, Retry-After honoured up to 5 s.
DEFAULT = register_policy(
    RetryPolicy(name="default", strategy="exponential", max_attempts=3, base=0.2, max_delay=5.0, jitter="full")
)
# Notifications (Slack, SMS, email providers): a little more patience than the default.
NOTIFY = register_policy(
    RetryPolicy(name="notify", strategy="exponential", max_attempts=4, base=0.5, max_delay=10.0, jitter="full")
)
# Webhook deliveries (DESIGN §7.2): attempts at 0, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 10 h with ±20 % jitter.
# Durable: the gateway stores next_attempt_at = now + WEBHOOK.delay(n); nothing sleeps through this.
WEBHOOK = register_policy(
    RetryPolicy(
        name="webhook",
        strategy="schedule",
        schedule=(5, 300, 1800, 7200, 18000, 36000, 36000),
        max_attempts=8,
        base=0.0,
        max_delay=12 * 3600.0,
        jitter=0.2,
        durable=True,
    )
)

"""The engine's knobs and the retry policy: when a failed delivery is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings

from opsportal.common.text import clean_text
from reliability.retry import WEBHOOK, backoff_delay
from reliability.webhooks.models import WebhookSource

MIN_RETRY_DELAY = 1.0  # never sooner than the next sweep: no hot loop against a failing receiver
DEFAULT_MAX_ATTEMPTS = 8  # outbound portal events have no source: the DESIGN schedule's 8 attempts
DEFAULT_MAX_DELAY = 36_000.0
ERROR_EXCERPT_CHARS = 1000


def _setting(name: str, default):
    return getattr(settings, name, default)


def batch_size() -> int:
    return int(_setting("WEBHOOK_DELIVERY_BATCH_SIZE", 100))


def thread_count() -> int:
    return int(_setting("WEBHOOK_DELIVERY_THREADS", 8))


def lease_margin() -> float:
    return float(_setting("WEBHOOK_LEASE_MARGIN_SECONDS", 15))


def sweep_max_seconds() -> float:
    return float(_setting("WEBHOOK_SWEEP_MAX_SECONDS", 20))


def breaker_defer_max_seconds() -> float:
    """How long an open breaker may defer a delivery before it is dead-lettered as ``breaker_open``.

    Default: the default schedule's whole span (0 + 5 s + 5 m + 30 m + 2 h + 5 h + 10 h + 10 h ≈ 27.6 h).
    """
    return float(_setting("WEBHOOK_BREAKER_DEFER_MAX_SECONDS", 99_305))


def excerpt(text: str) -> str:
    """An error text fit for a text column: NUL replaced (PostgreSQL text cannot hold it), bounded."""
    return clean_text(text, ERROR_EXCERPT_CHARS)


@dataclass(frozen=True)
class RetryPlan:
    """A source's retry policy (outbound portal events use the default schedule)."""

    strategy: str = WebhookSource.RetryStrategy.DEFAULT_SCHEDULE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = 5.0
    cap: float = DEFAULT_MAX_DELAY

    @classmethod
    def of(cls, source: WebhookSource | None) -> RetryPlan:
        if source is None:
            return cls()
        return cls.from_fields(source.retry_strategy, source.retry_max_attempts, source.retry_base_seconds,
                               source.retry_max_seconds)

    @classmethod
    def from_fields(cls, strategy: str, max_attempts: int, base, cap) -> RetryPlan:
        return cls(strategy=strategy, max_attempts=max_attempts, base=float(base), cap=float(cap))

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A ``Retry-After`` wins, clamped to [1 s, the source's max delay]. The
        default schedule is the DESIGN one with ±20 % jitter; the other
        strategies use full jitter, capped by ``retry_max_seconds``.
        """
        if retry_after is not None:
            return min(max(retry_after, MIN_RETRY_DELAY), max(self.cap, MIN_RETRY_DELAY))
        if self.strategy == WebhookSource.RetryStrategy.DEFAULT_SCHEDULE:
            seconds = WEBHOOK.delay(attempt, rng=rng)
        else:
            seconds = backoff_delay(self.strategy, attempt, base=self.base, cap=self.cap, jitter="full", rng=rng)
        return max(seconds, MIN_RETRY_DELAY)

"""What the engine passes between its rooms: a claimed ``Job``, an ``Outcome``, ``RunStats``.

``Job.build`` is the one constructor: the claim's SQL path (PostgreSQL) and its
ORM path (SQLite, the reclaim) both hand it the same fields, so the public
``webhook-id`` (``evt_<id>``), the breaker name and the provider label are
derived in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from reliability.webhooks.engine.policy import RetryPlan
from reliability.webhooks.models import PORTAL_PROVIDER, Delivery, DeliveryAttempt
from reliability.webhooks.models.config import destination_breaker_name
from reliability.webhooks.models.traffic import event_public_id
from reliability.webhooks.services.dlq_intake import DeadLetter

Result = DeliveryAttempt.Result

# Outcomes that are not HTTP attempts (no DeliveryAttempt row, attempts unchanged).
DEFERRED = "deferred"
DESTINATION_DISABLED = "destination_disabled"
PAYLOAD_PURGED = "payload_purged"
REFUSED = "refused"  # the outbound address policy refused the destination: nothing was sent
PACED = "paced"  # the destination's rate/concurrency limit had no room soon enough: due again later, no attempt

# What a claim reads of a delivery, its event, source and destination (the ORM paths' .only()).
CLAIM_FIELDS = (
    "id", "event_id", "destination_id", "attempts", "attempt_budget",
    "event__id", "event__source_id", "event__event_type", "event__headers", "event__body", "event__body_purged_at",
    "event__source__id", "event__source__slug", "event__source__retry_strategy", "event__source__retry_max_attempts",
    "event__source__retry_base_seconds", "event__source__retry_max_seconds",
    "destination__id", "destination__name", "destination__url", "destination__signing_secret",
    "destination__timeout_seconds", "destination__enabled", "created_at",
    "destination__rate_limit_per_second", "destination__concurrency_limit",
)


@dataclass
class Job:
    """Everything one send needs, read by the claim so the send itself never touches the DB."""

    delivery_id: int
    event_id: int
    public_id: str
    attempts: int  # before this attempt
    budget: int
    plan: RetryPlan
    destination_id: int
    destination_name: str
    url: str
    secret: str
    timeout: float
    enabled: bool
    breaker_name: str
    body: bytes
    purged: bool
    content_type: str
    provider: str
    source_id: int | None
    event_type: str
    traceparent: str = ""  # the trace the event was accepted in (stored in its headers)
    created_at: datetime | None = None  # the delivery's: how long an open breaker has deferred it
    rate_limit: float | None = None  # the destination's pacing (engine.pace)
    concurrency_limit: int | None = None

    @classmethod
    def build(
        cls, *, delivery_id: int, event_id: int, attempts: int, attempt_budget: int | None, plan: RetryPlan,
        destination_id: int, destination_name: str, url: str, secret: str, timeout, enabled: bool,
        body, purged: bool, headers, event_type: str, source_id: int | None, source_slug: str | None,
        created_at: datetime | None = None, rate_limit: float | None = None, concurrency_limit: int | None = None,
    ) -> Job:
        if isinstance(headers, str):  # a raw jsonb column read without Django's decoder
            headers = json.loads(headers)
        return cls(
            delivery_id=delivery_id, event_id=event_id, public_id=event_public_id(event_id), attempts=attempts,
            budget=attempt_budget or plan.max_attempts, plan=plan, destination_id=destination_id,
            destination_name=destination_name, url=url, secret=secret, timeout=float(timeout), enabled=enabled,
            breaker_name=destination_breaker_name(destination_id), body=bytes(body or b""), purged=purged,
            content_type=str((headers or {}).get("Content-Type") or "application/json"),
            provider=source_slug if source_id is not None else PORTAL_PROVIDER, source_id=source_id,
            event_type=event_type, traceparent=str((headers or {}).get("traceparent") or ""),
            created_at=created_at, rate_limit=rate_limit, concurrency_limit=concurrency_limit,
        )

    @classmethod
    def of(cls, delivery: Delivery) -> Job:
        """From a delivery loaded with ``select_related("event", "event__source", "destination")``."""
        event, destination = delivery.event, delivery.destination
        source = event.source
        return cls.build(
            delivery_id=delivery.pk, event_id=event.pk, attempts=delivery.attempts,
            attempt_budget=delivery.attempt_budget, plan=RetryPlan.of(source), destination_id=destination.pk,
            destination_name=destination.name, url=destination.url, secret=destination.signing_secret,
            timeout=destination.timeout_seconds, enabled=destination.enabled, body=event.body,
            purged=event.body_purged_at is not None, headers=event.headers, event_type=event.event_type,
            source_id=source.pk if source is not None else None, source_slug=source.slug if source is not None else None,
            created_at=delivery.created_at, rate_limit=destination.rate_limit_per_second,
            concurrency_limit=destination.concurrency_limit,
        )

    def dead_letter(self, error: str, *, failure_class: str, status_code: int | None = None) -> DeadLetter:
        return DeadLetter(
            delivery_id=self.delivery_id, destination_id=self.destination_id, destination_name=self.destination_name,
            source_id=self.source_id, provider=self.provider, event_type=self.event_type, body=self.body, error=error,
            failure_class=failure_class, status_code=status_code,
        )


@dataclass
class Outcome:
    job: Job
    kind: str  # a DeliveryAttempt.Result value, DEFERRED, PACED, DESTINATION_DISABLED, PAYLOAD_PURGED or REFUSED
    at: datetime
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    retry_after: float | None = None
    chaos: bool = False  # produced by an injected fault (a drill), not by the destination

    @property
    def is_attempt(self) -> bool:
        return self.kind not in (DEFERRED, PACED, DESTINATION_DISABLED, PAYLOAD_PURGED, REFUSED)


_STAT_NAMES = ("claimed", "delivered", "failed", "dead", "deferred", "reclaimed", "lost")


@dataclass
class RunStats:
    """What one call of the engine did (returned by tasks, logged by the sweep)."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    reclaimed: int = 0
    lost: int = 0  # outcomes dropped because the lease had been reclaimed meanwhile

    def add(self, other: RunStats) -> None:
        for name in _STAT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        return {n: getattr(self, n) for n in _STAT_NAMES}

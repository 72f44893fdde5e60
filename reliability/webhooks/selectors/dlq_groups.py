"""Reads of the DLQ's "issues" (groups of items that died of the same thing) and of replay progress.

A group is every OPEN item with the same ``group_signature``: destination +
failure class + status code + normalised error text (``classes.group_signature``).
Replay progress is read from ``DlqReplay`` rows: an item is done once its
delivery left ``pending``/``in_flight``/``failed`` (delivered, or dead again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from reliability.webhooks.classes import hint, strategy_for
from reliability.webhooks.models import Delivery, DlqReplay
from reliability.webhooks.selectors.dlq import DlqFilter, dlq_open

PROGRESS_WINDOW = timedelta(hours=1)
WAITING = (Delivery.Status.PENDING, Delivery.Status.IN_FLIGHT, Delivery.Status.FAILED)


@dataclass(frozen=True)
class DlqGroup:
    signature: str
    destination_id: int | None
    destination: str
    failure_class: str
    status_code: int | None
    error: str  # the normalised text
    example: str  # one member's real error text
    count: int
    first_seen: datetime
    last_seen: datetime
    strategy: str

    @property
    def hint(self) -> str:
        return hint(self.failure_class)


def dlq_groups(*, filters: DlqFilter | dict | None = None, limit: int | None = None) -> list[DlqGroup]:
    """Open items grouped by signature, the largest group first."""
    qs = dlq_open().filter(DlqFilter.of(filters).q()).exclude(group_signature="")  # unclassified: no group
    rows = list(
        qs.values("group_signature", "destination_id", "destination__name", "destination__dlq_strategies",
                  "failure_class", "status_code", "signature_text")
        .annotate(count=Count("id"), first_seen=Min("created_at"), last_seen=Max("created_at"), example_id=Max("id"))
        .order_by("-count", "-last_seen")[: limit or None]
    )
    examples = dict(dlq_open().filter(pk__in=[r["example_id"] for r in rows]).values_list("id", "error_message"))
    return [
        DlqGroup(
            signature=r["group_signature"], destination_id=r["destination_id"],
            destination=r["destination__name"] or "(deleted destination)", failure_class=r["failure_class"],
            status_code=r["status_code"], error=r["signature_text"], example=examples.get(r["example_id"], ""),
            count=r["count"], first_seen=r["first_seen"], last_seen=r["last_seen"],
            strategy=strategy_for(r["failure_class"], destination_overrides=r["destination__dlq_strategies"]),
        )
        for r in rows
    ]


def dlq_group_get(signature: str) -> DlqGroup | None:
    found = dlq_groups(filters={"group": signature}, limit=1)
    return found[0] if found else None


@dataclass(frozen=True)
class ReplayProgress:
    replay_id: int
    started_at: datetime
    total: int
    done: int
    delivered: int
    actor: str
    source: str
    strategy: str
    description: str
    rate: float  # items per second since the start
    eta_seconds: float | None

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100


def replay_progress(replay: DlqReplay, *, now: datetime | None = None) -> ReplayProgress:
    now = now or timezone.now()
    counts = replay.items.aggregate(
        waiting=Count("id", filter=Q(delivery__status__in=WAITING)),
        delivered=Count("id", filter=Q(delivery__status=Delivery.Status.DELIVERED)),
        last=Max("delivery__delivered_at"),
    )
    # Items purged or replayed again by a later replay no longer point here: they count as done.
    done = max(0, replay.total - counts["waiting"])
    until = counts["last"] if done >= replay.total and counts["last"] else now  # a finished replay keeps its rate
    elapsed = max((until - replay.started_at).total_seconds(), 0.001)
    rate = done / elapsed
    eta = None if done >= replay.total else ((replay.total - done) / rate if rate > 0 else None)
    return ReplayProgress(
        replay_id=replay.pk, started_at=replay.started_at, total=replay.total, done=done,
        delivered=counts["delivered"], actor=replay.actor_label, source=replay.source, strategy=replay.strategy,
        description=replay.description, rate=rate, eta_seconds=eta,
    )


def replays_recent(*, now: datetime | None = None, limit: int = 5) -> list[ReplayProgress]:
    """The replays of the last hour, newest first, with their progress."""
    now = now or timezone.now()
    replays = DlqReplay.objects.filter(started_at__gte=now - PROGRESS_WINDOW).order_by("-id")[:limit]
    return [replay_progress(r, now=now) for r in replays]

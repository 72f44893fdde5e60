"""The self-healing DLQ: the periodic processor (auto replay on recovery, discard_after) and retention.

``dlq_process`` (beat, every 5 minutes) looks at the open items per
destination and source. Each item's strategy comes from its class and the
overrides (``classes.strategy_for``: destination, then source, then the class
default):

- ``hold_for_review``: left alone;
- ``auto_replay_on_recovery``: replayed once the destination is healthy
  again — its breaker is closed AND it delivered something within
  ``DLQ_RECOVERY_SUCCESS_WINDOW_SECONDS`` (default 600), or a *probe*
  succeeds: one of its items replayed right here, inline, through the breaker
  (a half-open breaker gets its probe call from it). The replays are
  ``dlq_retry`` calls, the same exclusive claims as a manual replay, so a
  manual and an automatic replay of the same items never take the same item;
- ``dlq_discard_after_days`` (destination's, else the source's): open items
  older than that are discarded, whatever their class.

Each replay or discard is one audit entry by the system actor
``dlq-processor`` naming the strategy that decided it.

``dlq_purge_resolved`` (beat, daily) deletes resolved items (retried or
discarded) resolved more than ``DLQ_RESOLVED_RETENTION_DAYS`` (default 30)
ago; open items are never purged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.breakers import breaker
from reliability.webhooks.classes import Strategy, strategy_for
from reliability.webhooks.metrics import DLQ_AUTO_REPLAYS_TOTAL
from reliability.webhooks.models import Delivery, DlqReplay, WebhookDestination, WebhookFailure, WebhookSource
from reliability.webhooks.names import Action, Event
from reliability.webhooks.selectors.dlq import dlq_open
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry

PROCESSOR = "dlq-processor"
PROCESSOR_ACTOR = Actor.for_system(PROCESSOR)
DISCARD_AFTER = "discard_after"
PURGE_CHUNK = 1000

Probe = Callable[[list[int]], object]  # sends these deliveries now (the task passes the engine's deliveries_attempt)


def success_window() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "DLQ_RECOVERY_SUCCESS_WINDOW_SECONDS", 600)))


def resolved_retention_days() -> int:
    return int(getattr(settings, "DLQ_RESOLVED_RETENTION_DAYS", 30))


@dataclass
class ProcessorRun:
    replayed: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # class → items handed back
    discarded: int = 0
    probes: int = 0
    probe_failures: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # destination → why it is not replayed yet

    def as_dict(self) -> dict:
        return {"replayed": dict(self.replayed), "discarded": self.discarded, "probes": self.probes,
                "probe_failures": self.probe_failures, "waiting": dict(self.waiting)}


def destination_health(destination: WebhookDestination, *, now: datetime) -> tuple[str, str]:
    """("healthy" | "probe" | "wait", why): may its auto-replay items go back now?"""
    state = breaker(destination.breaker_name).state  # "disabled" (an operator took it out) counts as closed
    if state in ("open", "forced_open"):
        return "wait", f"breaker {state}"
    if not destination.enabled:
        return "wait", "destination disabled"
    if state == "half_open":
        return "probe", "breaker half-open: a replayed item is its probe"
    if Delivery.objects.filter(destination=destination, delivered_at__gte=now - success_window()).exists():
        return "healthy", "breaker closed and a recent success"
    return "probe", "breaker closed, no recent success: probing with one item"


def _counted(failure_class: str, result: str, count: int = 1) -> None:
    transaction.on_commit(partial(DLQ_AUTO_REPLAYS_TOTAL.labels(**{"class": failure_class, "result": result}).inc, count))


def _combos():
    """Open items per (destination, source, class): what the strategies are decided on."""
    return (
        dlq_open().filter(destination__isnull=False)
        .values("destination_id", "source_id", "failure_class")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by("destination_id", "source_id", "failure_class")
    )


def _discard_old(destination: WebhookDestination, source: WebhookSource | None, days: int, now: datetime,
                 run: ProcessorRun) -> None:
    filters = {"destination": str(destination.pk), "source": source.slug if source else "portal",
               "created_until": now - timedelta(days=days)}
    try:
        result = dlq_discard(filters=filters, reason=f"open for more than {days} day(s): the discard_after strategy",
                             actor=PROCESSOR_ACTOR, source=PROCESSOR, strategy=f"{DISCARD_AFTER}={days}d")
    except DlqItemNotOpen:
        return
    run.discarded += result.count


def _replay(destination: WebhookDestination, source: WebhookSource | None, classes: list[str], run: ProcessorRun,
            *, limit: int | None = None, dispatch_after_commit: bool = True, reason: str) -> list[int]:
    filters = {"destination": str(destination.pk), "source": source.slug if source else "portal",
               "failure_class": ",".join(classes)}
    by_class = dict(dlq_open().filter(destination=destination, source=source, failure_class__in=classes)
                    .values_list("id", "failure_class")) if limit is None else {}
    result = dlq_retry(filters=filters, reason=reason, actor=PROCESSOR_ACTOR, source=PROCESSOR,
                       strategy=Strategy.AUTO_REPLAY, limit=limit,
                       dispatch_after_commit=dispatch_after_commit)
    if limit is not None:
        by_class = dict(WebhookFailure.objects.filter(pk__in=result.ids).values_list("id", "failure_class"))
    for pk in result.ids:
        failure_class = by_class.get(pk, "")
        run.replayed[failure_class] += 1
        _counted(failure_class, "replayed")
    return list(result.delivery_ids)


def dlq_process(*, probe: Probe, now: datetime | None = None) -> ProcessorRun:
    """One pass of the DLQ processor (module docstring). ``probe`` sends a probe replay inline."""
    now = now or timezone.now()
    run = ProcessorRun()
    combos = list(_combos())
    destinations = WebhookDestination.objects.in_bulk({c["destination_id"] for c in combos})
    sources = WebhookSource.objects.in_bulk({c["source_id"] for c in combos if c["source_id"]})

    auto: dict[int, dict[int | None, list[str]]] = defaultdict(lambda: defaultdict(list))
    for combo in combos:
        destination = destinations.get(combo["destination_id"])
        source = sources.get(combo["source_id"]) if combo["source_id"] else None
        if destination is None:
            continue
        days = destination.dlq_discard_after_days or (source.dlq_discard_after_days if source else None)
        if days and combo["oldest"] <= now - timedelta(days=days):
            _discard_old(destination, source, days, now, run)
        strategy = strategy_for(combo["failure_class"], destination_overrides=destination.dlq_strategies,
                                source_overrides=source.dlq_strategies if source else None)
        if strategy == Strategy.AUTO_REPLAY:
            auto[destination.pk][source.pk if source else None].append(combo["failure_class"])

    for destination_id, by_source in auto.items():
        destination = destinations[destination_id]
        verdict, why = destination_health(destination, now=now)
        if verdict == "wait":
            run.waiting[destination.name] = why
            for classes in by_source.values():
                for failure_class in classes:
                    DLQ_AUTO_REPLAYS_TOTAL.labels(**{"class": failure_class, "result": "waiting"}).inc()
            continue
        if verdict == "probe":
            source_id, classes = next(iter(by_source.items()))
            probed = _replay(destination, sources.get(source_id) if source_id else None, classes, run, limit=1,
                             dispatch_after_commit=False, reason=f"probe of the recovered destination ({why})")
            if not probed:
                continue
            run.probes += 1
            probe(probed)
            delivered = Delivery.objects.filter(pk__in=probed, status=Delivery.Status.DELIVERED).count() == len(probed)
            if not delivered or breaker(destination.breaker_name).state not in ("closed", "disabled"):
                run.probe_failures += 1
                run.waiting[destination.name] = "the probe replay failed"
                failure_class = classes[0]
                DLQ_AUTO_REPLAYS_TOTAL.labels(**{"class": failure_class, "result": "probe_failed"}).inc()
                continue
            why = "a probe replay succeeded"
        for source_id, classes in by_source.items():
            _replay(destination, sources.get(source_id) if source_id else None, classes, run,
                    reason=f"destination {destination.name!r} recovered: {why}")
    return run


def dlq_purge_resolved(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete resolved DLQ items resolved more than ``days`` ago (never open ones). One audit entry."""
    days = resolved_retention_days() if days is None else int(days)
    if days < 1:
        raise ValueError("DLQ_RESOLVED_RETENTION_DAYS must be at least 1")
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    total = 0
    stale = WebhookFailure.objects.exclude(resolution=WebhookFailure.Resolution.OPEN).filter(resolved_at__lt=cutoff)
    while True:
        with transaction.atomic():
            ids = list(stale.order_by("id").values_list("pk", flat=True)[:PURGE_CHUNK])
            if not ids:
                break
            WebhookFailure.objects.filter(pk__in=ids).exclude(resolution=WebhookFailure.Resolution.OPEN).delete()
            total += len(ids)
    with transaction.atomic():
        DlqReplay.objects.filter(started_at__lt=cutoff, items__isnull=True).delete()
        if total:
            target = ("webhooks.dlq", "retention")
            audit_record(actor=PROCESSOR_ACTOR, action=Action.DLQ_PURGE, target=target,
                         changes={"count": total, "resolved_before": cutoff.isoformat(), "days": days},
                         reason=f"resolved DLQ items are kept {days} day(s)", source=PROCESSOR)
            emit(Event.DLQ_PURGED, target, {"count": total, "resolved_before": cutoff.isoformat()})
    return total

"""The only writer of reports: storing a closed period's snapshot."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.reports.models import ReliabilitySnapshot
from reliability.reports.names import Action, Event
from reliability.reports.periods import PeriodError, parse_period
from reliability.reports.selectors import reliability_report


@transaction.atomic
def reliability_snapshot_store(*, period: str, actor: Actor, source: str,
                               now: datetime | None = None) -> tuple[ReliabilitySnapshot, bool]:
    """Store the report of the closed calendar ``period`` once; (snapshot, created).

    A period that is still running is refused (``PeriodError``): its figures would change.
    Storing the same period again returns the stored row untouched (the weekly job may rerun).
    """
    now = now or timezone.now()
    parsed = parse_period(period, now=now)
    if parsed.partial or parsed.label.endswith("d"):
        raise PeriodError(f"{parsed.label} has not ended: only closed calendar periods are stored")
    existing = ReliabilitySnapshot.objects.select_for_update().filter(period=parsed.label).first()
    if existing is not None:
        return existing, False
    data = reliability_report(parsed, now=now)
    snapshot = ReliabilitySnapshot.objects.create(period=parsed.label, starts_at=parsed.start, ends_at=parsed.end,
                                                  data=data, created_by=actor.label[:200])
    totals = {"services": len(data["services"]),
              "incidents": sum(s["incidents"]["total"] for s in data["services"]),
              "breaker_trips": sum(s["breaker_trips"]["total"] for s in data["services"]),
              "dlq_added": data["dlq"]["added"]}
    audit_record(actor=actor, action=Action.SNAPSHOT_STORE, target=snapshot, source=source,
                 changes={"period": [None, parsed.label], **{k: [None, v] for k, v in totals.items()}})
    emit(Event.SNAPSHOT_STORED, snapshot, {"id": snapshot.pk, "period": parsed.label, **totals})
    return snapshot, True

"""Probe results in: telemetry rows, the current state per check, transitions as events and alarms.

``health_results_record`` writes no audit entry (probe results are telemetry, not operator
actions: docs/decisions.md "Health results are telemetry"); it emits ``health.check_changed``
only when a check's status changes, never per probe run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from opsportal.events.services import emit
from reliability.health.models import HealthCheck, SlowJob, Status, SystemHealthEvent
from reliability.health.names import Event
from reliability.health.services.alarms import check_alarm


@dataclass
class Recorded:
    events: int = 0
    changed: list[str] = field(default_factory=list)
    alarms_failed: list[str] = field(default_factory=list)


@transaction.atomic
def health_results_record(*, results: Iterable, at: datetime | None = None) -> Recorded:
    """Persist one probe cycle's results (``ProbeResult``-like objects) and act on status changes."""
    at = at or timezone.now()
    results = list(results)
    out = Recorded()
    SystemHealthEvent.objects.bulk_create([
        SystemHealthEvent(check_name=r.check[:100], status=r.status, value=r.value, latency_ms=round(r.latency_ms, 3),
                          detail=(r.detail or "")[:500], at=at)
        for r in results
    ])
    out.events = len(results)
    names = [r.check[:100] for r in results]
    current = {c.name: c for c in HealthCheck.objects.select_for_update().filter(name__in=names)}
    for r in results:
        name = r.check[:100]
        row = current.get(name)
        before = row.status if row else None
        status = r.status
        if status != (before or Status.OK) and getattr(r, "alarm", True) and Status.FAIL in (status, before):
            if not check_alarm(check=name, firing=status == Status.FAIL, detail=r.detail or ""):
                out.alarms_failed.append(name)
                status = before or Status.OK  # keep the old state: the next cycle retries the transition
        fields = {"value": r.value, "latency_ms": round(r.latency_ms, 3), "detail": (r.detail or "")[:500],
                  "checked_at": at}
        if row is None:
            row = HealthCheck.objects.create(name=name, status=status, changed_at=at, **fields)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
            if status != before:
                row.status, row.changed_at = status, at
            row.save(update_fields=[*fields, "status", "changed_at"])
        if status != (before or Status.OK):
            out.changed.append(name)
            emit(Event.CHECK_CHANGED, row, {"check": name, "status": status, "previous": before,
                                            "value": r.value, "detail": (r.detail or "")[:200]})
    return out


@transaction.atomic
def health_events_purge(*, retention_days: int, now: datetime | None = None) -> dict:
    """Delete probe results and slow-job rows older than the retention (telemetry: no audit entry)."""
    cutoff = (now or timezone.now()) - timedelta(days=retention_days)
    events, _ = SystemHealthEvent.objects.filter(at__lt=cutoff).delete()
    jobs, _ = SlowJob.objects.filter(at__lt=cutoff).delete()
    return {"events": events, "slow_jobs": jobs}

"""``restore_drill_record``: a drill's result as the outbox event ``health.restore_drill``."""

from __future__ import annotations

from django.db import transaction

from opsportal.events.services import emit
from reliability.health.names import Event
from reliability.health.restore.drill import RestoreResult


@transaction.atomic
def restore_drill_record(result: RestoreResult) -> None:
    """Record a drill's outcome: an outbox event now, a ``SystemHealthEvent`` (check ``restore_drill``) at integration.

    An observation like a probe result, not an operator action: no audit
    entry (the drill changes nothing in this database).
    """
    data = {
        "ok": result.ok,
        "failures": result.failures[:20],
        "seconds": result.seconds,
        "dump_bytes": result.dump_bytes,
        "counts_total": sum((result.report.get("counts") or {}).values()),
        "audit_entries": (result.report.get("audit_chain") or {}).get("entries"),
    }
    emit(Event.RESTORE_DRILL, ("health.restore_drill", result.scratch), data)
    # wired at integration: health-core's SystemHealthEvent row (check "restore_drill",
    # status ok/fail, value = seconds, detail = failures) is written here.
    try:
        from reliability.health.services import system_health_event_record  # type: ignore[attr-defined]
    except ImportError:
        return
    system_health_event_record(check="restore_drill", status="ok" if result.ok else "fail",
                               value=result.seconds, detail="; ".join(result.failures)[:2000])

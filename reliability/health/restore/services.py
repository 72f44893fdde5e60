"""``restore_drill_record``: a drill's result as the outbox event ``health.restore_drill``."""

from __future__ import annotations

from django.db import transaction

from opsportal.events.services import emit
from reliability.health.names import Event
from reliability.health.probes import ProbeResult
from reliability.health.restore.drill import RestoreResult
from reliability.health.services import health_results_record


@transaction.atomic
def restore_drill_record(result: RestoreResult) -> None:
    """Record a drill's outcome: an outbox event and a ``SystemHealthEvent`` (check ``restore_drill``).

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
    # The drill is also a health check of its own ("restore_drill"): its last result shows on
    # /ops/health/, and a failing drill raises the portal alarm health:restore_drill.
    health_results_record(results=[ProbeResult("restore_drill", "ok" if result.ok else "fail", result.seconds,
                                                result.seconds * 1000, "; ".join(result.failures)[:500] or "passed")])

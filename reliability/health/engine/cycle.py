"""One probe cycle end to end: measure, persist, publish metrics."""

from __future__ import annotations

from reliability.health import metrics
from reliability.health.probes import probe_cycle
from reliability.health.services import health_results_record


def probe_cycle_record() -> dict:
    cycle = probe_cycle()
    metrics.observe(cycle.results)
    recorded = health_results_record(results=cycle.results)
    return {"checks": len(cycle.results), "changed": recorded.changed, "duration_ms": round(cycle.duration_ms, 1),
            "alarms_failed": recorded.alarms_failed}

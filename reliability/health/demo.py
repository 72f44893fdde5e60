"""Demo data: an hour of probe history (so the charts on /ops/health/ have a shape), one real cycle, a slow job."""

from __future__ import annotations

import math
from datetime import timedelta

from django.utils import timezone

from opsportal.demo import SeedContext, seed_step

HISTORY_MINUTES = 60


@seed_step("health: an hour of probe history, one real probe cycle, a slow job", order=500)
def seed_health(ctx: SeedContext) -> None:
    from reliability.health.engine import probe_cycle_record
    from reliability.health.models import SlowJob, Status, SystemHealthEvent
    from reliability.health.probes import ProbeResult, grade
    from reliability.health.services import health_results_record, slow_job_record

    if not SystemHealthEvent.objects.exists():
        now = timezone.now()
        for minute in range(HISTORY_MINUTES, 0, -1):
            wave = math.sin(minute / 6.0)
            db_ms = round(4 + 2 * wave + (40 if 20 <= minute <= 23 else 0), 2)  # a short slow spell 20 min ago
            cpu = round(35 + 15 * wave, 1)
            results = [
                ProbeResult("database", grade("database", db_ms), db_ms, db_ms, "demo history"),
                ProbeResult("cpu", grade("cpu", cpu), cpu, 0.1, f"{cpu:g}% busy"),
                ProbeResult("outbox_backlog", Status.OK, 0, 1.0, "0 unpublished"),
            ]
            health_results_record(results=results, at=now - timedelta(minutes=minute))
        ctx.created(f"{HISTORY_MINUTES} minutes of demo probe history")
        probe_cycle_record()  # the real checks, now
        ctx.created("one probe cycle")
    if not SlowJob.objects.exists():
        slow_job_record(task_name="webhooks.purge_delivered_payloads", task_id="demo-slow-job", duration_seconds=42.5,
                        args_summary="", worker="celery@demo", state="SUCCESS")
        ctx.created("a demo slow job")

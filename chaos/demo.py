"""seed_demo: a second chaos operator and drills in a few states (idempotent, through the services)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from opsportal.demo import SeedContext, seed_step

DEMO_PREFIX = "demo: "


@seed_step("chaos: drills in a few states (draft, pending approval, scheduled, cancelled)", order=600)
def seed_chaos(ctx: SeedContext) -> None:
    """As the seed (cli:seed_demo), like every demo step; the seed approves as the CLI may in development.

    The pending drill waits for a person: sign in as chaos_operator and approve it on /ops/chaos/.
    """
    from chaos import services
    from chaos.guardrails import environment_refusal
    from chaos.models import ChaosDrill

    if environment_refusal() is not None:
        ctx.note("chaos: demo drills skipped (chaos refused here: production or disabled)")
        return
    if ChaosDrill.objects.filter(name__startswith=DEMO_PREFIX).exists():
        return
    by = ctx.actor

    def create(name, scenario, targets, **fields):
        drill = services.drill_create(scenario=scenario, name=DEMO_PREFIX + name, targets=targets, actor=by,
                                      source=ctx.source, **fields)
        ctx.created(f"chaos drill '{drill.name}' ({scenario})")
        return drill

    create("ingest burst", "burst-load", ["webhook-source:demo"], parameters={"rate_per_second": 5}, duration_seconds=30)
    pending = create("receiver answers 503 half the time", "dependency-failure", [_demo_destination_breaker()],
                     parameters={"error": 503, "rate_percent": 50}, duration_seconds=120,
                     schedule={"at": (timezone.now() + timedelta(days=1)).replace(microsecond=0).isoformat()})
    services.drill_submit(drill_id=pending.pk, actor=by, source=ctx.source)
    weekly = create("weekly slow database", "db-latency", ["db:default"], parameters={"latency_ms": 30}, duration_seconds=60,
                    schedule={"cron": "0 10 * * 2", "timezone": settings.TIME_ZONE})
    services.drill_submit(drill_id=weekly.pk, actor=by, source=ctx.source)
    services.drill_approve(drill_id=weekly.pk, actor=by, source=ctx.source, allow_system=True)
    services.drill_schedule(drill_id=weekly.pk, actor=by, source=ctx.source)
    old = create("duplicate storm (replaced)", "duplicate-storm", ["webhook-source:demo"], dry_run=True, duration_seconds=10)
    services.drill_cancel(drill_id=old.pk, actor=by, source=ctx.source, reason="replaced by the weekly drill")


def _demo_destination_breaker() -> str:
    from reliability.webhooks.models import WebhookDestination

    destination = WebhookDestination.objects.order_by("pk").first()
    return destination.breaker_name if destination else "alertmanager"

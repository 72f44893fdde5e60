"""seed_demo: a second chaos operator and drills in a few states (idempotent, through the services)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from opsportal.demo import SeedContext, seed_step

APPROVER = ("chaos_approver", "chaos_approver-demo")
DEMO_PREFIX = "demo: "


@seed_step("chaos: a second chaos operator and drills in a few states", order=600)
def seed_chaos(ctx: SeedContext) -> None:
    from audit.actors import Actor
    from chaos import services
    from chaos.engine.runner import execute_run
    from chaos.engine.slots import start_due_slot
    from chaos.guardrails import environment_refusal
    from chaos.models import ChaosDrill
    from opsportal.accounts.roles import CHAOS_OPERATOR
    from opsportal.accounts.services import user_create

    if environment_refusal() is not None:
        ctx.note("chaos: demo drills skipped (chaos refused here: production or disabled)")
        return
    User = get_user_model()
    creator = User.objects.filter(username="chaos_operator").first()
    if creator is None:
        return
    approver = User.objects.filter(username=APPROVER[0]).first()
    if approver is None:
        approver = user_create(username=APPROVER[0], password=APPROVER[1], roles=[CHAOS_OPERATOR], is_superuser=False,
                               is_staff=None, actor=ctx.actor, source=ctx.source)
    ctx.logins.append((APPROVER[0], APPROVER[1], CHAOS_OPERATOR))
    if ChaosDrill.objects.filter(name__startswith=DEMO_PREFIX).exists():
        return
    by, second = Actor(user=creator), Actor(user=approver)
    destination = _demo_destination_breaker()

    def create(name, scenario, targets, **fields):
        drill = services.drill_create(scenario=scenario, name=DEMO_PREFIX + name, targets=targets, actor=by,
                                      source=ctx.source, **fields)
        ctx.created(f"chaos drill '{drill.name}' ({scenario})")
        return drill

    create("ingest burst (draft)", "burst-load", ["webhook-source:demo"], parameters={"rate_per_second": 5}, duration_seconds=30)
    pending = create("receiver answers 503 half the time", "dependency-failure", [destination],
                     parameters={"error": 503, "rate_percent": 50}, duration_seconds=120,
                     schedule={"at": (timezone.now() + timedelta(days=1)).replace(microsecond=0).isoformat()})
    services.drill_submit(drill_id=pending.pk, actor=by, source=ctx.source)
    weekly = create("weekly slow database", "db-latency", ["db:default"], parameters={"latency_ms": 30}, duration_seconds=60,
                    schedule={"cron": "0 10 * * 2", "timezone": settings.TIME_ZONE})
    services.drill_submit(drill_id=weekly.pk, actor=by, source=ctx.source)
    services.drill_approve(drill_id=weekly.pk, actor=second, source=ctx.source)
    services.drill_schedule(drill_id=weekly.pk, actor=by, source=ctx.source)
    done = create("dry run of a duplicate storm", "duplicate-storm", ["webhook-source:demo"], dry_run=True, duration_seconds=1,
                  parameters={"settle_seconds": 0}, schedule={"at": timezone.now().replace(microsecond=0).isoformat()})
    services.drill_submit(drill_id=done.pk, actor=by, source=ctx.source)
    services.drill_approve(drill_id=done.pk, actor=second, source=ctx.source)
    services.drill_schedule(drill_id=done.pk, actor=by, source=ctx.source)
    result = start_due_slot(done.pk, execute=False, source=ctx.source)
    if result.started:
        execute_run(result.run.pk)


def _demo_destination_breaker() -> str:
    from reliability.webhooks.models import WebhookDestination

    destination = WebhookDestination.objects.order_by("pk").first()
    return destination.breaker_name if destination else "alertmanager"

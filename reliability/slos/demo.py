"""seed_demo step: three SLOs with 30 days of minute history, one healthy, one burning, one exhausted.

The last three days are minute buckets (``sli_buckets_upsert``: what the burn windows read), the
27 days before are hour sums (``sli_hours_backfill``), so seeding stays a few seconds on SQLite;
then one evaluation so the pages open on real numbers. Idempotent: an SLO that exists is left alone.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from opsportal.catalog.models import Service
from opsportal.demo import SeedContext, seed_step
from reliability.slos.models import SLO
from reliability.slos.names import Source
from reliability.slos.services import sli_buckets_upsert, slo_create, slos_evaluate
from reliability.slos.services.ingest import sli_hours_backfill
from reliability.slos.windows import floor_hour, floor_minute

DAYS = 30
MINUTE_DAYS = 3  # the longest default tier window; older days are kept as hour sums
# slug → (service, name, objective, error ratio of the history, error ratio of the last 90 minutes)
DEMO = {
    "checkout-availability": ("checkout-web", "Checkout availability", "99.5", 0.0008, 0.0008),  # healthy
    "payments-availability": ("payments-api", "Payments API availability", "99.9", 0.0003, 0.03),  # burning now
    "payments-latency": ("payments-api", "Payments API p99 under 300 ms", "99.0", 0.012, 0.015),  # exhausted
}


def _minute(rng: random.Random, t, ratio: float) -> tuple[int, int]:
    total = int(400 + 300 * (1 if 8 <= t.hour < 20 else 0) + rng.randint(-40, 40))  # day/night traffic
    expected = ratio * total
    bad = int(expected) + (1 if rng.random() < expected % 1 else 0)
    return total - min(bad, total), total


def _history(slo: SLO, base_error: float, recent_error: float, seed: int) -> int:
    """Minute buckets for the last MINUTE_DAYS (what the burn windows read), hour sums before that."""
    rng = random.Random(seed)
    end = floor_minute(timezone.now())
    start = end - timedelta(days=DAYS)
    minutes_from = floor_hour(end - timedelta(days=MINUTE_DAYS))
    hours, t = [], floor_hour(start)
    while t < minutes_from:
        good = total = 0
        for m in range(60):
            g, n = _minute(rng, t + timedelta(minutes=m), base_error)
            good, total = good + g, total + n
        hours.append((t, good, total))
        t += timedelta(hours=1)
    written = sli_hours_backfill(slo_id=slo.pk, items=hours)
    items = []
    while t <= end:
        ratio = recent_error if end - t < timedelta(minutes=90) else base_error
        items.append((t, *_minute(rng, t, ratio)))
        t += timedelta(minutes=1)
    return written + sli_buckets_upsert(slo_id=slo.pk, items=items)


@seed_step("slos: three SLOs with 30 days of history (healthy, burning, exhausted)", order=470)
def seed_slos(ctx: SeedContext) -> None:
    made = []
    for i, (slug, (service_name, name, objective, base, recent)) in enumerate(DEMO.items()):
        if SLO.objects.filter(slug=slug).exists():
            continue
        service = Service.objects.filter(name=service_name).first()
        if service is None:
            continue
        extra = {"sli": "latency", "latency_threshold_ms": 300} if "latency" in slug else {}
        slo = slo_create(slug=slug, name=name, service=service, objective=objective, window="30d", actor=ctx.actor,
                         source=Source.SEED, description=f"Demo SLO ({DAYS} days of synthetic history).", **extra)
        rows = _history(slo, base, recent, seed=i)
        made.append(slo.pk)
        ctx.created(f"SLO {slug!r} ({rows} buckets and hours)")
    if made:
        slos_evaluate(slo_ids=made, actor=ctx.actor)  # the demo acts as seed_demo throughout

"""seed_demo steps of the webhook gateway: a demo source and destination, and a few real DLQ items.

Everything is made through the services and the delivery engine, the way
production makes it, so the demo data has a real audit trail and a second
run changes nothing.
"""

from __future__ import annotations

import json
import time

from django.db import transaction

from opsportal.demo import SeedContext, seed_step
from reliability.webhooks.engine import deliveries_attempt
from reliability.webhooks.models import Delivery, WebhookDestination, WebhookFailure, WebhookSource
from reliability.webhooks.selectors.config import source_config_load
from reliability.webhooks.services.config import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.services.ingest import webhook_event_ingest
from reliability.webhooks.signatures import VerifiedWebhook, generate_standard_secret

DEMO_SOURCE = "demo"
DEMO_DESTINATION = "demo-receiver"
DEMO_RECEIVER_URL = "http://127.0.0.1:9000/demo-receiver/"
DEMO_DISABLED_REASON = "demo: no receiver listens at this URL; enable the destination once one does (delivery would fail)"

DEMO_DLQ_EVENTS = (
    ("invoice.payment_failed", {"invoice": "in_demo_1001", "amount_due": 4200, "currency": "eur"}),
    ("charge.dispute.created", {"charge": "ch_demo_2002", "amount": 1999, "reason": "fraudulent"}),
    ("customer.subscription.deleted", {"subscription": "sub_demo_3003", "customer": "cus_demo_77"}),
    ("payout.failed", {"payout": "po_demo_4004", "failure_code": "account_closed"}),
)


@seed_step("webhooks: demo source and destination", order=400)
def seed_webhooks(ctx: SeedContext) -> None:
    destination = WebhookDestination.objects.filter(name=DEMO_DESTINATION).first()
    if destination is None:
        destination = webhook_destination_create(
            name=DEMO_DESTINATION,
            url=DEMO_RECEIVER_URL,
            enabled=False,
            disabled_reason=DEMO_DISABLED_REASON,
            actor=ctx.actor,
            source=ctx.source,
        )
        ctx.created(f"webhook destination '{DEMO_DESTINATION}' (disabled)")
    if not WebhookSource.objects.filter(slug=DEMO_SOURCE).exists():
        source = webhook_source_create(
            slug=DEMO_SOURCE,
            scheme=WebhookSource.Scheme.STANDARD,
            secrets=[generate_standard_secret()],
            description="Demo Standard Webhooks sender; try: manage.py simulate --webhooks 20 --rate 5 --source demo",
            routes=[RouteSpec(destination_id=destination.pk)],
            actor=ctx.actor,
            source=ctx.source,
        )
        ctx.created(f"webhook source '{DEMO_SOURCE}'")
        ctx.note(
            f"Webhooks: POST signed Standard Webhooks to {source.ingest_path} "
            f"(or run: manage.py simulate --webhooks 20 --rate 5 --source {DEMO_SOURCE})"
        )


@seed_step("webhooks: demo DLQ items", order=410)
def seed_dlq(ctx: SeedContext) -> None:
    """Demo events ingested by the ingestion service, attempted once by the engine, dead-lettered for real.

    Their deliveries get a budget of one attempt, so the seed does not wait for
    the retry schedule; the demo destination is disabled, so each claim
    dead-letters its delivery: real ``WebhookFailure`` rows, ``dlq.added``
    events, the depth check.
    """
    config = source_config_load(DEMO_SOURCE)
    if config is None:
        return
    if WebhookFailure.objects.filter(provider=DEMO_SOURCE, delivery__event__provider_event_id__startswith="demo_dlq_").exists():
        return
    delivery_ids: list[int] = []
    with transaction.atomic():  # the ingest's after-commit nudge must see the one-attempt budget
        for n, (event_type, data) in enumerate(DEMO_DLQ_EVENTS, start=1):
            event_id = f"demo_dlq_{n}"
            body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time()), "data": data}).encode()
            result = webhook_event_ingest(
                config=config, verified=VerifiedWebhook(provider_event_id=event_id, event_type=event_type),
                headers={"Content-Type": "application/json", "User-Agent": "opsportal-seed-demo"}, body=body,
            )
            delivery_ids += list(Delivery.objects.filter(event_id=result.event_id, destination__name=DEMO_DESTINATION,
                                                         status__in=["pending", "failed"]).values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=delivery_ids).update(attempt_budget=1)
    deliveries_attempt(delivery_ids=delivery_ids)
    failures = WebhookFailure.objects.filter(delivery_id__in=delivery_ids, resolution=WebhookFailure.Resolution.OPEN).count()
    if failures:
        ctx.created(f"{failures} DLQ item(s) for '{DEMO_SOURCE}' → '{DEMO_DESTINATION}'")
        ctx.note(
            "DLQ: retry or discard the demo items on /ops/ (Dead-letter queue panel), in the admin, with "
            "POST /api/v1/dlq/<id>/retry/ or: manage.py webhooks_retry --since 1h --source demo --dry-run"
        )

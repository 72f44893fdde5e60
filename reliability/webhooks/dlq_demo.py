"""seed_demo step: a few dead-letter items for the demo source and destination.

Registered by ``reliability/webhooks/demo.py`` (seed_demo discovers each app's
``demo`` module). The items are made the way production makes them: demo
events are ingested through the ingestion service and their deliveries are
attempted by the delivery engine with a budget of one attempt, so the seed
does not wait for the retry schedule. The demo destination is disabled (or its
local receiver is not running while seeding), so each attempt dead-letters its
delivery: real ``WebhookFailure`` rows, ``dlq.added`` events, the depth check.
"""

from __future__ import annotations

import json
import time

from django.db import transaction

from opsportal.demo import SeedContext, seed_step

DEMO_DLQ_EVENTS = (
    ("invoice.payment_failed", {"invoice": "in_demo_1001", "amount_due": 4200, "currency": "eur"}),
    ("charge.dispute.created", {"charge": "ch_demo_2002", "amount": 1999, "reason": "fraudulent"}),
    ("customer.subscription.deleted", {"subscription": "sub_demo_3003", "customer": "cus_demo_77"}),
    ("payout.failed", {"payout": "po_demo_4004", "failure_code": "account_closed"}),
)


@seed_step("webhooks: demo DLQ items", order=410)
def seed_dlq(ctx: SeedContext) -> None:
    from reliability.webhooks.delivery import deliveries_attempt
    from reliability.webhooks.demo import DEMO_DESTINATION, DEMO_SOURCE
    from reliability.webhooks.models import Delivery, WebhookFailure
    from reliability.webhooks.selectors import source_config_load
    from reliability.webhooks.services import webhook_event_ingest
    from reliability.webhooks.signatures import VerifiedWebhook

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

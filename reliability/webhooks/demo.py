"""seed_demo steps of the webhook gateway: a demo source and destination, and a few real DLQ items.

Everything is made through the services and the delivery engine, the way
production makes it, so the demo data has a real audit trail and a second
run changes nothing.
"""

from __future__ import annotations

import json
import os
import time

from django.conf import settings

from opsportal.demo import SeedContext, seed_step
from reliability.webhooks.engine import deliveries_attempt
from reliability.webhooks.models import Delivery, WebhookDestination, WebhookFailure, WebhookSource
from reliability.webhooks.selectors.config import source_config_load
from reliability.webhooks.services.config import (
    RouteSpec,
    webhook_destination_create,
    webhook_destination_update,
    webhook_source_create,
)
from reliability.webhooks.services.ingest import webhook_event_ingest
from reliability.webhooks.signatures import VerifiedWebhook, generate_standard_secret
from reliability.webhooks.views.sink import sink_url

DEMO_SOURCE = "demo"
DEMO_OUTAGE_SOURCE = "demo-outage"
DEMO_DESTINATION = "demo-receiver"
DEMO_SINK = "demo"
# What earlier seeds created (a disabled destination at a fixed port): adopted and enabled.
_EARLIER_DEMO_URLS = ("http://127.0.0.1:9000/demo-receiver/",)
_EARLIER_DEMO_REASONS = (
    "delivery is not built yet: enable this destination once webhook delivery ships",
    "demo: no receiver listens at this URL; enable the destination once one does (delivery would fail)",
)


def demo_base_url() -> str:
    """Where the portal will be served: ``OPSPORTAL_DEMO_BASE_URL``, else ``OPSPORTAL_HOST``/``OPSPORTAL_PORT``.

    ``make run`` passes its HOST and PORT to seed_demo, so the demo destination
    delivers to the same portal ``manage.py serve`` then runs (default
    http://127.0.0.1:8000). A wildcard host is reached on loopback.
    """
    explicit = getattr(settings, "OPSPORTAL_DEMO_BASE_URL", "") or os.environ.get("OPSPORTAL_DEMO_BASE_URL", "")
    if explicit:
        return explicit.rstrip("/")
    host = os.environ.get("OPSPORTAL_HOST", "") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]", "localhost"):  # noqa: S104 - a bind address, read to be replaced
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("OPSPORTAL_PORT", "") or "8000"
    return f"http://{host}:{port}"


def demo_receiver_url() -> str:
    return sink_url(demo_base_url(), DEMO_SINK)


DEMO_DLQ_EVENTS = (
    ("invoice.payment_failed", {"invoice": "in_demo_1001", "amount_due": 4200, "currency": "eur"}),
    ("charge.dispute.created", {"charge": "ch_demo_2002", "amount": 1999, "reason": "fraudulent"}),
    ("customer.subscription.deleted", {"subscription": "sub_demo_3003", "customer": "cus_demo_77"}),
    ("payout.failed", {"payout": "po_demo_4004", "failure_code": "account_closed"}),
)


@seed_step("webhooks: demo source and destination", order=400)
def seed_webhooks(ctx: SeedContext) -> None:
    """A Standard Webhooks source ``demo`` routed to ``demo-receiver``, which delivers to the built-in sink."""
    url = demo_receiver_url()
    destination = WebhookDestination.objects.filter(name=DEMO_DESTINATION).first()
    if destination is None:
        destination = webhook_destination_create(name=DEMO_DESTINATION, url=url, actor=ctx.actor, source=ctx.source)
        ctx.created(f"webhook destination '{DEMO_DESTINATION}' → {url}")
    elif destination.url != url and (destination.url in _EARLIER_DEMO_URLS or "/ops/_sink/" in destination.url):
        # The portal is served elsewhere this time (another port): follow it.
        fields = {"url": url}
        if not destination.enabled and destination.disabled_reason in _EARLIER_DEMO_REASONS:
            fields["enabled"] = True
        destination = webhook_destination_update(destination_id=destination.pk, actor=ctx.actor, source=ctx.source, **fields)
        ctx.created(f"webhook destination '{DEMO_DESTINATION}' now delivers to {url}")
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
            f"(or run: manage.py simulate --webhooks 20 --rate 5 --source {DEMO_SOURCE}); "
            f"'{DEMO_DESTINATION}' delivers them to the built-in receiver {url} (GET it to see what arrived)"
        )


@seed_step("webhooks: demo DLQ items", order=410)
def seed_dlq(ctx: SeedContext) -> None:
    """DLQ items with real attempts: events of a sender whose receiver was down, tried once by the engine.

    The source ``demo-outage`` has a one-attempt retry policy and routes to
    ``demo-receiver``. seed_demo runs before the portal serves, so nothing
    answers at the sink yet: each attempt is a recorded ``network_error`` and
    its delivery goes to the DLQ (``dlq.added``, the depth check). Retry them
    from /ops/, the admin or the API once the portal runs: the sink accepts them.
    """
    destination = WebhookDestination.objects.filter(name=DEMO_DESTINATION).first()
    if destination is None or WebhookSource.objects.filter(slug=DEMO_OUTAGE_SOURCE).exists():
        return
    webhook_source_create(
        slug=DEMO_OUTAGE_SOURCE,
        scheme=WebhookSource.Scheme.STANDARD,
        secrets=[generate_standard_secret()],
        description="Demo sender whose receiver was down: one attempt per event, then the DLQ",
        routes=[RouteSpec(destination_id=destination.pk)],
        retry_strategy=WebhookSource.RetryStrategy.FIXED,
        retry_max_attempts=1,
        actor=ctx.actor,
        source=ctx.source,
    )
    config = source_config_load(DEMO_OUTAGE_SOURCE)
    event_ids = []
    for n, (event_type, data) in enumerate(DEMO_DLQ_EVENTS, start=1):
        event_id = f"demo_dlq_{n}"
        body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time()), "data": data}).encode()
        result = webhook_event_ingest(
            config=config, verified=VerifiedWebhook(provider_event_id=event_id, event_type=event_type),
            headers={"Content-Type": "application/json", "User-Agent": "opsportal-seed-demo"}, body=body,
        )
        event_ids.append(result.event_id)
    deliveries_attempt(event_ids=event_ids)
    delivery_ids = list(Delivery.objects.filter(event_id__in=event_ids).values_list("pk", flat=True))
    failures = WebhookFailure.objects.filter(delivery_id__in=delivery_ids, resolution=WebhookFailure.Resolution.OPEN).count()
    if failures:
        ctx.created(f"{failures} DLQ item(s) for '{DEMO_OUTAGE_SOURCE}' → '{DEMO_DESTINATION}' (one real attempt each)")
        ctx.note(
            "DLQ: retry or discard the demo items on /ops/ (Dead-letter queue panel), in the admin, with "
            f"POST /api/v1/dlq/<id>/retry/ or: manage.py webhooks_retry --since 1h --source {DEMO_OUTAGE_SOURCE} --dry-run"
        )
    else:
        ctx.created(f"{len(delivery_ids)} demo event(s) from '{DEMO_OUTAGE_SOURCE}' delivered (the portal was already serving)")

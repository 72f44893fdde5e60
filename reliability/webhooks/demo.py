"""seed_demo step: a demo Standard Webhooks source and a (for now disabled) demo destination."""

from __future__ import annotations

from opsportal.demo import SeedContext, seed_step
from reliability.webhooks import dlq_demo  # noqa: F401 - registers the 'demo DLQ items' step
from reliability.webhooks.models import WebhookDestination, WebhookSource
from reliability.webhooks.services import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.signatures import generate_standard_secret

DEMO_SOURCE = "demo"
DEMO_DESTINATION = "demo-receiver"
DEMO_RECEIVER_URL = "http://127.0.0.1:9000/demo-receiver/"
DEMO_DISABLED_REASON = "delivery is not built yet: enable this destination once webhook delivery ships"


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

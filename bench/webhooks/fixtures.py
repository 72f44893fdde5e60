"""Bench data, written inside a Django process: ``python bench/webhooks/fixtures.py <command> …``.

    ingest-source              create (or reuse) the ingest source and its destination; prints JSON
    replay-items N RECEIVER    N open DLQ items for a destination at RECEIVER; prints JSON

Configuration goes through the services (as an operator would); the 10,000
DLQ items are bulk-inserted in the shape the delivery engine leaves them (a
dead delivery with exhausted attempts and an open WebhookFailure), because
producing them by failing 80,000 real attempts would take hours of schedule.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit.actors import Actor  # noqa: E402
from reliability.webhooks.models import (  # noqa: E402
    Delivery,
    WebhookDestination,
    WebhookEvent,
    WebhookFailure,
    WebhookSource,
)
from reliability.webhooks.services.config import (  # noqa: E402
    RouteSpec,
    webhook_destination_create,
    webhook_destination_update,
    webhook_source_create,
)

ACTOR = Actor.for_system("bench:webhooks")
INGEST_SOURCE = "bench-ingest"
INGEST_DESTINATION = "bench-ingest-sink"
REPLAY_SOURCE = "bench-replay"
REPLAY_DESTINATION = "bench-replay-receiver"
# A fixed Standard Webhooks secret so run.py can sign requests without Django.
INGEST_SECRET = "whsec_YmVuY2gtd2ViaG9va3Mtc2VjcmV0LTAxMjM0NTY3ODk="  # 32 bytes


def _destination(name: str, url: str) -> WebhookDestination:
    existing = WebhookDestination.objects.filter(name=name).first()
    if existing is None:
        return webhook_destination_create(name=name, url=url, actor=ACTOR, source="bench")
    if existing.url != url or not existing.enabled:
        return webhook_destination_update(destination_id=existing.pk, url=url, enabled=True, actor=ACTOR, source="bench")
    return existing


def _source(slug: str, destination: WebhookDestination) -> WebhookSource:
    existing = WebhookSource.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    return webhook_source_create(slug=slug, scheme="standard", secrets=[INGEST_SECRET], actor=ACTOR, source="bench",
                                 routes=[RouteSpec(destination_id=destination.pk)])


def ingest_source() -> dict:
    # The sink is a closed port: nothing consumes deliveries during the ingest benchmark.
    destination = _destination(INGEST_DESTINATION, "http://127.0.0.1:9/bench-sink")
    source = _source(INGEST_SOURCE, destination)
    return {"source_id": source.pk, "slug": source.slug, "secret": INGEST_SECRET, "destination_id": destination.pk}


def replay_items(count: int, receiver: str) -> dict:
    destination = _destination(REPLAY_DESTINATION, receiver)
    source = _source(REPLAY_SOURCE, destination)
    now = timezone.now()
    body_pad = "x" * 400
    with transaction.atomic():
        events = WebhookEvent.objects.bulk_create([
            WebhookEvent(source=source, provider_event_id=f"evt_replay_{i}", event_type="invoice.payment_failed",
                         headers={"Content-Type": "application/json"}, received_at=now,
                         body=json.dumps({"id": f"evt_replay_{i}", "type": "invoice.payment_failed",
                                          "data": {"n": i, "pad": body_pad}}).encode())
            for i in range(count)
        ], batch_size=2000)
        deliveries = Delivery.objects.bulk_create([
            Delivery(event=e, destination=destination, status=Delivery.Status.DEAD, attempts=8, created_at=now,
                     last_status_code=503, last_error="HTTP 503: receiver down")
            for e in events
        ], batch_size=2000)
        WebhookFailure.objects.bulk_create([
            WebhookFailure(delivery=d, source=source, destination=destination, provider=source.slug,
                           event_type="invoice.payment_failed", payload=e.body, created_at=now,
                           error_message="gave up after 8 attempts: HTTP 503: receiver down")
            for d, e in zip(deliveries, events, strict=True)
        ], batch_size=2000)
    return {"source_id": source.pk, "destination_id": destination.pk, "count": count,
            "public_ids": [e.public_id for e in events]}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "ingest-source":
        print(json.dumps(ingest_source()))
    elif command == "replay-items":
        print(json.dumps(replay_items(int(sys.argv[2]), sys.argv[3])))
    else:
        raise SystemExit(f"unknown command {command!r}")

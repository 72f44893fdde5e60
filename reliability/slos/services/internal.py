"""The portal's own SLIs, computed every minute from its tables into buckets (recomputing recent minutes).

``internal_sli`` names what an internal SLO measures:

- ``webhook-delivery:<destination>``: delivery attempts to that destination that succeeded;
  attempts a chaos drill's injected fault produced (``DeliveryAttempt.chaos``) are left out, so a
  drill never burns a real SLO's budget;
- ``ingestion``: inbound webhooks accepted over accepted + rejected (rejections are sampled one
  row per source, reason and minute, so this is an upper bound of availability);
- ``alert-to-incident``: alerts attached to an incident within ``latency_threshold_ms`` of
  their first arrival (a latency SLI; default 60 s).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from reliability.slos.models import SLO
from reliability.slos.services.ingest import sli_buckets_upsert
from reliability.slos.windows import MINUTE, floor_minute

LOOKBACK = timedelta(minutes=10)  # late rows (a retry recorded after the minute) are caught on later runs


def _webhook_delivery(destination: str, since: datetime, until: datetime) -> dict[datetime, list[int]]:
    from reliability.webhooks.models import DeliveryAttempt

    rows = (DeliveryAttempt.objects.filter(at__gte=since, at__lt=until, delivery__destination__name=destination,
                                           chaos=False)
            .annotate(m=TruncMinute("at")).values("m")
            .annotate(good=Count("id", filter=Q(result="success")), total=Count("id")).order_by())
    return {r["m"]: [r["good"], r["total"]] for r in rows}


def _ingestion(since: datetime, until: datetime) -> dict[datetime, list[int]]:
    from reliability.webhooks.models import WebhookEvent, WebhookRejection

    out: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for r in (WebhookEvent.objects.filter(received_at__gte=since, received_at__lt=until, direction="inbound")
              .annotate(m=TruncMinute("received_at")).values("m").annotate(n=Count("id")).order_by()):
        out[r["m"]][0] += r["n"]
        out[r["m"]][1] += r["n"]
    for r in (WebhookRejection.objects.filter(window_start__gte=since, window_start__lt=until)
              .values("window_start").annotate(n=Count("id")).order_by()):
        out[floor_minute(r["window_start"])][1] += r["n"]
    return dict(out)


def _alert_to_incident(threshold_ms: int, since: datetime, until: datetime) -> dict[datetime, list[int]]:
    from reliability.incidents.models import Alert

    out: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    rows = (Alert.objects.filter(first_received_at__gte=since, first_received_at__lt=until, incident__isnull=False,
                                 suppressed=False).values_list("first_received_at", "incident__started_at"))
    limit = timedelta(milliseconds=threshold_ms)
    for received, started in rows:
        acc = out[floor_minute(received)]
        acc[1] += 1
        acc[0] += int(started is not None and started - received <= limit)
    return dict(out)


def internal_sli_counts(slo: SLO, since: datetime, until: datetime) -> dict[datetime, list[int]]:
    name = slo.internal_sli
    if name.startswith("webhook-delivery:"):
        return _webhook_delivery(name.split(":", 1)[1], since, until)
    if name == "ingestion":
        return _ingestion(since, until)
    if name == "alert-to-incident":
        return _alert_to_incident(slo.latency_threshold_ms or 60_000, since, until)
    return {}


def internal_slis_compute(*, now: datetime | None = None) -> dict:
    """Recompute the last ten minutes of every internal SLO (idempotent: an upsert per minute)."""
    now = now or timezone.now()
    until = floor_minute(now) + MINUTE
    since = until - LOOKBACK
    written = 0
    for slo in SLO.objects.filter(sli_source=SLO.Source.INTERNAL).exclude(internal_sli=""):
        counts = internal_sli_counts(slo, since, until)
        written += sli_buckets_upsert(slo_id=slo.pk, items=[(m, g, t) for m, (g, t) in counts.items()])
    return {"buckets": written}

"""The portal's own SLIs, computed every minute from its tables into buckets (recomputing recent minutes).

``internal_sli`` names what an internal SLO measures (docs/slos.md "Internal SLIs"):

- ``webhook-delivery:<destination>``: HTTP attempts to that destination (by name), good when the
  attempt succeeded, in the minute of the attempt; attempts a chaos drill's injected fault produced
  (``DeliveryAttempt.chaos``) are left out, so a drill never burns a real SLO's budget;
- ``ingestion``: inbound webhooks accepted over accepted + rejected (rejections are sampled one
  row per source, reason and minute, so this is an upper bound of availability);
- ``alert-to-incident``: alerts attached to an incident, good when the incident existed within
  ``latency_threshold_ms`` (default 60 s) of the alert's first arrival, in the minute it arrived.

Every minute of the recomputed range gets a bucket, zeros included: a quiet minute is known to be
quiet, so the absent-data alarm of an internal SLO means "this computation stopped".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from reliability.slos.models import SLO
from reliability.slos.services.ingest import sli_buckets_upsert
from reliability.slos.windows import MINUTE, floor_minute

log = logging.getLogger(__name__)
LOOKBACK = timedelta(minutes=10)  # late rows (a retry recorded after the minute) are caught on later runs
DEFAULT_ALERT_THRESHOLD_MS = 60_000

Counts = dict[datetime, list[int]]


def _webhook_delivery(destination: str, since: datetime, until: datetime) -> Counts:
    from reliability.webhooks.models import DeliveryAttempt

    rows = (DeliveryAttempt.objects.filter(at__gte=since, at__lt=until, delivery__destination__name=destination,
                                           chaos=False)
            .annotate(m=TruncMinute("at")).values("m")
            .annotate(good=Count("id", filter=Q(result="success")), total=Count("id")).order_by())
    return {floor_minute(r["m"]): [r["good"], r["total"]] for r in rows}


def _ingestion(since: datetime, until: datetime) -> Counts:
    from reliability.webhooks.models import WebhookEvent, WebhookRejection

    out: Counts = defaultdict(lambda: [0, 0])
    for r in (WebhookEvent.objects.filter(received_at__gte=since, received_at__lt=until, direction="inbound")
              .annotate(m=TruncMinute("received_at")).values("m").annotate(n=Count("id")).order_by()):
        out[floor_minute(r["m"])][0] += r["n"]
        out[floor_minute(r["m"])][1] += r["n"]
    for r in (WebhookRejection.objects.filter(window_start__gte=since, window_start__lt=until)
              .values("window_start").annotate(n=Count("id")).order_by()):
        out[floor_minute(r["window_start"])][1] += r["n"]
    return dict(out)


def _alert_to_incident(threshold_ms: int, since: datetime, until: datetime) -> Counts:
    """Latency from an alert's first arrival to its incident's creation (``Incident.started_at`` is when the
    problem began at the source, often long before the portal heard of it, so it cannot measure the portal).

    An alert held back by a threshold rule is attached when its incident opens, possibly after the
    lookback: the minutes of alerts attached by incidents created in ``[since, until)`` are recomputed too.
    """
    from reliability.incidents.models import Alert

    counted = Alert.objects.filter(incident__isnull=False, suppressed=False)
    late = {floor_minute(at) for at in counted.filter(
        incident__created_at__gte=since, incident__created_at__lt=until, first_received_at__lt=since,
    ).values_list("first_received_at", flat=True)}
    where = Q(first_received_at__gte=since, first_received_at__lt=until)
    for m in late:
        where |= Q(first_received_at__gte=m, first_received_at__lt=m + MINUTE)
    out: Counts = {m: [0, 0] for m in late}
    limit = timedelta(milliseconds=threshold_ms)
    rows = counted.filter(where).values_list("first_received_at", "incident__created_at",
                                             "incident__previous__created_at", "incident__previous__resolved_at")
    for received, created, previous_created, previous_resolved in rows:
        if previous_resolved is not None and received <= previous_resolved:
            # a fingerprint firing again into a new incident keeps its first arrival: that arrival
            # belonged to the group's previous incident, so its latency is measured against that one
            created = previous_created
        acc = out.setdefault(floor_minute(received), [0, 0])
        acc[1] += 1
        acc[0] += int(created - received <= limit)
    return out


def internal_sli_counts(slo: SLO, since: datetime, until: datetime) -> Counts:
    """minute → [good, total] of the minutes in ``[since, until)`` that had events (and late-changed ones)."""
    name = slo.internal_sli
    if name.startswith("webhook-delivery:"):
        return _webhook_delivery(name.split(":", 1)[1], since, until)
    if name == "ingestion":
        return _ingestion(since, until)
    if name == "alert-to-incident":
        return _alert_to_incident(slo.latency_threshold_ms or DEFAULT_ALERT_THRESHOLD_MS, since, until)
    raise ValueError(f"unknown internal SLI {name!r}")


def internal_slis_compute(*, now: datetime | None = None) -> dict:
    """Recompute the last ten minutes of every internal SLO (idempotent: an upsert per minute).

    Every minute of the range is written, zeros for quiet ones; one broken SLO does not stop the others.
    """
    now = now or timezone.now()
    until = floor_minute(now) + MINUTE
    since = until - LOOKBACK
    quiet = [since + i * MINUTE for i in range(int(LOOKBACK / MINUTE))]
    written = 0
    for slo in SLO.objects.filter(sli_source=SLO.Source.INTERNAL).exclude(internal_sli=""):
        try:
            counts = internal_sli_counts(slo, since, until)
        except ValueError:  # an unknown name in data older than the validation: log it, compute the others
            log.exception("internal SLI of SLO %s failed", slo.slug)
            continue
        items = [(m, 0, 0) for m in quiet if m not in counts] + [(m, g, t) for m, (g, t) in counts.items()]
        written += sli_buckets_upsert(slo_id=slo.pk, items=items)
    return {"buckets": written}

"""SLI data in: upsert minute buckets (last write for a minute wins) and rewrite the touched hours.

This is the data plane, like webhook ingestion: a push writes no audit entry and no outbox event
(a busy SLO pushes every minute; the evaluation's transitions are what is audited). See
docs/decisions.md "SLI buckets are data, not actions".
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncHour

from reliability.slos.models import SLIBucket, SLIHour
from reliability.slos.windows import HOUR, floor_hour, floor_minute


@transaction.atomic
def sli_buckets_upsert(*, slo_id: int, items: list[tuple[datetime, int, int]]) -> int:
    """Write ``(minute, good, total)`` rows for one SLO; a minute given twice keeps its last values.

    Returns the number of distinct minutes written. Callers validate (good ≤ total, not negative).
    """
    latest: dict[datetime, tuple[int, int]] = {}
    for minute, good, total in items:
        latest[floor_minute(minute)] = (int(good), int(total))
    if not latest:
        return 0
    rows = [SLIBucket(slo_id=slo_id, minute=m, good=g, total=t) for m, (g, t) in latest.items()]
    SLIBucket.objects.bulk_create(rows, batch_size=1000, update_conflicts=True, unique_fields=["slo", "minute"],
                                  update_fields=["good", "total"])
    hours_rollup(slo_id=slo_id, hours={floor_hour(m) for m in latest})
    return len(rows)


def hours_rollup(*, slo_id: int, hours: set[datetime]) -> None:
    """Recompute the named hours of one SLO from its minute buckets (inside the caller's transaction)."""
    if not hours:
        return
    ordered = sorted(hours)
    # contiguous hours become one range: a backfill of a day is one query, not 24
    ranges, start, prev = [], ordered[0], ordered[0]
    for h in ordered[1:]:
        if h != prev + HOUR:
            ranges.append((start, prev + HOUR))
            start = h
        prev = h
    ranges.append((start, prev + HOUR))
    where = Q()
    for a, b in ranges:
        where |= Q(minute__gte=a, minute__lt=b)
    sums = (SLIBucket.objects.filter(where, slo_id=slo_id).annotate(h=TruncHour("minute")).values("h")
            .annotate(g=Sum("good"), t=Sum("total")).order_by())
    SLIHour.objects.bulk_create([SLIHour(slo_id=slo_id, hour=r["h"], good=r["g"], total=r["t"]) for r in sums],
                                batch_size=1000, update_conflicts=True, unique_fields=["slo", "hour"],
                                update_fields=["good", "total"])

"""Writers of SlowQuery rows (telemetry: no audit entry, no outbox event; docs/decisions.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reliability.health.slowqueries.models import SlowQuery


@transaction.atomic
def slow_queries_record(*, entries: list[dict]) -> int:
    rows = [
        SlowQuery(
            statement=e["statement"], duration_ms=e["duration_ms"], user=e.get("user", ""), role=e.get("role", ""),
            path=e.get("path", ""), task=e.get("task", ""), database=e.get("database", "default")[:50],
            at=datetime.fromtimestamp(e["at"], tz=UTC) if e.get("at") else timezone.now(),
        )
        for e in entries
    ]
    SlowQuery.objects.bulk_create(rows)
    return len(rows)


@transaction.atomic
def slow_queries_purge(*, now: datetime | None = None) -> int:
    """Keep the last SLOW_QUERY_RETENTION_DAYS and at most SLOW_QUERY_KEEP rows (the slowest)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SLOW_QUERY_RETENTION_DAYS)
    deleted, _ = SlowQuery.objects.filter(at__lt=cutoff).delete()
    keep = list(SlowQuery.objects.order_by("-duration_ms", "-id").values_list("pk", flat=True)[: settings.SLOW_QUERY_KEEP])
    if keep:
        more, _ = SlowQuery.objects.exclude(pk__in=keep).delete()
        deleted += more
    return deleted

"""Reads of incidents (placeholder filled in step 2)."""

from __future__ import annotations

from django.db.models import Count

from reliability.incidents.models import Incident, Severity


def open_counts_by_severity() -> dict[str, int]:
    counts = dict.fromkeys(Severity.values, 0)
    rows = Incident.objects.exclude(status=Incident.Status.RESOLVED).values("severity").annotate(n=Count("id"))
    for row in rows:
        counts[row["severity"]] = row["n"]
    return counts

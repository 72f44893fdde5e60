"""Reads of SLOs: lists for pages and the API, statuses, and the error-budget policy's answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncHour

from reliability.slos.models import SLO, BurnTier, SLIBucket, SLIHour, SLOStatus


def slo_list():
    """SLOs with their status, least budget first (no data last)."""
    return (SLO.objects.select_related("service", "status", "owner")
            .order_by(F("status__budget_remaining").asc(nulls_last=True), "slug"))


def slo_get(slug: str) -> SLO | None:
    return SLO.objects.select_related("service", "status", "policy", "owner").filter(slug=slug).first()


def status_rows() -> list[tuple[str, float | None, dict]]:
    return list(SLOStatus.objects.values_list("slo__slug", "budget_remaining", "burn_rates"))


def budget_exhausted_services() -> set[str]:
    """Catalog service names with at least one protected SLO whose error budget is spent (chaos gate)."""
    return set(SLOStatus.objects.filter(state=SLOStatus.State.EXHAUSTED, slo__protected=True)
               .values_list("slo__service__name", flat=True))


def fast_burning_slos() -> list[str]:
    """Slugs of SLOs with a page tier firing now."""
    return sorted(set(BurnTier.objects.filter(state=BurnTier.State.FIRING, severity=BurnTier.Severity.PAGE)
                      .values_list("policy__slo__slug", flat=True)))


def state_counts() -> dict[str, int]:
    counts = {s: 0 for s in SLOStatus.State.values}
    for state in SLOStatus.objects.values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def tiers_of(slo: SLO) -> list[BurnTier]:
    return list(BurnTier.objects.filter(policy__slo=slo).order_by("long_window_minutes"))


def sli_series(slo: SLO, *, since: datetime, until: datetime) -> list[dict]:
    """Hourly (good, total) from the rollup (charts)."""
    return list(SLIHour.objects.filter(slo=slo, hour__gte=since, hour__lt=until).order_by("hour")
                .values("hour", "good", "total"))


def minute_series(slo: SLO, *, since: datetime, until: datetime) -> list[dict]:
    return list(SLIBucket.objects.filter(slo=slo, minute__gte=since, minute__lt=until).order_by("minute")
                .values("minute", "good", "total"))


def hours_from_minutes(slo: SLO, since: datetime) -> list[dict]:
    """Used by tests and the rollup check: hours recomputed from the minutes."""
    return list(SLIBucket.objects.filter(slo=slo, minute__gte=since).annotate(h=TruncHour("minute")).values("h")
                .annotate(g=Sum("good"), t=Sum("total")).order_by("h"))


def corrections_overlapping(slo: SLO, since: datetime, until: datetime):
    return slo.corrections.filter(Q(ends_at__gt=since) & Q(starts_at__lt=until)).order_by("starts_at")


def recent_window(days: int, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now


def report_rows(start: datetime, end: datetime) -> list[dict]:
    """The reliability report's SLO section: per SLO, attainment over [start, end) and its budget now.

    Attainment is good / total of the minute buckets in the period (None without traffic); the
    budget and state are the latest evaluation's, over the SLO's own window.
    """
    sums = {row["slo_id"]: row for row in (SLIBucket.objects.filter(minute__gte=start, minute__lt=end)
                                           .values("slo_id").annotate(good=Sum("good"), total=Sum("total")))}
    rows = []
    for slo in SLO.objects.select_related("service", "status").order_by("service__name", "slug"):
        period = sums.get(slo.pk) or {"good": 0, "total": 0}
        status = getattr(slo, "status", None)
        total = period["total"] or 0
        rows.append({
            "service": slo.service.name, "slo": slo.slug, "name": slo.name, "objective": float(slo.objective),
            "window": slo.window, "good": period["good"] or 0, "total": total,
            "attainment": round(100.0 * (period["good"] or 0) / total, 4) if total else None,
            "met": (100.0 * (period["good"] or 0) / total >= float(slo.objective)) if total else None,
            "budget_remaining": status.budget_remaining if status else None,
            "state": status.state if status else "insufficient_data",
        })
    return rows

"""/ops/reports/reliability/: the reliability report as a printable page (any portal role)."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsportal.accounts.roles import has_role
from opsportal.api.permissions import READ_ROLES
from reliability.reports.models import ReliabilitySnapshot
from reliability.reports.periods import DEFAULT, FORMS, PeriodError, parse_period
from reliability.reports.selectors import SEVERITIES, reliability_report


def _reader_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal-login"))
        if not has_role(request.user, *READ_ROLES):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def duration(seconds: float | None) -> str:
    """``4 m 05 s``, ``2 h 10 m``, ``3 d 4 h``; ``—`` when there is none."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} m"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _quick_periods(now) -> list[tuple[str, str]]:
    year, month = now.year, now.month
    last_year, last_month = (year, month - 1) if month > 1 else (year - 1, 12)
    quarter = (month - 1) // 3 + 1
    return [("7d", "last 7 days"), ("30d", "last 30 days"), (f"month:{year}-{month:02d}", "this month"),
            (f"month:{last_year}-{last_month:02d}", "last month"), (f"quarter:{year}-Q{quarter}", "this quarter")]


def _view_model(report: dict) -> list[dict]:
    rows = []
    for svc in report["services"]:
        by_sev = {r["severity"]: r for r in svc["incidents"]["by_severity"]}
        rows.append({**svc, "severity_cells": [by_sev.get(s) for s in SEVERITIES],
                     "incident_rows": [{**r, "mtta": duration(r["mtta_seconds"]), "mttr": duration(r["mttr_seconds"])}
                                       for r in svc["incidents"]["by_severity"]]})
    return rows


@require_GET
@_reader_required
def reliability_report_page(request):
    now = timezone.now()
    value = request.GET.get("period") or DEFAULT
    context = {**admin.site.each_context(request), "is_nav_sidebar_enabled": False,
               "title": "Reliability report", "period_value": value[:40], "forms": FORMS,
               "quick": _quick_periods(now), "severities": SEVERITIES,
               "snapshots": list(ReliabilitySnapshot.objects.only("period", "starts_at", "created_at")[:12])}
    try:
        period = parse_period(value, now=now)
    except PeriodError as exc:
        return render(request, "reports/reliability.html", {**context, "error": str(exc)}, status=400)
    report = reliability_report(period, now=now)
    context.update(report=report, services=_view_model(report), period=period,
                   query=f"period={period.label}")
    return render(request, "reports/reliability.html", context)

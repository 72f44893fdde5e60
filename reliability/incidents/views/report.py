"""/ops/incidents/report/: MTTA and MTTR per service and severity over a chosen period, chart and CSV."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reliability.incidents import selectors
from reliability.incidents.views.access import reader_required
from reliability.incidents.views.pages import _page_context

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def period(request) -> tuple[date, date, str]:
    """[since, until] in whole UTC days; bad or reversed input falls back to the last 30 days (with a note)."""
    today = timezone.now().astimezone(UTC).date()
    since, until = _day(request.GET.get("since")), _day(request.GET.get("until"))
    note = ""
    if (request.GET.get("since") and since is None) or (request.GET.get("until") and until is None):
        note = "dates are YYYY-MM-DD; showing the default period"
        since = until = None
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        since, until, note = until - timedelta(days=DEFAULT_DAYS - 1), until, "the start was after the end"
    if (until - since).days >= MAX_DAYS:
        since, note = until - timedelta(days=MAX_DAYS - 1), f"periods are at most {MAX_DAYS} days"
    return since, until, note


def _rows(since: date, until: date) -> list[dict]:
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return selectors.response_times(since=start, until=end)


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


@require_GET
@reader_required
def incident_report(request):
    since, until, note = period(request)
    rows = _rows(since, until)
    for r in rows:
        r["label"] = f"{r['service'] or '(no service)'} · {r['severity']}"
        r["mtta_minutes"], r["mttr_minutes"] = _minutes(r["mtta_seconds"]), _minutes(r["mttr_seconds"])
    chart = {"labels": [r["label"] for r in rows], "mtta": [r["mtta_minutes"] for r in rows],
             "mttr": [r["mttr_minutes"] for r in rows]}
    context = {**_page_context(request, "Incident response times"), "rows": rows, "chart": chart,
               "since": since.isoformat(), "until": until.isoformat(), "note": note,
               "query": f"since={since.isoformat()}&until={until.isoformat()}"}
    return render(request, "incidents/report.html", context)


@require_GET
@reader_required
def incident_report_csv(request):
    since, until, _ = period(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-response-{since}-{until}.csv"'
    writer = csv.writer(response)
    writer.writerow(["service", "severity", "incidents", "acknowledged", "resolved", "mtta_seconds", "mttr_seconds"])
    for r in _rows(since, until):
        service = r["service"] or ""
        if service[:1] in ("=", "+", "-", "@"):  # never a formula in a spreadsheet
            service = "'" + service
        writer.writerow([service, r["severity"], r["incidents"], r["acknowledged"], r["resolved"],
                         "" if r["mtta_seconds"] is None else round(r["mtta_seconds"], 1),
                         "" if r["mttr_seconds"] is None else round(r["mttr_seconds"], 1)])
    return response

"""The reliability report, read from the apps that own each figure (nothing here writes).

Per service: SLO attainment and budget (``reliability.slos``, when installed),
incidents with MTTA/MTTR by severity (``reliability.incidents``), breaker trips
(``BreakerTransition``) and chaos drills (``chaos``, when installed). Portal-wide:
the DLQ's added/replayed/discarded counts from the webhooks app's outbox events
(a DLQ item belongs to a webhook destination, not to a catalog service).

``report_csv_rows`` flattens the same dict into the CSV's long format, so JSON
and CSV cannot disagree.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from opsportal.catalog.models import Service
from opsportal.events.models import OutboxEvent
from reliability.breakers.models import BreakerState, BreakerTransition
from reliability.incidents.selectors import response_times
from reliability.reports.periods import Period
from reliability.webhooks.names import Event as WebhookEvent

log = logging.getLogger(__name__)
SEVERITIES = ("P0", "P1", "P2", "P3")
CSV_HEADER = ("section", "service", "item", "metric", "value")
_SCALARS = (str, int, float, bool, type(None))


# --- the optional sections (other apps' hooks) -------------------------------------------------------


def _clean(row: dict) -> dict:
    """A hook's row reduced to JSON scalars (dates as ISO text)."""
    out = {}
    for key, value in dict(row).items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        if isinstance(value, _SCALARS):
            out[str(key)] = value
    return out


def _hook(module: str, what: str, start: datetime, end: datetime) -> tuple[list[dict] | None, str | None]:
    """Rows of ``<module>.report_rows(start, end)``; (None, note) when the app is absent or failed."""
    import importlib

    try:  # an app that is not installed (or has no hook) leaves its section out
        report_rows = importlib.import_module(module).report_rows
    except (ImportError, AttributeError):
        return None, f"{what} not configured"
    try:
        return [_clean(r) for r in report_rows(start, end)], None
    except Exception:  # a broken section must not break the whole report (no 5xx)
        log.exception("reliability report: %s.report_rows failed", module)
        return None, f"{what} unavailable (error logged)"


def slo_rows(start: datetime, end: datetime) -> tuple[list[dict] | None, str | None]:
    """``reliability.slos.selectors.report_rows(start, end)``: one row per SLO with at least
    ``service`` and ``slo`` (slug), e.g. objective, attainment, budget_remaining, state."""
    return _hook("reliability.slos.selectors", "SLOs", start, end)


def chaos_rows(start: datetime, end: datetime) -> tuple[list[dict] | None, str | None]:
    """``chaos.selectors.report_rows(start, end)``: one row per drill run, e.g. ``drill``,
    ``scenario``, ``service`` (when it targets one), ``verdict``, ``started_at``."""
    return _hook("chaos.selectors", "chaos drills", start, end)


# --- the portal's own figures ------------------------------------------------------------------------


def breaker_trips(start: datetime, end: datetime) -> list[dict]:
    """Per breaker: automatic trips (→ open) and manual forced opens in [start, end)."""
    rows = (BreakerTransition.objects.filter(at__gte=start, at__lt=end,
                                             to_state__in=[BreakerState.OPEN, BreakerState.FORCED_OPEN])
            .values("breaker__name", "breaker__service__name")
            .annotate(trips=Count("id", filter=Q(to_state=BreakerState.OPEN)),
                      forced_open=Count("id", filter=Q(to_state=BreakerState.FORCED_OPEN)))
            .order_by("breaker__name"))
    return [{"breaker": r["breaker__name"], "service": r["breaker__service__name"], "trips": r["trips"],
             "forced_open": r["forced_open"]} for r in rows]


def _count_sum(qs) -> int:
    return qs.aggregate(n=Coalesce(Sum(Cast(KT("data__count"), IntegerField())), 0))["n"]


def dlq_counts(start: datetime, end: datetime) -> dict:
    """Items added to, replayed from and discarded from the DLQ in [start, end) (their outbox events)."""
    events = OutboxEvent.objects.filter(created_at__gte=start, created_at__lt=end)
    added = events.filter(type=WebhookEvent.DLQ_ADDED)
    by_destination = (added.annotate(destination=KT("data__destination")).values("destination")
                      .annotate(n=Coalesce(Sum(Cast(KT("data__count"), IntegerField())), 0)).order_by("destination"))
    return {
        "added": _count_sum(added),
        "replayed": _count_sum(events.filter(type=WebhookEvent.DLQ_RETRIED)),
        "discarded": _count_sum(events.filter(type=WebhookEvent.DLQ_DISCARDED)),
        "by_destination": [{"destination": r["destination"] or "", "added": r["n"]} for r in by_destination],
    }


def _incident_rows(start: datetime, end: datetime) -> dict[str | None, list[dict]]:
    by_service: dict[str | None, list[dict]] = defaultdict(list)
    for r in response_times(since=start, until=end):
        by_service[r["service"]].append({k: r[k] for k in ("severity", "incidents", "acknowledged", "resolved",
                                                          "mtta_seconds", "mttr_seconds")})
    for rows in by_service.values():
        rows.sort(key=lambda r: SEVERITIES.index(r["severity"]) if r["severity"] in SEVERITIES else 99)
    return by_service


def reliability_report(period: Period, *, now: datetime | None = None) -> dict:
    """The report of ``period`` as the JSON the API answers (see docs/reports.md for the fields)."""
    start, end = period.start, period.end
    incidents = _incident_rows(start, end)
    trips: dict[str | None, list[dict]] = defaultdict(list)
    for row in breaker_trips(start, end):
        trips[row.pop("service")].append(row)
    slos, slo_note = slo_rows(start, end)
    drills, chaos_note = chaos_rows(start, end)
    slos_by, drills_by = defaultdict(list), defaultdict(list)
    for row in slos or []:
        slos_by[row.get("service")].append(row)
    for row in drills or []:
        drills_by[row.get("service")].append(row)

    catalog = {s.name: s for s in Service.objects.order_by("name")}
    names = sorted(set(catalog) | {n for n in (*incidents, *trips, *slos_by, *drills_by) if n})
    if None in incidents or None in trips or None in slos_by:
        names.append(None)  # figures that belong to no catalog service
    services = []
    for name in names:
        svc = catalog.get(name) if name else None
        rows = incidents.get(name, [])
        services.append({
            "service": name,
            "team": svc.team if svc else "",
            "tier": svc.tier if svc else None,
            "slos": slos_by.get(name, []) if slos is not None else None,
            "incidents": {"total": sum(r["incidents"] for r in rows), "by_severity": rows},
            "breaker_trips": {"total": sum(r["trips"] for r in trips.get(name, [])), "by_breaker": trips.get(name, [])},
            "chaos_drills": drills_by.get(name, []) if drills is not None else None,
        })
    return {
        "period": period.as_dict(),
        "generated_at": (now or timezone.now()).isoformat(),
        "services": services,
        "slos": {"configured": slos is not None, "note": slo_note, "count": len(slos or [])},
        "dlq": dlq_counts(start, end),
        "chaos": {"configured": drills is not None, "note": chaos_note, "drills": drills or []},
    }


# --- CSV ---------------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def report_csv_rows(report: dict) -> Iterator[tuple[str, str, str, str, str]]:
    """(section, service, item, metric, value) rows; the header is ``CSV_HEADER``."""
    period = report["period"]
    for metric in ("start", "end", "partial"):
        yield "period", "", period["label"], metric, _cell(period[metric])
    for svc in report["services"]:
        name = svc["service"] or ""
        yield "incidents", name, "all", "incidents", _cell(svc["incidents"]["total"])
        for r in svc["incidents"]["by_severity"]:
            for metric in ("incidents", "acknowledged", "resolved", "mtta_seconds", "mttr_seconds"):
                yield "incidents", name, r["severity"], metric, _cell(r[metric])
        yield "breakers", name, "all", "trips", _cell(svc["breaker_trips"]["total"])
        for r in svc["breaker_trips"]["by_breaker"]:
            yield "breakers", name, r["breaker"], "trips", _cell(r["trips"])
            yield "breakers", name, r["breaker"], "forced_open", _cell(r["forced_open"])
        for r in svc["slos"] or []:
            for metric, value in r.items():
                if metric not in ("service", "slo"):
                    yield "slos", name, str(r.get("slo", "")), metric, _cell(value)
    for metric in ("added", "replayed", "discarded"):
        yield "dlq", "", "all", metric, _cell(report["dlq"][metric])
    for r in report["dlq"]["by_destination"]:
        yield "dlq", "", r["destination"], "added", _cell(r["added"])
    for i, r in enumerate(report["chaos"]["drills"]):
        item = str(r.get("drill", i + 1))
        for metric, value in r.items():
            if metric != "drill":
                yield "chaos", str(r.get("service") or ""), item, metric, _cell(value)
    for section in ("slos", "chaos"):
        if report[section]["note"]:
            yield section, "", "", "note", _cell(report[section]["note"])

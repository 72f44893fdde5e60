"""GET pages and their live fragments. The page re-fetches its fragment on every ``incident`` event (ops.js)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from opsportal.catalog.models import Service
from opsportal.dashboard.selectors import recent_events_for
from opsportal.events.selectors import event_latest_id
from reliability.incidents import selectors
from reliability.incidents.models import Incident, Severity
from reliability.incidents.runbooks_link import incident_checklist, incident_runbooks
from reliability.incidents.services.escalation import escalation_position
from reliability.incidents.views.access import can_act, reader_required

LIST_LIMIT = 200
OPEN = "triggered,acknowledged"
SILENCE_CHOICES = [(0, "no silence"), (30, "30 min"), (60, "1 h"), (240, "4 h"), (1440, "24 h")]


# what a row shows (the list never needs the labels, payload-sized JSON or escalation state)
_ROW_FIELDS = ("id", "number", "title", "status", "severity", "suppressed", "started_at", "service__name",
               "assignee__username")


def _filters(request) -> dict:
    status = request.GET.get("status", "open")
    if status not in {"open", "all", *Incident.Status.values}:
        status = "open"
    severity = request.GET.get("severity", "")
    severity = severity if severity in Severity.values else ""
    service = request.GET.get("service", "")[:200]
    return {"status": status, "severity": severity, "service": service}


def _rows(filters: dict):
    status = {"open": OPEN, "all": None}.get(filters["status"], filters["status"])
    qs = selectors.incident_list(status=status, severity=filters["severity"] or None,
                                 service=filters["service"] or None)
    return list(qs.order_by("severity", "started_at", "pk").only(*_ROW_FIELDS)[:LIST_LIMIT])


def _page_context(request, title: str) -> dict:
    return {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "title": title,
        "cursor": event_latest_id(),
        "events": [e for e in recent_events_for(request.user, limit=100) if e["domain"] == "incident"][:30],
        "can_act": can_act(request.user),
    }


def _list_context(request) -> dict:
    filters = _filters(request)
    query = request.GET.urlencode()
    base = reverse("incidents-ops:list")
    # rows link to f"{base}{pk}/" and f"{base}{pk}/act/": one reverse() per page, not three per row
    # (200 rows: 600 reverse() calls were a third of the page's time, bench/incidents (c))
    return {"incidents": _rows(filters), "filters": filters, "can_act": can_act(request.user),
            "query": query, "limit": LIST_LIMIT, "base": base, "next_url": f"{base}?{query}" if query else base}


@require_GET
@reader_required
def incident_list(request):
    context = {**_page_context(request, "Incidents"), **_list_context(request),
               "statuses": ["open", "all", *Incident.Status.values], "severities": Severity.values,
               "services": list(Service.objects.order_by("name").values_list("name", flat=True)[:500])}
    return render(request, "incidents/list.html", context)


@require_GET
@reader_required
def incident_list_fragment(request):
    return render(request, "incidents/_list.html", _list_context(request))


def _detail_context(request, pk: int) -> dict:
    incident = (Incident.objects.select_related("service", "assignee", "escalation_policy", "previous")
                .filter(pk=pk).first())
    if incident is None:
        raise Http404("no such incident")
    runbooks = incident_runbooks(incident)
    return {
        "runbooks": runbooks,
        "checklist": incident_checklist(incident, runbooks[0]) if runbooks else None,
        "incident": incident,
        "timeline": list(incident.timeline.order_by("-at", "-id")[:200]),
        "alerts": list(incident.alerts.order_by("status", "-last_received_at")[:100]),
        "silences": list(incident.silences.order_by("-created_at")[:20]),
        "notifications": list(incident.notifications.select_related("channel", "user", "step")
                              .order_by("-created_at", "-pk")[:100]),
        "position": escalation_position(incident),
        "can_act": can_act(request.user),
    }


@require_GET
@reader_required
def incident_detail(request, pk: int):
    context = _detail_context(request, pk)
    users = get_user_model().objects.filter(is_active=True).order_by("username").only("pk", "username")[:500]
    context.update(_page_context(request, f"Incident #{context['incident'].number}"), users=users,
                   silence_choices=SILENCE_CHOICES, focus=request.GET.get("do", ""))
    return render(request, "incidents/detail.html", context)


@require_GET
@reader_required
def incident_detail_fragment(request, pk: int):
    return render(request, "incidents/_detail.html", _detail_context(request, pk))

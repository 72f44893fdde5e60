"""/ops/slos/: the list (least budget first, status tiles) and an SLO's page (charts, tiers, corrections).

Both re-fetch their fragment on every ``slo`` event (ops.js); the evaluation emits one per cycle.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsportal.dashboard.selectors import recent_events_for
from opsportal.events.groups import domains_for_user
from opsportal.events.selectors import event_latest_id
from reliability.slos import selectors, windows


def _reader(view):
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                return HttpResponse(status=401, headers={"HX-Refresh": "true"})
            return redirect_to_login(request.get_full_path(), reverse("portal-login"))
        if "slo" not in domains_for_user(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return never_cache(wrapper)


def _page(request, title: str) -> dict:
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, "title": title,
            "cursor": event_latest_id(),
            "events": [e for e in recent_events_for(request.user, limit=100) if e["domain"] == "slo"
                       and e["event"]["type"] != "slo.evaluated"][:30]}


def _list_context() -> dict:
    return {"slos": list(selectors.slo_list()[:500]), "counts": selectors.state_counts(),
            "exhausted_services": sorted(selectors.budget_exhausted_services())}


@require_GET
@_reader
def slo_list(request):
    return render(request, "slos/list.html", {**_page(request, "SLOs and error budgets"), **_list_context()})


@require_GET
@_reader
def slo_list_fragment(request):
    return render(request, "slos/_list.html", _list_context())


def chart_data(slo, now) -> dict:
    """Hourly SLI, budget remaining from the window's start, and hourly burn rate (the rollup only)."""
    status = getattr(slo, "status", None)
    start = windows.slo_window_start(slo.window, slo.timezone, now)
    since = min(start, now - timedelta(days=7))
    rows = selectors.sli_series(slo, since=windows.floor_hour(since), until=windows.window_end(now))
    eb = slo.error_budget
    labels, sli, burn, budget = [], [], [], []
    good_sum = total_sum = 0
    for r in rows:
        labels.append(r["hour"].strftime("%Y-%m-%d %H:00"))
        ratio = r["good"] / r["total"] if r["total"] else None
        sli.append(None if ratio is None else round(ratio * 100, 4))
        burn.append(None if ratio is None else round((1 - ratio) / eb, 3))
        if r["hour"] >= start:
            good_sum += r["good"]
            total_sum += r["total"]
        budget.append(round((1 - ((total_sum - good_sum) / total_sum) / eb) * 100, 2) if total_sum and r["hour"] >= start
                      else None)
    return {"labels": labels, "sli": sli, "burn": burn, "budget": budget, "objective": float(slo.objective),
            "state": status.state if status else None}


def _detail_context(slug: str) -> dict:
    slo = selectors.slo_get(slug)
    if slo is None:
        raise Http404("no such SLO")
    now = timezone.now()
    return {"slo": slo, "status": getattr(slo, "status", None), "tiers": selectors.tiers_of(slo),
            "corrections": list(slo.corrections.select_related("created_by")[:50]),
            "chart": chart_data(slo, now), "policy": slo.policy}


@require_GET
@_reader
def slo_detail(request, slug: str):
    context = _detail_context(slug)
    return render(request, "slos/detail.html", {**_page(request, f"SLO {context['slo'].name}"), **context})


@require_GET
@_reader
def slo_detail_fragment(request, slug: str):
    return render(request, "slos/_detail.html", _detail_context(slug))

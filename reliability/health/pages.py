"""/ops/health/: the live health page and its fragments (re-fetched on every ``health`` event and every 30 s)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsportal.dashboard.selectors import recent_events_for
from opsportal.events.groups import domains_for_user
from opsportal.events.selectors import event_latest_id
from reliability.health import selectors
from reliability.health.degradation.panels import card_context

HISTORY_POINTS = 60


def can_read(user) -> bool:
    """Every role whose live feed includes health (operator, support, chaos operator)."""
    return "health" in domains_for_user(user)


def reader_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                return HttpResponse(status=401, headers={"HX-Refresh": "true"})
            return redirect_to_login(request.get_full_path(), reverse("portal-login"))
        if not can_read(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def _checks_context() -> dict:
    checks = list(selectors.check_list())
    history = selectors.check_history(names=[c.name for c in checks], points=HISTORY_POINTS)
    chart = {name: {"values": [p["value"] for p in rows], "statuses": [p["status"] for p in rows],
                    "at": [p["at"][11:16] for p in rows]} for name, rows in history.items()}
    return {"checks": checks, "chart": chart, "thresholds": settings.HEALTH_THRESHOLDS}


def _workers_context() -> dict:
    return {"workers": list(selectors.worker_list()[:200]), "stale_after": settings.HEALTH_HEARTBEAT_STALE_SECONDS,
            "slow_jobs": list(selectors.slow_job_list(limit=50)), "slow_job_seconds": settings.SLOW_JOB_SECONDS}


@require_GET
@reader_required
def health_page(request):
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "title": "System health",
        "cursor": event_latest_id(),
        "events": [e for e in recent_events_for(request.user, limit=100) if e["domain"] == "health"][:30],
        "interval": settings.HEALTH_PROBE_INTERVAL_SECONDS,
        **_checks_context(),
        **_workers_context(),
        "degradation": card_context(request),
        "slow_queries": selectors.recent_slow_queries(10),
        "slow_query_ms": settings.SLOW_QUERY_MS,
    }
    return render(request, "health/page.html", context)


@require_GET
@reader_required
def checks_fragment(request):
    return render(request, "health/_checks.html", _checks_context())


@require_GET
@reader_required
def workers_fragment(request):
    return render(request, "health/_workers.html", _workers_context())

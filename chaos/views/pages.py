"""/ops/chaos/: drills with state and next slot, the running run's journal (live), actions; run reports."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from chaos import selectors
from chaos.models import ChaosRun
from chaos.views.access import can_act, reader_required
from opsportal.dashboard.selectors import recent_events_for
from opsportal.events.selectors import event_latest_id


def _drills_context(request) -> dict:
    drills = selectors.drills_for_panel(limit=100)
    for drill in drills:
        drill.next_slot = selectors.drill_next_slot(drill)
    return {"drills": drills, "can_act": can_act(request.user), "kill_switch": selectors.kill_switch_current(),
            "user_id": request.user.pk}


def _run_context(request) -> dict:
    run = (ChaosRun.objects.filter(state__in=ChaosRun.ACTIVE_STATES).select_related("drill", "drill__scenario").first()
           or ChaosRun.objects.exclude(state=ChaosRun.State.SKIPPED).select_related("drill", "drill__scenario").first())
    journal = selectors.run_journal(run.pk)[-200:] if run else []
    return {"run": run, "journal": journal, "can_act": can_act(request.user)}


@require_GET
@reader_required
def chaos_page(request):
    context = {
        **admin.site.each_context(request), "is_nav_sidebar_enabled": False, "title": "Chaos drills",
        "cursor": event_latest_id(),
        "events": [e for e in recent_events_for(request.user, limit=100) if e["domain"] == "chaos"][:20],
        **_drills_context(request), **_run_context(request),
    }
    return render(request, "chaos/page.html", context)


@require_GET
@reader_required
def drills_fragment(request):
    return render(request, "chaos/_drills.html", _drills_context(request))


@require_GET
@reader_required
def run_fragment(request):
    return render(request, "chaos/_run.html", _run_context(request))


@require_GET
@reader_required
def run_report(request, pk: int):
    run = ChaosRun.objects.select_related("drill", "drill__scenario", "drill__created_by", "drill__approved_by").filter(pk=pk).first()
    if run is None:
        raise Http404
    return render(request, "chaos/report.html", {"run": run, "journal": selectors.run_journal(run.pk),
                                                 "faults": list(run.faults.all()), "drill": run.drill,
                                                 "hints": selectors.run_root_cause_hints(run.pk)})

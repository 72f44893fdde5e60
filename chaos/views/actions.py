"""POST /ops/chaos/<id>/act/ (submit, approve, schedule, cancel, halt) and /ops/chaos/kill-switch/.

The same services as the API and admin (source "ops"); the services check the role again.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.actors import Actor
from chaos import services
from chaos.models import ChaosDrill, ChaosRun
from chaos.views.access import actor_required

SOURCE = "ops"


def _reason(request) -> str:
    return (request.POST.get("reason") or "").replace("\x00", "")[:2000].strip()


@require_POST
@actor_required
def drill_action(request, pk: int):
    action, actor = request.POST.get("action", ""), Actor.from_request(request)
    if not ChaosDrill.objects.filter(pk=pk).exists():
        raise Http404
    try:
        if action == "submit":
            services.drill_submit(drill_id=pk, actor=actor, source=SOURCE)
        elif action == "approve":
            services.drill_approve(drill_id=pk, actor=actor, source=SOURCE)
        elif action == "schedule":
            services.drill_schedule(drill_id=pk, actor=actor, source=SOURCE)
        elif action == "cancel":
            services.drill_cancel(drill_id=pk, actor=actor, source=SOURCE, reason=_reason(request))
        elif action == "halt":
            run = ChaosRun.objects.filter(drill_id=pk, state__in=ChaosRun.ACTIVE_STATES).first()
            if run is None:
                raise services.InvalidTransition("this drill has no running run")
            services.run_halt(run_id=run.pk, reason=_reason(request) or "halted from /ops/chaos/", actor=actor, source=SOURCE)
        else:
            raise services.InvalidTransition(f"unknown action {action[:30]!r}")
        messages.success(request, f"drill #{pk}: {action} done")
    except services.ChaosPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except (services.ChaosError, ValidationError) as exc:
        messages.error(request, f"drill #{pk}: {action} refused: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
    return redirect("chaos-ops:page")


@require_POST
@actor_required
def kill_switch_action(request):
    actor = Actor.from_request(request)
    try:
        if request.POST.get("action") == "release":
            services.kill_switch_release(actor=actor, source=SOURCE, reason=_reason(request))
            messages.success(request, "kill switch released")
        else:
            switch = services.kill_switch_engage(reason=_reason(request) or "engaged from /ops/chaos/", actor=actor, source=SOURCE)
            messages.warning(request, f"kill switch engaged; halted runs: {getattr(switch, 'halted_runs', []) or 'none'}")
    except services.ChaosPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except services.ChaosError as exc:
        messages.error(request, str(exc))
    return redirect("chaos-ops:page")

"""POST /ops/dlq/<id>/ and /ops/dlq/groups/<signature>/ (action=retry|discard, reason): the DLQ panel's buttons.

The same services as the admin, the API and the CLI, with source "dashboard".
Mounted at /ops/dlq/ by opsportal/urls.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path
from django.views.decorators.http import require_POST

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR, has_role
from reliability.webhooks.selectors.dlq import DlqFilterError
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry

ACTIONS = ("retry", "discard")


def _allowed(request) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return HttpResponse(status=401, headers={"HX-Refresh": "true"})
    if not (request.user.is_staff and has_role(request.user, OPERATOR)):
        raise PermissionDenied
    return None


def _answer(request, error: str, notice: str):
    if request.headers.get("HX-Request") == "true":
        from reliability.webhooks.panels import DLQ_PANEL

        request.dlq_panel_error, request.dlq_panel_notice = error, notice
        context = {"panel": DLQ_PANEL, **DLQ_PANEL.context(request)}
        return HttpResponse(render_to_string(DLQ_PANEL.template, context, request=request))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("dashboard:overview")


@require_POST
def dlq_group_action(request, signature: str):
    """Replay or discard every open item of one group (one audit entry)."""
    denied = _allowed(request)
    if denied is not None:
        return denied
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise Http404("no such action")
    actor, reason = Actor.from_request(request), request.POST.get("reason", "")
    error = notice = ""
    try:
        if action == "retry":
            result = dlq_retry(filters={"group": signature}, reason=reason, actor=actor, source="dashboard")
            notice = f"group {signature}: {result.count} item(s) handed back to delivery"
        else:
            result = dlq_discard(filters={"group": signature}, reason=reason, actor=actor, source="dashboard")
            notice = f"group {signature}: {result.count} item(s) discarded"
    except DlqFilterError as exc:
        raise Http404("no such DLQ group") from exc
    except DlqItemNotOpen as exc:
        error = str(exc)
    except ValidationError as exc:
        error = f"group {signature}: " + "; ".join(exc.messages)
    return _answer(request, error, notice)


@require_POST
def dlq_action(request, failure_id: int):
    denied = _allowed(request)
    if denied is not None:
        return denied
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise Http404("no such action")
    actor, reason = Actor.from_request(request), request.POST.get("reason", "")
    error = notice = ""
    try:
        if action == "retry":
            dlq_retry(failure_ids=[failure_id], reason=reason, actor=actor, source="dashboard")
            notice = f"#{failure_id} handed back to delivery"
        else:
            dlq_discard(failure_id=failure_id, reason=reason, actor=actor, source="dashboard")
            notice = f"#{failure_id} discarded"
    except DlqItemNotOpen as exc:
        if exc.all_missing:
            raise Http404("no such DLQ item") from exc
        error = str(exc)
    except ValidationError as exc:
        error = f"#{failure_id}: " + "; ".join(exc.messages)
    return _answer(request, error, notice)


app_name = "dlq-ops"
urlpatterns = [
    path("<int:failure_id>/", dlq_action, name="action"),
    path("groups/<str:signature>/", dlq_group_action, name="group"),
]

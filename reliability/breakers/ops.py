"""POST /ops/breakers/<name>/ (action, reason): the panel's buttons (the same services, source "dashboard")."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR, has_role
from reliability.breakers.models import CircuitBreaker
from reliability.breakers.services import MANUAL_SERVICES, BreakerActionRefused


@require_POST
def breaker_action(request, name: str):
    if not request.user.is_authenticated:
        return HttpResponse(status=401, headers={"HX-Refresh": "true"})
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied
    action = request.POST.get("action", "")
    service = MANUAL_SERVICES.get(action)
    if service is None:
        raise Http404("no such action")
    error = ""
    try:
        service(name=name, actor=Actor.from_request(request), reason=request.POST.get("reason", ""), source="dashboard")
    except CircuitBreaker.DoesNotExist as exc:
        raise Http404("no such breaker") from exc
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    except BreakerActionRefused as exc:
        error = str(exc)
    if request.headers.get("HX-Request") == "true":
        from reliability.breakers.panels import BREAKERS_PANEL

        request.breaker_panel_error = error and f"{name}: {error}"
        context = {"panel": BREAKERS_PANEL, **BREAKERS_PANEL.context(request)}
        return HttpResponse(render_to_string(BREAKERS_PANEL.template, context, request=request))
    if error:
        messages.error(request, f"{name}: {error}")
    else:
        messages.success(request, f"{name}: {action.replace('_', ' ')} done")
    return redirect("dashboard:overview")

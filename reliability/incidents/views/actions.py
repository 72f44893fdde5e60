"""POST /ops/incidents/<id>/act/: Acknowledge, Resolve, Assign, Comment (the API's services, source "ops")."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from audit.actors import Actor
from reliability.incidents.models import Incident
from reliability.incidents.names import Source
from reliability.incidents.services import (
    IncidentActionRefused,
    incident_acknowledge,
    incident_assign,
    incident_checklist_tick,
    incident_comment,
    incident_resolve,
)
from reliability.incidents.views.access import operator_required

MAX_SILENCE_MINUTES = 7 * 24 * 60


def _int(value: str, *, field: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise IncidentActionRefused(f"{field} must be a whole number") from None
    if not lo <= n <= hi:
        raise IncidentActionRefused(f"{field} must be between {lo} and {hi}")
    return n


def _run(action: str, pk: int, post, actor: Actor) -> str:
    if action == "acknowledge":
        minutes = _int(post.get("silence_minutes") or "0", field="silence minutes", lo=0, hi=MAX_SILENCE_MINUTES)
        incident_acknowledge(incident_id=pk, actor=actor, source=Source.OPS, silence_minutes=minutes)
        return "acknowledged" + (f", silenced for {minutes} min" if minutes else "")
    if action == "resolve":
        incident_resolve(incident_id=pk, actor=actor, source=Source.OPS, note=post.get("note", "")[:10_000])
        return "resolved"
    if action == "assign":
        raw = post.get("assignee", "")
        assignee = _int(raw, field="assignee", lo=1, hi=2**63 - 1) if raw else None
        incident_assign(incident_id=pk, actor=actor, source=Source.OPS, assignee_id=assignee)
        return "assigned" if assignee else "unassigned"
    if action == "comment":
        incident_comment(incident_id=pk, actor=actor, source=Source.OPS, body=post.get("body", ""))
        return "comment added"
    if action == "tick":
        step = _int(post.get("step", ""), field="step", lo=1, hi=1000) - 1
        done = post.get("done", "1") != "0"
        incident_checklist_tick(incident_id=pk, actor=actor, source=Source.OPS, step=step, done=done,
                                runbook=post.get("runbook", "")[:100] or None)
        return f"step {step + 1} {'ticked' if done else 'unticked'}"
    raise Http404("no such action")


@require_POST
@operator_required
def incident_action(request, pk: int):
    action = request.POST.get("action", "")
    number = Incident.objects.filter(pk=pk).values_list("number", flat=True).first()
    if number is None:
        raise Http404("no such incident")
    try:
        done = _run(action, pk, request.POST, Actor.from_request(request))
    except IncidentActionRefused as exc:
        messages.error(request, f"#{number}: {exc}")
    except Incident.DoesNotExist as exc:
        raise Http404("no such incident") from exc
    else:
        messages.success(request, f"#{number}: {done}")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("incidents-ops:detail", args=[pk]) + ("#checklist" if action == "tick" else "")
    return redirect(target)

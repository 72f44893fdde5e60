"""The DLQ's "issues" in the admin: /admin/webhooks/webhookfailure/groups/ with replay/discard of a whole group.

One page lists the open groups (destination, class, status, normalised error,
count, first/last seen, strategy, hint); its buttons POST to
``groups/<signature>/`` with ``action=retry|discard`` (discard needs a reason)
and call the same services as every other interface (source "admin"): one
audit entry per action, covering exactly the group's open items.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_POST

from audit.actors import Actor
from reliability.webhooks.classes import FailureClass
from reliability.webhooks.selectors.dlq import DlqFilterError
from reliability.webhooks.selectors.dlq_groups import dlq_groups, replays_recent
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry

GROUPS_SHOWN = 200


def group_urls(modeladmin) -> list:
    site = modeladmin.admin_site

    def groups_view(request):
        if not modeladmin.has_view_permission(request):
            raise PermissionDenied
        failure_class = request.GET.get("failure_class") or None
        try:
            groups = dlq_groups(filters={"failure_class": failure_class}, limit=GROUPS_SHOWN)
        except DlqFilterError:
            groups, failure_class = dlq_groups(limit=GROUPS_SHOWN), None
        context = {
            **site.each_context(request),
            "title": "Dead-letter issues (grouped)",
            "opts": modeladmin.model._meta,
            "groups": groups,
            "replays": replays_recent(),
            "classes": FailureClass.choices,
            "selected_class": failure_class,
            "can_act": modeladmin.has_dlq_operate_permission(request),
        }
        return TemplateResponse(request, "admin/webhooks/webhookfailure/groups.html", context)

    @require_POST
    def group_action(request, signature: str):
        if not modeladmin.has_dlq_operate_permission(request):
            raise PermissionDenied
        action, reason = request.POST.get("action", ""), request.POST.get("reason", "")
        actor = Actor.from_request(request)
        try:
            if action == "retry":
                result = dlq_retry(filters={"group": signature}, reason=reason, actor=actor, source="admin")
                modeladmin.message_user(request, f"Replayed {result.count} item(s) of group {signature}.", messages.SUCCESS)
            elif action == "discard":
                result = dlq_discard(filters={"group": signature}, reason=reason, actor=actor, source="admin")
                modeladmin.message_user(request, f"Discarded {result.count} item(s) of group {signature}.", messages.SUCCESS)
            else:
                modeladmin.message_user(request, "Unknown action.", messages.ERROR)
        except DlqFilterError as exc:
            modeladmin.message_user(request, f"Not a group: {exc.message}", messages.ERROR)
        except (DlqItemNotOpen, ValidationError) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(request, f"Nothing done: {text}", messages.WARNING)
        return redirect("admin:webhooks_webhookfailure_groups")

    return [
        path("groups/", site.admin_view(groups_view), name="webhooks_webhookfailure_groups"),
        path("groups/<str:signature>/", site.admin_view(group_action), name="webhooks_webhookfailure_group_action"),
    ]

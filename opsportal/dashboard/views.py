"""/ops/: the live dashboard page, its panel fragments and its counters."""

from __future__ import annotations

import logging
from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsportal.accounts.roles import ROLES, user_roles
from opsportal.dashboard.panels import Panel, panel_get, panels_for
from opsportal.dashboard.selectors import overview_counters, recent_events_for
from opsportal.events.groups import domains_for_user
from opsportal.events.selectors import event_latest_id

log = logging.getLogger(__name__)


def may_use_portal(user) -> bool:
    """/ops/ is for signed-in people with a role (or superusers); staff status plays no part."""
    return bool(user and user.is_authenticated and user.is_active and (user.is_superuser or user_roles(user) & set(ROLES)))


def portal_login_required(view):
    """Anonymous → the portal's sign-in (/login/); signed in without a role → 403.

    An htmx request from a page whose session expired gets 401 with
    ``HX-Refresh`` so the whole page reloads (to the login) instead of the
    login form being swapped into a panel. Other /ops/ apps (runbooks) use
    this for their pages too.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                response = HttpResponse(status=401)
                response["HX-Refresh"] = "true"
                return response
            return redirect_to_login(request.get_full_path(), reverse("portal-login"))
        if not may_use_portal(user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def ops_page(view):
    """A read-only /ops/ page: GET only, behind the role gate."""
    return portal_login_required(require_GET(view))


def render_panel(request, panel: Panel) -> str:
    """One panel's fragment; a failing panel shows an error box instead of breaking the page."""
    try:
        return render_to_string(panel.template, {"panel": panel, **panel.context(request)}, request=request)
    except Exception:
        log.exception("dashboard panel %s failed to render", panel.key)
        return render_to_string("dashboard/_panel_error.html", {"panel": panel}, request=request)


@ops_page
def overview(request):
    panels = [(panel, render_panel(request, panel)) for panel in panels_for(request.user)]
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "title": "Live dashboard",
        "counters": overview_counters(request.user),
        "events": recent_events_for(request.user),
        "cursor": event_latest_id(),
        "panels": panels,
    }
    return render(request, "dashboard/overview.html", context)


@ops_page
def panel_fragment(request, key: str):
    panel = panel_get(key)
    if panel is None or panel.domain not in domains_for_user(request.user):
        raise Http404("no such panel")
    return HttpResponse(render_panel(request, panel))


@ops_page
def counters_fragment(request):
    return render(request, "dashboard/_counters.html", {"counters": overview_counters(request.user)})

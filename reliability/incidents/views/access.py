"""Who may see and who may act on /ops/incidents/ (roles, not is_staff)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache

from opsportal.accounts.roles import OPERATOR, has_role
from opsportal.events.groups import domains_for_user


def can_read(user) -> bool:
    """Every role whose live feed includes incidents (operator, support, chaos operator)."""
    return "incident" in domains_for_user(user)


def can_act(user) -> bool:
    """Acknowledge, resolve, assign, comment: operators only (support reads)."""
    return has_role(user, OPERATOR)


def _gate(check):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                if request.headers.get("HX-Request") == "true":
                    return HttpResponse(status=401, headers={"HX-Refresh": "true"})
                return redirect_to_login(request.get_full_path(), reverse("portal-login"))
            if not check(user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return never_cache(wrapper)

    return decorator


reader_required = _gate(can_read)
operator_required = _gate(can_act)

"""Who may see and who may act on /ops/chaos/ (roles, not is_staff)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache

from opsportal.accounts.roles import AUDITOR, CHAOS_OPERATOR, OPERATOR, SUPPORT, has_role


def can_read(user) -> bool:
    """Chaos operators, operators and support read drills; auditors read run journals."""
    return has_role(user, CHAOS_OPERATOR, OPERATOR, SUPPORT, AUDITOR)


def can_act(user) -> bool:
    return has_role(user, CHAOS_OPERATOR)


def _gate(check):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.headers.get("HX-Request") == "true":
                    return HttpResponse(status=401, headers={"HX-Refresh": "true"})
                return redirect_to_login(request.get_full_path(), reverse("portal-login"))
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return never_cache(wrapper)

    return decorator


reader_required = _gate(can_read)
actor_required = _gate(can_act)

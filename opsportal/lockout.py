"""Sign-in lockout (django-axes) keyed on the trusted client IP (docs/security.md).

- ``AXES_CLIENT_IP_CALLABLE`` is ``audit.middleware.client_ip``: the same address the
  audit trail stores, so behind the proxy each client is itself, not the proxy.
- ``AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]`` locks a (username, IP) pair
  after ``AXES_FAILURE_LIMIT`` failures: an attacker guessing ``admin``'s password locks
  only itself out, and ``admin`` still signs in from anywhere else.
- ``LockoutHandler`` adds a per-IP limit (``AXES_IP_FAILURE_LIMIT``, higher, because a
  whole office can share one address): an IP that fails that often across any usernames
  is refused for the same cool-off, so spraying many usernames from one IP stops too.
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


class LockoutHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        return self.ip_failures(request) >= settings.AXES_IP_FAILURE_LIMIT

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # axes flags the response as a lockout (429) only for its own parameters; do the same
        # when this failure (or an earlier one) used up the IP's allowance.
        if request is not None and not getattr(request, "axes_locked_out", False) \
                and self.ip_failures(request) >= settings.AXES_IP_FAILURE_LIMIT:
            request.axes_locked_out = True
            request.axes_credentials = credentials

    @staticmethod
    def ip_failures(request) -> int:
        ip = getattr(request, "axes_ip_address", None)
        if ip is None:
            from audit.middleware import client_ip

            ip = client_ip(request)
        if not ip:
            return 0
        attempts = AccessAttempt.objects.filter(ip_address=ip)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0

"""``manage.py user_access USERNAME [--superuser on|off] [--staff on|off] [--reason …]`` (audited).

Superuser status is every right; staff status opens the admin. Each change is its own audit
entry and event.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from opsportal.accounts.management.commands._users import actor_for, service_errors, user_by_name
from opsportal.accounts.services import user_set_staff, user_set_superuser

_ON_OFF = {"on": True, "off": False}


class Command(BaseCommand):
    help = "Show or change a user's superuser and staff status. Example: user_access alice --superuser off"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--superuser", choices=sorted(_ON_OFF))
        parser.add_argument("--staff", choices=sorted(_ON_OFF))
        parser.add_argument("--reason", default="", help="recorded in the audit trail")

    def handle(self, *args, username, superuser, staff, reason, **options):
        user = user_by_name(username)
        actor = actor_for("user_access")
        with service_errors():
            if superuser is not None:
                user = user_set_superuser(user_id=user.pk, is_superuser=_ON_OFF[superuser], reason=reason, actor=actor, source="cli")
            if staff is not None:
                user = user_set_staff(user_id=user.pk, is_staff=_ON_OFF[staff], reason=reason, actor=actor, source="cli")
        self.stdout.write(f"{username}: superuser {'on' if user.is_superuser else 'off'}, staff {'on' if user.is_staff else 'off'}")

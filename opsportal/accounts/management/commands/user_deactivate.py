"""``manage.py user_deactivate USERNAME [--reason …] [--reactivate]``: end (or restore) a user's access (audited)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from opsportal.accounts.management.commands._users import actor_for, service_errors, user_by_name
from opsportal.accounts.services import user_deactivate, user_reactivate


class Command(BaseCommand):
    help = "Deactivate a user: no more sign-ins, open sessions stop working, live sockets close."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", default="", help="recorded in the audit trail")
        parser.add_argument("--reactivate", action="store_true", help="restore a deactivated user's access")

    def handle(self, *args, username, reason, reactivate, **options):
        user = user_by_name(username)
        before = user.is_active
        service = user_reactivate if reactivate else user_deactivate
        with service_errors():
            user = service(user_id=user.pk, reason=reason, actor=actor_for("user_deactivate"), source="cli")
        state = "active" if user.is_active else "deactivated"
        self.stdout.write(self.style.SUCCESS(f"{username}: {'already ' if before == user.is_active else ''}{state}"))

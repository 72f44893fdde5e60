"""``manage.py user_roles USERNAME [--set a,b | --add a | --remove a]``: show or change a user's roles (audited)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from opsportal.accounts.management.commands._users import actor_for, parse_roles, service_errors, user_by_name
from opsportal.accounts.roles import ROLES
from opsportal.accounts.services import user_roles_set


class Command(BaseCommand):
    help = f"Show or change a user's roles ({', '.join(ROLES)}). Example: user_roles alice --add auditor"

    def add_arguments(self, parser):
        parser.add_argument("username")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--set", dest="set_roles", help="exactly these roles (comma-separated; '' for none)")
        group.add_argument("--add", help="add these roles")
        group.add_argument("--remove", help="remove these roles")
        parser.add_argument("--reason", default="", help="recorded in the audit trail")

    def handle(self, *args, username, set_roles, add, remove, reason, **options):
        user = user_by_name(username)
        current = set(user.groups.values_list("name", flat=True))
        if set_roles is None and add is None and remove is None:
            self.stdout.write(f"{username}: {', '.join(sorted(current)) or 'no role'}")
            return
        if set_roles is not None:
            wanted = set(parse_roles(set_roles))
        elif add is not None:
            wanted = current | set(parse_roles(add))
        else:
            unknown = set(parse_roles(remove)) - set(ROLES)
            if unknown:
                raise CommandError(f"unknown role(s): {', '.join(sorted(unknown))}")
            wanted = current - set(parse_roles(remove))
        with service_errors():
            user_roles_set(user_id=user.pk, roles=wanted, reason=reason, actor=actor_for("user_roles"), source="cli")
        after = sorted(user.groups.values_list("name", flat=True))
        verb = "unchanged" if set(after) == current else "now"
        self.stdout.write(self.style.SUCCESS(f"{username}: {verb} {', '.join(after) or 'no role'}"))

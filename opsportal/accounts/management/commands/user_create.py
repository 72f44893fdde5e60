"""``manage.py user_create USERNAME [--roles a,b] [--superuser] [--no-staff] [--email E] [--password-stdin]``.

The password is never an argument (it would sit in the shell history and the process list):
``--password-stdin`` reads it from standard input (prompting without echo on a terminal);
without it the user has no usable password.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from opsportal.accounts.management.commands._users import actor_for, parse_roles, service_errors
from opsportal.accounts.roles import ROLES
from opsportal.accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user holding roles (audited). Example: user_create alice --roles operator --password-stdin"
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--roles", default="", help=f"comma-separated: {', '.join(ROLES)}")
        parser.add_argument("--superuser", action="store_true", help="grant superuser status (every right)")
        parser.add_argument("--no-staff", action="store_true", help="no admin access (e.g. support reading /ops/ only)")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    def handle(self, *args, username, roles, superuser, no_staff, email, password_stdin, **options):
        password = None
        if password_stdin:
            stream = options.get("stdin") or sys.stdin
            if stream.isatty():  # typed by a person: do not echo it
                password = getpass.getpass("Password: ")
            else:
                password = stream.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: standard input held no password")
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("password: " + " ".join(exc.messages)) from exc
        with service_errors():
            user = user_create(
                username=username, password=password, email=email, roles=parse_roles(roles),
                is_superuser=superuser, is_staff=False if no_staff else None,
                actor=actor_for("user_create"), source="cli",
            )
        roles_text = ", ".join(sorted(g.name for g in user.groups.all())) or "no role"
        flags = [f for f, on in (("superuser", user.is_superuser), ("staff", user.is_staff)) if on]
        self.stdout.write(self.style.SUCCESS(
            f"created user {user.get_username()} ({roles_text}{'; ' + ', '.join(flags) if flags else ''})"
            + ("" if password else "; no usable password: set one with `manage.py changepassword` or the admin")
        ))

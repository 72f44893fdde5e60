"""``manage.py issue_token --service NAME --scopes a,b [--issued-by USERNAME]``: the token alone on the last line.

Run from the server's shell, the command acts with the server's own rights (system actor
``cli:issue_token``) and may grant any scope. ``--issued-by`` issues on a person's behalf:
the token may then carry only scopes that person could use itself, exactly as in the admin;
a refused grant is an error and an audit entry (``token.issue_refused``).
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from opsportal.accounts.grants import grantable_scopes
from opsportal.accounts.models import KNOWN_SCOPES
from opsportal.accounts.services import TokenError, token_issue


class Command(BaseCommand):
    help = "Issue an integration token; the token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="catalog service name (created when absent)")
        parser.add_argument("--scopes", required=True, help=f"comma-separated, e.g. alerts:write,read; known: {', '.join(KNOWN_SCOPES)}")
        parser.add_argument("--name", default="", help="a label for the token")
        parser.add_argument("--expires-days", type=int, default=None, help="expire after N days")
        parser.add_argument("--issued-by", default=None, metavar="USERNAME",
                            help="issue as this person: only scopes its roles could use are allowed")

    def handle(self, *args, service, scopes, name, expires_days, issued_by, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days is not None else None
        actor = Actor.for_system("cli:issue_token")
        if issued_by is not None:
            user = get_user_model().objects.filter(username=issued_by).first()
            if user is None or not user.is_active:
                raise CommandError(f"--issued-by: no active user named {issued_by!r}")
            actor = Actor(user=user)
            allowed = grantable_scopes(actor)
            self.stdout.write(f"{issued_by} may grant: {', '.join(sorted(allowed)) or 'nothing (may not issue tokens)'}")
        try:
            token, raw = token_issue(
                service_name=service.strip(),
                scopes=scope_list,
                actor=actor,
                name=name,
                expires_at=expires_at,
                source="cli",
            )
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:  # e.g. a service name that is not a slug
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"Issued token {token.prefix} for service {token.service.name} with scopes {','.join(token.scopes)}"
            + (f", expiring {expires_at:%Y-%m-%d}" if expires_at else "")
            + ". Store it now; it cannot be shown again."
        )
        self.stdout.write(raw)

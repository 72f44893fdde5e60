from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from opsportal.accounts.services import TokenError, token_issue


class Command(BaseCommand):
    help = "Issue an integration token; the token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="catalog service name (created when absent)")
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. alerts:write,read")
        parser.add_argument("--name", default="", help="a label for the token")
        parser.add_argument("--expires-days", type=int, default=None, help="expire after N days")

    def handle(self, *args, service, scopes, name, expires_days, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days is not None else None
        try:
            token, raw = token_issue(
                service_name=service.strip(),
                scopes=scope_list,
                actor=Actor.for_system("cli:issue_token"),
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

"""``manage.py webhooks_retry --since 1h [--source SLUG] [--class CLASS] [--group SIG] [--dry-run]``: replay the DLQ from the shell.

The same service as the admin, /ops/ and the API (source "cli"); acts as the
system actor ``cli:webhooks_retry``. Prints one line per item it retried (or
would retry) and a summary.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.actors import Actor
from opsportal.common.timebounds import FORMS_HELP, parse_since
from reliability.webhooks.models import WebhookFailure, WebhookSource
from reliability.webhooks.selectors.dlq import DlqFilterError
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_retry


class Command(BaseCommand):
    help = (
        "Retry dead-letter (DLQ) webhook deliveries that entered the queue since a time: one attempt each, now. "
        "Example: webhooks_retry --since 1h --source stripe --dry-run"
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help=f"entered the DLQ since: {FORMS_HELP}")
        parser.add_argument("--source", help="only this source's items (its slug; 'portal' for outbound events)")
        parser.add_argument("--destination", help="only items for this destination (id or name)")
        parser.add_argument("--event-type", help="only this event type (exact, or a prefix ending in *: charge.*)")
        parser.add_argument("--class", dest="failure_class",
                            help="only items of this failure class (destination_down, rate_limited, rejected, gone, "
                                 "server_error, signature_rejected, breaker_open, refused; comma-separate several)")
        parser.add_argument("--group", help="only the items of this DLQ group (issue) signature; enough on its own")
        parser.add_argument("--id", dest="ids", action="append", default=[], metavar="ID",
                            help="retry this DLQ item (repeat, or comma-separate, for several)")
        parser.add_argument("--reason", default="", help="recorded in the audit trail")
        parser.add_argument("--dry-run", action="store_true", help="list what would be retried; change nothing")

    def handle(self, *args, **options):
        ids = self._ids(options["ids"])
        if options["since"] is None and not ids and not options["group"]:
            raise CommandError("give --since (e.g. --since 1h), --group or --id: refusing to retry the whole queue implicitly")
        since = None
        if options["since"] is not None:
            try:
                since = parse_since(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since: {exc}") from exc
        if options["source"] and options["source"] != "portal" and not WebhookSource.objects.filter(slug=options["source"]).exists():
            raise CommandError(f"--source: no webhook source with slug {options['source']!r}")
        filters = {"source": options["source"], "destination": options["destination"], "event_type": options["event_type"],
                   "failure_class": options["failure_class"], "group": options["group"]}
        try:
            result = dlq_retry(
                failure_ids=ids or None, filters=filters, since=since, reason=options["reason"], dry_run=options["dry_run"],
                actor=Actor.for_system("cli:webhooks_retry"), source="cli",
            )
        except DlqFilterError as exc:
            flag = {"failure_class": "class"}.get(exc.field, exc.field.replace("_", "-"))
            raise CommandError(f"--{flag}: {exc.message}") from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except DlqItemNotOpen as exc:
            raise CommandError(str(exc)) from exc

        verb = "would retry" if result.dry_run else "retried"
        items = WebhookFailure.objects.filter(pk__in=result.ids).select_related("destination", "delivery__event").defer(
            "payload", "delivery__event__body").order_by("id")
        for item in items.iterator(chunk_size=1000):
            self.stdout.write(
                f"{verb} #{item.pk} {item.provider} → {item.destination or '(deleted destination)'} "
                f"{item.event_type or '-'} event {item.delivery.event.provider_event_id} (retries before: "
                f"{item.retry_count - (0 if result.dry_run else 1)})"
            )
        window = f" since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
        self.stdout.write(self.style.SUCCESS(f"{verb} {result.count} DLQ item(s){window}{' (dry run: nothing changed)' if result.dry_run else ''}"))
        if result.skipped:
            self.stdout.write(self.style.WARNING(f"skipped {len(result.skipped)} not open (or taken by another retry): "
                                                 + ", ".join(f"#{pk}" for pk in result.skipped)))

    def _ids(self, raw: list[str]) -> list[int]:
        ids = []
        for chunk in raw:
            for part in chunk.split(","):
                part = part.strip()
                if not part:
                    continue
                if not (part.isascii() and part.isdigit()) or int(part) <= 0 or len(part) > 18:
                    raise CommandError(f"--id: {part!r} is not a DLQ item id")
                ids.append(int(part))
        return ids

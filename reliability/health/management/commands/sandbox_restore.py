"""manage.py sandbox_restore [--dump FILE]: a restore drill (docs/operations.md "Restore drills")."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from reliability.health.restore.drill import RestoreError, report_lines, sandbox_restore


class Command(BaseCommand):
    help = ("Restore a dump (a fresh pg_dump, or --dump FILE in custom format) into a scratch database, "
            "migrate, check (audit chain, webhooks delivered or in the DLQ, alerts in incidents, counts), "
            "sanitise, report, drop it. Exit non-zero naming the reason on failure.")

    def add_arguments(self, parser):
        parser.add_argument("--dump", default=None, help="a pg_dump --format=custom file to restore instead")
        parser.add_argument("--grace-seconds", type=float, default=None,
                            help="a delivery overdue by more than this is lost (default RESTORE_DRILL_GRACE_SECONDS)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the full result as JSON")
        parser.add_argument("--record", action="store_true", help="also record it as a restore drill (outbox event)")

    def handle(self, *args, dump=None, grace_seconds=None, as_json=False, record=False, **options):
        try:
            result = sandbox_restore(dump=dump, grace_seconds=grace_seconds)
        except RestoreError as exc:
            raise CommandError(f"sandbox restore could not run: {exc}") from exc
        if record:
            from reliability.health.restore.services import restore_drill_record

            restore_drill_record(result)
        for line in report_lines(result):
            self.stdout.write(line)
        if as_json:
            self.stdout.write(_dumps(result.as_dict()))
        if not result.ok:
            raise CommandError("sandbox restore failed: " + "; ".join(result.failures))


def _dumps(data: dict) -> str:
    return json.dumps(data, default=str, indent=2)

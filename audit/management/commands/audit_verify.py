import structlog
from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain; exit non-zero naming the first broken entry. "
        "Prints the head hash: record it elsewhere and pass it back with --anchor later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            default=None,
            help="a head hash printed by an earlier run; fails if it is no longer in the chain",
        )

    def handle(self, *args, anchor=None, **options):
        anchor = anchor.strip().lower() if anchor else None
        report = audit_chain_verify(anchor=anchor)
        if report.broken is not None:
            where = f"entry #{report.broken.entry_id}" if report.broken.entry_id is not None else "its end"
            log.error("audit.chain_broken", entry_id=report.broken.entry_id, problem=report.broken.problem)
            raise CommandError(
                f"audit chain broken at {where}: {report.broken.problem} "
                f"({report.checked} entries verified before it)"
            )
        # Logged too, so shipped logs anchor the head outside this database.
        log.info("audit.chain_verified", entries=report.checked, head=report.head_hash)
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} entries verified"))
        self.stdout.write(f"head {report.head_hash}")

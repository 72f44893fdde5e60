"""manage.py export_runbooks DIR: every runbook's current version as DIR/<slug>.md (import's format)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from runbooks.files import export_directory


class Command(BaseCommand):
    help = "Write every runbook to DIR/<slug>.md with YAML front matter."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)

    def handle(self, *args, directory: Path, **options):
        written = export_directory(directory)
        for path in written:
            self.stdout.write(str(path))
        self.stdout.write(f"{len(written)} runbook(s) written to {directory}")

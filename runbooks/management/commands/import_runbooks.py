"""manage.py import_runbooks DIR: markdown runbooks with YAML front matter, idempotent and versioned."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.actors import Actor
from runbooks.files import RunbookFileError, import_directory


class Command(BaseCommand):
    help = "Import runbooks from DIR/*.md (changed files add a version; unchanged files change nothing)."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)

    def handle(self, *args, directory: Path, **options):
        try:
            report = import_directory(directory, actor=Actor.for_system("cli:import_runbooks"), source="cli")
        except RunbookFileError as exc:
            raise CommandError(f"nothing imported:\n{exc}") from exc
        for line in report.warnings:
            self.stderr.write(f"warning: {line}")
        for label, slugs in (("created", report.created), ("updated", report.updated), ("unchanged", report.unchanged)):
            for slug in slugs:
                self.stdout.write(f"{label}: {slug}")
        self.stdout.write(f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged")

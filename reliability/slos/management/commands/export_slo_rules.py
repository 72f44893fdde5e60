"""``manage.py export_slo_rules [--out DIR]``: Prometheus rules for SLOs with a Prometheus SLI."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reliability.slos.models import SLO
from reliability.slos.rules import PLACEHOLDER, rules_yaml

FILENAME = "opsportal-slos.rules.yml"


class Command(BaseCommand):
    help = ("Write Prometheus recording and alerting rules (Sloth-compatible names) for every SLO whose SLI is read "
            f"from Prometheus. Without --out the YAML goes to stdout; with it, to DIR/{FILENAME}.")

    def add_arguments(self, parser):
        parser.add_argument("--out", metavar="DIR", help="directory to write the rules file into (created if missing)")
        parser.add_argument("--slo", action="append", default=[], metavar="SLUG", help="only these SLOs (repeatable)")

    def handle(self, *args, **options):
        qs = (SLO.objects.filter(sli_source=SLO.Source.PROMETHEUS).select_related("service", "policy").order_by("slug"))
        if options["slo"]:
            qs = qs.filter(slug__in=options["slo"])
        slos = list(qs)
        for slo in slos:
            for query in (slo.prometheus_good_query, slo.prometheus_total_query):
                if not PLACEHOLDER.search(query):
                    raise CommandError(f"SLO {slo.slug}: the query {query[:80]!r} has no {{{{.window}}}} placeholder")
        text = rules_yaml(slos)
        if not options["out"]:
            self.stdout.write(text)
            return
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        path = out / FILENAME
        path.write_text(text)
        self.stderr.write(f"export_slo_rules: {len(slos)} SLO(s) → {path}")

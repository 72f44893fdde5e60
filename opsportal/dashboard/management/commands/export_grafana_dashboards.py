"""manage.py export_grafana_dashboards [--out DIR]: write the Grafana dashboard JSON files.

Default DIR is ``deploy/grafana/dashboards/`` (provisioned by
``deploy/grafana/provisioning/dashboards/opsportal.yml``). One file per
dashboard, ``<uid>.json``; the output is deterministic (sorted keys), so the
committed files change only when the dashboards do. Nothing else in DIR is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsportal.dashboard.grafana import build_all


def render(dashboard: dict) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Write the portal's Grafana dashboards (SLO overview; breakers, DLQ, webhooks, incidents, health) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "deploy" / "grafana" / "dashboards"),
                            help="directory to write <uid>.json files into (created if missing)")

    def handle(self, *args, out: str, **options):
        target = Path(out)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create {target}: {exc}") from exc
        for uid, dashboard in build_all().items():
            path = target / f"{uid}.json"
            try:
                path.write_text(render(dashboard), encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc}") from exc
            panels = sum(1 for p in dashboard["panels"] if p["type"] != "row")
            self.stdout.write(f"{path}  ({dashboard['title']}, {panels} panels)")

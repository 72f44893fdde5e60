"""``manage.py chaos_run SCENARIO [key=value …]``: run one scenario now, print its verdict (``make chaos``).

The drill is created, approved and scheduled through the services by two system actors (the
CLI stands for the two-person rule on a developer's machine: it refuses outside development
unless ``--staging-ok``), its slot claimed and run in this process. The last line is
``verdict: passed|failed|aborted|skipped …``; the exit status is 0 only for passed.
"""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.actors import Actor
from chaos import services
from chaos.engine.slots import start_due_slot
from chaos.models import ChaosRun


def _value(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Command(BaseCommand):
    help = "Run a chaos scenario now against this portal and print the verdict."

    def add_arguments(self, parser):
        parser.add_argument("scenario")
        parser.add_argument("params", nargs="*", help="key=value parameters (values are JSON when they parse)")
        parser.add_argument("--target", action="append", default=[], help="fault target (repeatable)")
        parser.add_argument("--duration", type=int, default=5)
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--staging-ok", action="store_true", help="allow outside OPSPORTAL_ENV=development")

    def handle(self, *args, scenario: str, params: list[str], target: list[str], duration: int, dry_run: bool,
               staging_ok: bool, **options):
        if settings.OPSPORTAL_ENV != "development" and not staging_ok:
            raise CommandError("chaos_run self-approves: development only (or --staging-ok)")
        parameters = {}
        for item in params:
            if "=" not in item:
                raise CommandError(f"parameter {item!r} is not key=value")
            key, raw = item.split("=", 1)
            parameters[key] = _value(raw)
        author, second = Actor.for_system("cli:chaos_run"), Actor.for_system("cli:chaos_run-approver")
        try:
            drill = services.drill_create(scenario=scenario, name=f"make chaos {scenario}", parameters=parameters,
                                          targets=target or _default_targets(scenario), duration_seconds=duration,
                                          schedule={"at": timezone.now().replace(microsecond=0).isoformat()},
                                          dry_run=dry_run, actor=author, source="cli")
            services.drill_submit(drill_id=drill.pk, actor=author, source="cli")
            services.drill_approve(drill_id=drill.pk, actor=second, source="cli", allow_system=True)
            services.drill_schedule(drill_id=drill.pk, actor=author, source="cli")
        except Exception as exc:  # a refusal or invalid input: the verdict line says why
            self.stdout.write(f"verdict: aborted ({type(exc).__name__}: {exc})")
            sys.exit(1)
        result = start_due_slot(drill.pk, source="cli")
        run = ChaosRun.objects.filter(drill=drill).first()
        if run is None:
            self.stdout.write(f"verdict: aborted ({result.reason})")
            sys.exit(1)
        for inv in run.invariants:
            self.stdout.write(f"  {'✓' if inv.get('passed') else '✗'} {inv.get('name')} {inv.get('detail') or ''}".rstrip())
        verdict = run.verdict or "aborted"
        self.stdout.write(f"verdict: {verdict} (run #{run.pk}, score {run.score}, {run.reason or 'ok'})")
        sys.exit(0 if verdict == ChaosRun.Verdict.PASSED else 1)


def _default_targets(scenario: str) -> list[str]:
    from reliability.webhooks.models import WebhookDestination, WebhookSource

    if scenario in ("duplicate-storm", "corrupt-payloads", "burst-load"):
        return [f"webhook-source:{s}" for s in WebhookSource.objects.values_list("slug", flat=True)[:1]]
    if scenario in ("dependency-failure", "dependency-latency"):
        return [d.breaker_name for d in WebhookDestination.objects.all()[:1]]
    return {"db-latency": ["db:default"], "redis-hang": ["redis:app"], "worker-crash": ["worker:celery"],
            "restore-drill": ["sandbox"]}.get(scenario, [])


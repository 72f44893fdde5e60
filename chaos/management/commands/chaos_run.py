"""``manage.py chaos_run SCENARIO [key=value …]``: run one scenario now, print its verdict (``make chaos``).

The drill is created, approved and scheduled through the services by two system actors (the
CLI stands for the two-person rule on a developer's machine: it refuses outside development
unless ``--staging-ok``), its slot claimed and run in this process. The last line is
``verdict: passed|failed|aborted|skipped …``; the exit status is 0 only for passed.
"""

from __future__ import annotations

import json
import os
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
        parser.add_argument("--no-incident-stop", action="store_true",
                            help="do not stop on open P0/P1 incidents (the demo data keeps some open on purpose)")
        parser.add_argument("--embedded", action="store_true",
                            help="run a Celery worker and beat in this process (the embedded portal: make chaos)")

    def handle(self, *args, scenario: str, params: list[str], target: list[str], duration: int, dry_run: bool,
               staging_ok: bool, embedded: bool = False, no_incident_stop: bool = False, **options):
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
                                          dry_run=dry_run, actor=author, source="cli",
                                          stop_conditions={"incidents": False} if no_incident_stop else {})
            services.drill_submit(drill_id=drill.pk, actor=author, source="cli")
            services.drill_approve(drill_id=drill.pk, actor=second, source="cli", allow_system=True)
            services.drill_schedule(drill_id=drill.pk, actor=author, source="cli")
        except Exception as exc:  # a refusal or invalid input: the verdict line says why
            self.stdout.write(f"verdict: aborted ({type(exc).__name__}: {exc})")
            sys.exit(1)
        stop = _embedded_portal() if embedded else (lambda: None)
        try:
            result = start_due_slot(drill.pk, source="cli")
        finally:
            stop()
        run = ChaosRun.objects.filter(drill=drill).first()
        if run is None:
            self.stdout.write(f"verdict: aborted ({result.reason})")
            sys.exit(1)
        for inv in run.invariants:
            self.stdout.write(f"  {'✓' if inv.get('passed') else '✗'} {inv.get('name')} {inv.get('detail') or ''}".rstrip())
        verdict = run.verdict or "aborted"
        self.stdout.write(f"verdict: {verdict} (run #{run.pk}, score {run.score}, {run.reason or 'ok'})")
        sys.exit(0 if verdict == ChaosRun.Verdict.PASSED else 1)


def _embedded_portal():
    """A threads-pool worker and beat in this process, as ``manage.py serve`` runs them; returns stop()."""
    import threading

    from celery.beat import EmbeddedService
    from celery.worker import state as worker_state

    from opsportal.celery import app
    from opsportal.serve import (
        ServeError,
        _configure_celery_for_embedding,
        _embedded_worker_class,
        _start_http,
    )

    _configure_celery_for_embedding(app)
    server = None
    try:  # the demo destination delivers to this portal's own sink (/ops/_sink/demo/)
        host, port = os.environ.get("OPSPORTAL_HOST", "127.0.0.1"), int(os.environ.get("OPSPORTAL_PORT", "8000"))
        server, _ = _start_http(host, port, "WARNING")
    except ServeError:
        pass  # a portal already serves there (make run): it receives the deliveries
    beat = EmbeddedService(app, thread=True, max_interval=1.0, scheduler_cls="django_celery_beat.schedulers:DatabaseScheduler")
    beat.start()
    worker = _embedded_worker_class(app)(app=app, hostname="chaos-run@localhost", pool_cls="threads", concurrency=3,
                                         loglevel="WARNING", quiet=True, redirect_stdouts=False, without_heartbeat=True,
                                         without_mingle=True, without_gossip=True)
    thread = threading.Thread(target=worker.start, name="chaos-run-worker", daemon=True)
    thread.start()

    def stop():
        if server is not None:
            server.should_exit = True
        beat.service.stop()
        worker_state.should_stop = 0
        thread.join(15)
        beat.join(15)

    return stop


def _default_targets(scenario: str) -> list[str]:
    from reliability.webhooks.models import WebhookDestination, WebhookSource

    if scenario in ("duplicate-storm", "corrupt-payloads", "burst-load"):
        return [f"webhook-source:{s}" for s in WebhookSource.objects.values_list("slug", flat=True)[:1]]
    if scenario in ("dependency-failure", "dependency-latency"):
        return [d.breaker_name for d in WebhookDestination.objects.all()[:1]]
    return {"db-latency": ["db:default"], "redis-hang": ["redis:app"], "worker-crash": ["worker:celery"],
            "restore-drill": ["sandbox"]}.get(scenario, [])


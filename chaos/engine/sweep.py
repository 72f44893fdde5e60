"""The beat sweep: expired faults removed, runs whose runner died aborted, run-time refusals."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.actors import Actor
from chaos import guardrails
from chaos.models import ChaosRun
from chaos.selectors import kill_switch_current
from chaos.services import InvalidTransition, faults_expire, run_abort, run_halt
from reliability import faults

SWEEPER = Actor.for_system("chaos:sweep")


def sweep(now=None) -> dict:
    now = now or timezone.now()
    expired_shared = faults.faults_sweep()
    expired = faults_expire(actor=SWEEPER, source="beat", now=now)
    stopped = []
    stale_before = now - timedelta(seconds=settings.CHAOS_RUN_STALE_SECONDS)
    env = guardrails.environment_refusal()
    switch = kill_switch_current()
    for run in ChaosRun.objects.filter(state__in=ChaosRun.ACTIVE_STATES):
        try:
            if switch is not None:
                run_halt(run_id=run.pk, reason=f"kill switch: {switch.reason or 'engaged'}", actor=SWEEPER, source="beat")
            elif env is not None:
                run_abort(run_id=run.pk, reason=env.message, actor=SWEEPER, source="beat")
            elif run.heartbeat_at is not None and run.heartbeat_at < stale_before:
                run_abort(run_id=run.pk, reason=f"the runner ({run.runner}) stopped answering for "
                          f"{settings.CHAOS_RUN_STALE_SECONDS} s", actor=SWEEPER, source="beat")
            else:
                continue
            stopped.append(run.pk)
        except InvalidTransition:
            continue
    return {"faults_expired": expired, "shared_expired": expired_shared, "runs_stopped": stopped}

"""Run one claimed slot: steady state, faults, guarded loop, removal, settle, verdict.

The loop wakes every ``tick`` (≤ 0.5 s): it reads the run's state (an abort, halt or the kill
switch from any process shows here), lets the scenario send its traffic, and every
``CHAOS_GUARD_INTERVAL_SECONDS`` re-checks the guardrails, stamps the heartbeat and journals an
observation. A violated guard aborts through ``run_abort`` (which removes every fault at once),
so a stop condition ends the drill within one guard interval. Faults carry TTL = duration +
``CHAOS_FAULT_TTL_MARGIN_SECONDS``: if this process dies, they end on their own and the sweep
marks them removed.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.actors import Actor
from chaos import guardrails
from chaos.engine.hints import incidents_hint
from chaos.engine.invariants import audit_chain_intact
from chaos.engine.journal import heartbeat, journal_append
from chaos.models import ChaosJournalEntry, ChaosRun
from chaos.scenarios import RunContext, scenario_for
from chaos.seams import db_exempt
from chaos.services import InvalidTransition, fault_record, run_abort, run_faults_remove, run_finish

log = logging.getLogger(__name__)
Kind = ChaosJournalEntry.Kind
ENGINE = Actor.for_system("chaos:engine")
SOURCE = "chaos"


def _build_context(run: ChaosRun, stop_flag: dict) -> RunContext:
    drill = run.drill
    started = run.started_at or timezone.now()
    ends = started + timedelta(seconds=drill.duration_seconds)
    ttl = drill.duration_seconds + settings.CHAOS_FAULT_TTL_MARGIN_SECONDS

    def journal(kind, message, data=None):
        journal_append(run.pk, kind, message, data)

    def set_fault(kind, target, **spec):
        remaining = max(1.0, (started + timedelta(seconds=ttl) - timezone.now()).total_seconds())
        fault_record(run_id=run.pk, kind=kind, target=target, spec=spec, ttl_seconds=remaining, actor=ENGINE, source=SOURCE)
        journal(Kind.FAULT_APPLIED, f"{kind} fault on {target}", {"kind": kind, "target": target, **spec,
                                                                  "ttl_seconds": round(remaining)})

    ctx = RunContext(run_id=run.pk, drill_id=drill.pk, parameters=dict(drill.parameters or {}), targets=list(drill.targets or []),
                     dry_run=run.dry_run, blast_radius=drill.blast_radius, started_at=started, ends_at=ends,
                     fault_expires_at=started + timedelta(seconds=ttl), journal=journal, set_fault=set_fault,
                     stopping=lambda: bool(stop_flag.get("stop")))
    ctx.scratch["steady_state"] = dict(drill.steady_state or {})
    return ctx


def _hint_incidents(ctx: RunContext) -> None:
    """Name the fault on every incident the drill caused (once each); journal each new hint."""
    try:
        for number, hint in incidents_hint(ctx, actor=ENGINE, source=SOURCE):
            journal_append(ctx.run_id, Kind.OBSERVATION, f"incident #{number}: {hint}"[:500],
                           {"incident": number, "hint": hint})
    except Exception:  # a hint is worth less than the drill's own guard loop
        log.exception("chaos run %s: could not attach root-cause hints", ctx.run_id)


def _abort(run_id: int, reason: str) -> None:
    try:
        run_abort(run_id=run_id, reason=reason, actor=ENGINE, source=SOURCE)
    except InvalidTransition:
        pass  # stopped already (halt or kill switch won)


def _guarded_loop(run: ChaosRun, ctx: RunContext, scenario, stop_flag: dict, sleep) -> None:
    interval = float(settings.CHAOS_GUARD_INTERVAL_SECONDS)
    tick = min(0.5, interval)
    next_guard = 0.0
    while timezone.now() < ctx.ends_at:
        state = heartbeat(run.pk)
        if state != ChaosRun.State.RUNNING:
            stop_flag["stop"] = True
            journal_append(run.pk, Kind.NOTE, f"run {state}: stopping", {"state": state})
            return
        if time.monotonic() >= next_guard:
            _hint_incidents(ctx)
            targets = set(ctx.targets)
            report = guardrails.check(run.drill, stage=guardrails.DURING, run=run, fault_targets=targets)
            if not report.ok:
                stop_flag["stop"] = True
                journal_append(run.pk, Kind.GUARD, f"stop condition: {report.summary()}", report.as_dict())
                _abort(run.pk, f"stop condition: {report.summary()}")
                return
            journal_append(run.pk, Kind.STEADY_DURING, "guards hold", {**scenario.observe(ctx), "notes": report.notes})
            next_guard = time.monotonic() + interval
        scenario.tick(ctx)
        sleep(tick)


def _settle(ctx: RunContext, scenario, sleep) -> list:
    """Invariants once the system had time to recover (polled until they hold or settle time runs out)."""
    seconds = int(ctx.parameters.get("settle_seconds", settings.CHAOS_SETTLE_SECONDS))
    deadline = time.monotonic() + seconds
    while True:
        heartbeat(ctx.run_id)  # still alive while waiting for recovery (the sweep aborts silent runs)
        _hint_incidents(ctx)  # an incident opened late (alert for-duration) still gets its hint
        found = scenario.invariants(ctx)
        if all(i.passed for i in found) or time.monotonic() >= deadline:
            return found
        sleep(0.5)


def execute_run(run_id: int, *, sleep=time.sleep) -> ChaosRun:
    """Drive a running run to its verdict. Safe to call twice: a run that is not running is left alone."""
    run = ChaosRun.objects.select_related("drill", "drill__scenario", "drill__service").get(pk=run_id)
    if run.state != ChaosRun.State.RUNNING:
        return run
    stop_flag: dict = {}
    scenario = scenario_for(run.drill.scenario.slug)
    ctx = _build_context(run, stop_flag)
    with db_exempt():  # the drill's own queries never feel the db-latency fault
        journal_append(run.pk, Kind.STEADY_BEFORE, "steady state before", scenario.steady_state(ctx))
        try:
            if run.dry_run:
                journal_append(run.pk, Kind.NOTE, "dry run: every check and observation, no fault applied")
            else:
                scenario.apply(ctx)
            _guarded_loop(run, ctx, scenario, stop_flag, sleep)
        except InvalidTransition:
            stop_flag["stop"] = True  # stopped between two steps: nothing more is applied
        except Exception as exc:  # a broken scenario must not leave faults behind
            log.exception("chaos run %s failed", run.pk)
            stop_flag["stop"] = True
            journal_append(run.pk, Kind.NOTE, f"scenario error: {type(exc).__name__}: {exc}"[:500])
            _abort(run.pk, f"scenario error: {type(exc).__name__}: {exc}"[:500])
        finally:
            stop_flag["stop"] = True
            try:
                scenario.remove(ctx)
            finally:
                removed = run_faults_remove(run_id=run.pk, reason="drill over", actor=ENGINE, source=SOURCE)
                if removed:
                    journal_append(run.pk, Kind.FAULT_REMOVED, f"removed {len(removed)} fault(s)", {"faults": removed})
        invariants = _settle(ctx, scenario, sleep)
        invariants.append(audit_chain_intact())
        journal_append(run.pk, Kind.STEADY_AFTER, "steady state after", scenario.steady_state(ctx))
        for inv in invariants:
            journal_append(run.pk, Kind.INVARIANT, f"{'✓' if inv.passed else '✗'} {inv.name}", inv.as_dict())
        run = run_finish(run_id=run.pk, invariants=[i.as_dict() for i in invariants], actor=ENGINE, source=SOURCE)
        journal_append(run.pk, Kind.VERDICT, f"verdict {run.verdict} (score {run.score})",
                       {"verdict": run.verdict, "score": run.score, "state": run.state})
    return run

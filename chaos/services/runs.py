"""Runs: claiming a slot, finishing, aborting, halting; the faults a run applied.

``run_start`` decides once per (drill, slot): the unique constraint on ChaosRun is the arbiter,
not beat's bookkeeping, so a beat restart, a schedule edit or two racing workers never run a slot
twice. A slot that cannot run (late past its starting deadline, previous run still active under
the Forbid policy, a guardrail) is recorded as a skipped run with the reason.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from chaos import guardrails
from chaos.models import ChaosDrill, ChaosFault, ChaosRun
from chaos.names import Action, Event
from chaos.services._common import InvalidTransition, may_stop, require, run_payload
from opsportal.events.services import emit
from reliability import faults as fault_store

RunState, DrillState = ChaosRun.State, ChaosDrill.State
SEAM_KINDS = {"outbound", "db", "redis"}  # faults living in reliability.faults (shared through Redis)


@dataclass
class StartResult:
    run: ChaosRun | None
    started: bool
    reason: str = ""


def _runner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _skip_reason(drill: ChaosDrill, slot: datetime, now: datetime) -> str:
    from chaos.scenarios import SCENARIOS

    late = (now - slot).total_seconds()
    if late > drill.starting_deadline_seconds:
        return f"started {late:.0f} s after its slot, past the starting deadline of {drill.starting_deadline_seconds} s"
    active = drill.runs.filter(state__in=ChaosRun.ACTIVE_STATES).first()
    if active is not None:
        return f"run #{active.pk} of this drill is still active (concurrency policy Forbid)"
    report = guardrails.check(drill, stage=guardrails.START, at=now)
    if not report.ok:
        return f"refused before start: {report.summary()}"
    scenario = SCENARIOS.get(drill.scenario.slug)
    return scenario().skip_reason() if scenario else f"scenario {drill.scenario.slug} is not installed"


@transaction.atomic
def run_start(*, drill_id: int, slot: datetime, actor: Actor, source: str, now: datetime | None = None) -> StartResult:
    """Claim (drill, slot): a running run, a recorded skip, or nothing when the slot was claimed before."""
    now = now or timezone.now()
    drill = ChaosDrill.objects.select_for_update(of=("self",)).select_related("scenario", "service").get(pk=drill_id)
    existing = drill.runs.filter(slot=slot).first()
    if existing is not None:
        return StartResult(existing, False, "slot already claimed")
    if drill.state not in (DrillState.SCHEDULED, DrillState.RUNNING):
        return StartResult(None, False, f"drill is {drill.state}, not scheduled")
    reason = _skip_reason(drill, slot, now)
    run = ChaosRun(drill=drill, slot=slot, dry_run=drill.dry_run, runner=_runner_label())
    if reason:
        run.state, run.verdict, run.reason, run.ended_at = RunState.SKIPPED, ChaosRun.Verdict.SKIPPED, reason[:2000], now
    else:
        run.started_at = run.heartbeat_at = now
    try:
        with transaction.atomic():
            run.save(force_insert=True)
    except IntegrityError:  # a concurrent start won the slot
        return StartResult(ChaosRun.objects.filter(drill=drill, slot=slot).first(), False, "slot already claimed")
    before = drill.state
    if not reason:
        drill.state = DrillState.RUNNING
    elif drill.is_one_off and "Forbid" not in reason:
        drill.state = DrillState.SKIPPED
    if drill.state != before:
        drill.save(update_fields=["state", "updated_at"])
    action, event = (Action.RUN_SKIP, Event.RUN_SKIPPED) if reason else (Action.RUN_START, Event.RUN_STARTED)
    audit_record(actor=actor, action=action, target=run, reason=reason[:2000], source=source,
                 changes={"drill": drill.pk, "slot": slot.isoformat(), "state": [None, run.state], "dry_run": run.dry_run})
    emit(event, run, run_payload(run))
    return StartResult(run, not reason, reason)


def _drill_after_run(drill: ChaosDrill, run: ChaosRun) -> None:
    if drill.state != DrillState.RUNNING:
        return
    if run.state == RunState.HALTED:
        drill.state = DrillState.HALTED
    elif drill.is_one_off:
        drill.state = DrillState.COMPLETED if run.state == RunState.COMPLETED else DrillState.ABORTED
    else:
        drill.state = DrillState.SCHEDULED  # a cron drill keeps its beat entry
    drill.save(update_fields=["state", "updated_at"])


def _remove_faults(run: ChaosRun, reason: str, now: datetime) -> list[str]:
    removed = []
    for fault in ChaosFault.objects.select_for_update().filter(run=run, removed_at__isnull=True):
        if fault.kind in SEAM_KINDS:
            fault_store.fault_clear(fault.target)
        fault.removed_at, fault.removed_reason = now, reason[:200]
        fault.save(update_fields=["removed_at", "removed_reason"])
        removed.append(f"{fault.kind}:{fault.target}")
    return removed


def _stop(run_id: int, *, to: str, reason: str, actor: Actor, source: str, action: str, event: str) -> ChaosRun:
    require(may_stop(actor), "stopping a chaos run needs the chaos_operator role")
    run = ChaosRun.objects.select_for_update(of=("self",)).select_related("drill").get(pk=run_id)
    if not run.active:
        raise InvalidTransition(f"run #{run.pk} is {run.state}; only a running run can be stopped")
    now = timezone.now()
    before = run.state
    run.state, run.stop_requested, run.reason, run.ended_at = to, to, reason[:2000], now
    run.verdict = ChaosRun.Verdict.ABORTED
    run.save(update_fields=["state", "stop_requested", "reason", "ended_at", "verdict"])
    removed = _remove_faults(run, f"{to}: {reason}", now)
    drill = ChaosDrill.objects.select_for_update().get(pk=run.drill_id)
    _drill_after_run(drill, run)
    if to == RunState.HALTED and drill.periodic_task_id:  # a person halted it: no further slots until rescheduled
        from chaos.services.drills import _pause_beat

        _pause_beat(drill)
    audit_record(actor=actor, action=action, target=run, reason=reason[:2000], source=source,
                 changes={"state": [before, to], "faults_removed": removed})
    emit(event, run, run_payload(run, faults_removed=removed))
    return run


@transaction.atomic
def run_abort(*, run_id: int, reason: str, actor: Actor, source: str) -> ChaosRun:
    """A guardrail fired: stop the run now and remove every fault it applied."""
    return _stop(run_id, to=RunState.ABORTED, reason=reason, actor=actor, source=source,
                 action=Action.RUN_ABORT, event=Event.RUN_ABORTED)


@transaction.atomic
def run_halt(*, run_id: int, reason: str, actor: Actor, source: str) -> ChaosRun:
    """A person (or the kill switch) stops the run; the drill is halted until rescheduled."""
    return _stop(run_id, to=RunState.HALTED, reason=reason or "halted", actor=actor, source=source,
                 action=Action.RUN_HALT, event=Event.RUN_HALTED)


@transaction.atomic
def run_finish(*, run_id: int, invariants: list[dict], actor: Actor, source: str) -> ChaosRun:
    """Record the verdict and score from the invariants (also after an abort or halt: the findings stay)."""
    run = ChaosRun.objects.select_for_update(of=("self",)).select_related("drill").get(pk=run_id)
    now = timezone.now()
    removed = _remove_faults(run, "run finished", now)
    total = sum(int(i.get("weight", 1)) for i in invariants) or 1
    score = round(100.0 * sum(int(i.get("weight", 1)) for i in invariants if i.get("passed")) / total, 1)
    before = run.state
    run.invariants, run.score = invariants, score
    if run.active:
        run.state, run.ended_at = RunState.COMPLETED, now
        run.verdict = ChaosRun.Verdict.PASSED if all(i.get("passed") for i in invariants) else ChaosRun.Verdict.FAILED
    run.save(update_fields=["invariants", "score", "state", "ended_at", "verdict"])
    drill = ChaosDrill.objects.select_for_update().get(pk=run.drill_id)
    _drill_after_run(drill, run)
    audit_record(actor=actor, action=Action.RUN_COMPLETE, target=run, source=source,
                 changes={"state": [before, run.state], "verdict": run.verdict, "score": score, "faults_removed": removed})
    emit(Event.RUN_COMPLETED, run, run_payload(run))
    return run


def _check_spec(spec: dict) -> None:
    allowed = {"latency_ms", "error", "probability"}
    if set(spec) - allowed:
        raise ValueError(f"a seam fault takes only {sorted(allowed)}")
    error = spec.get("error")
    if error is not None and error not in fault_store.ERROR_KINDS and not (isinstance(error, int) and 400 <= error <= 599):
        raise ValueError(f"unknown fault error {error!r}")
    if not spec.get("latency_ms") and error is None:
        raise ValueError("a fault needs latency_ms or an error")


@transaction.atomic
def fault_record(*, run_id: int, kind: str, target: str, spec: dict, ttl_seconds: float, actor: Actor,
                 source: str) -> ChaosFault:
    """Record (and for seam kinds, set) one fault with its TTL; refused once the run stopped."""
    run = ChaosRun.objects.select_for_update(of=("self",)).get(pk=run_id)
    if not run.active:
        raise InvalidTransition(f"run #{run.pk} is {run.state}; no fault may be applied")
    now = timezone.now()
    expires = now + timedelta(seconds=ttl_seconds)
    fault = ChaosFault.objects.create(run=run, kind=kind, target=target[:200], spec=spec, applied_at=now, expires_at=expires)
    if kind in SEAM_KINDS:
        _check_spec(spec)
        # Set only once the row is committed: a fault in effect always has its record (and its TTL) on file.
        tag = f"chaos-run:{run.pk}"
        transaction.on_commit(lambda: fault_store.fault_set(target, expires_at=expires, tag=tag, **spec))
    audit_record(actor=actor, action=Action.FAULT_APPLY, target=run, source=source,
                 changes={"fault": {"kind": kind, "target": target, **spec, "expires_at": expires.isoformat()}, "chaos": True})
    emit(Event.FAULT_APPLIED, run, {"run": run.pk, "kind": kind, "target": target, "expires_at": expires.isoformat()})
    return fault


@transaction.atomic
def faults_expire(*, actor: Actor, source: str, now: datetime | None = None) -> list[int]:
    """Remove every fault past its TTL (the beat sweep): the guarantee when the drill worker died."""
    now = now or timezone.now()
    expired = list(ChaosFault.objects.select_for_update(skip_locked=True).filter(removed_at__isnull=True, expires_at__lte=now))
    for fault in expired:
        if fault.kind in SEAM_KINDS:
            fault_store.fault_clear(fault.target)
        fault.removed_at, fault.removed_reason = now, "TTL expired"
        fault.save(update_fields=["removed_at", "removed_reason"])
        audit_record(actor=actor, action=Action.FAULT_REMOVE, target=fault.run, source=source, reason="TTL expired",
                     changes={"fault": {"kind": fault.kind, "target": fault.target}, "chaos": True})
        emit(Event.FAULT_REMOVED, fault.run, {"run": fault.run_id, "kind": fault.kind, "target": fault.target, "why": "ttl"})
    return [f.pk for f in expired]


@transaction.atomic
def run_faults_remove(*, run_id: int, reason: str, actor: Actor, source: str) -> list[str]:
    """Remove every fault the run still has (the end of a drill); nothing to remove writes nothing."""
    run = ChaosRun.objects.select_for_update(of=("self",)).get(pk=run_id)
    removed = _remove_faults(run, reason, timezone.now())
    if removed:
        audit_record(actor=actor, action=Action.FAULT_REMOVE, target=run, reason=reason, source=source,
                     changes={"faults_removed": removed, "chaos": True})
        emit(Event.FAULT_REMOVED, run, {"run": run.pk, "faults": removed, "why": reason})
    return removed

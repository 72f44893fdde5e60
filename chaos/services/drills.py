"""Drill lifecycle: create, update, submit, approve, schedule, cancel.

draft → pending_approval → approved → scheduled → (runs) → completed/aborted/halted/skipped;
cancelled from anywhere but running. Editing an approved or scheduled drill sends it back to
pending_approval and pauses its beat entry: what runs is always what a second person approved.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask, PeriodicTasks

from audit.actors import Actor
from audit.services import audit_record, diff
from chaos import guardrails
from chaos.models import ChaosDrill, ChaosScenario
from chaos.names import TASK_START_SLOT, Action, Event
from chaos.selectors import parse_cron
from chaos.services._common import (
    ChaosPermissionDenied,
    ChaosRefused,
    InvalidTransition,
    drill_payload,
    may_author,
    require,
)
from opsportal.accounts.roles import CHAOS_OPERATOR, has_role
from opsportal.events.services import emit

State = ChaosDrill.State
EDITABLE = ("name", "parameters", "targets", "service", "duration_seconds", "blast_radius", "schedule",
            "starting_deadline_seconds", "stop_conditions", "steady_state", "dry_run")
APPROVED_STATES = (State.APPROVED, State.SCHEDULED)


def _snapshot(drill: ChaosDrill) -> dict:
    data = {f: getattr(drill, f) for f in EDITABLE if f != "service"}
    data["service"] = drill.service.name if drill.service_id else None
    data["scenario"] = drill.scenario.slug
    data["state"] = drill.state
    return json.loads(json.dumps(data, default=str))


def validate_schedule(schedule: dict) -> dict:
    if not schedule:
        return {}
    if not isinstance(schedule, dict):
        raise ValidationError({"schedule": ['{"at": ISO-8601} or {"cron": "m h dom mon dow", "timezone": …}']})
    if "at" in schedule:
        if set(schedule) - {"at"}:
            raise ValidationError({"schedule": ['a one-off schedule is {"at": ISO-8601} alone']})
        try:
            at = datetime.fromisoformat(str(schedule["at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError({"schedule": ["at: not an ISO-8601 datetime"]}) from None
        if at.tzinfo is None:
            raise ValidationError({"schedule": ["at: give a timezone offset (e.g. Z)"]})
        return {"at": at.isoformat()}
    if "cron" in schedule:
        if set(schedule) - {"cron", "timezone"}:
            raise ValidationError({"schedule": ["a cron schedule has only cron and timezone"]})
        try:
            parse_cron(str(schedule["cron"]))
            ZoneInfo(str(schedule.get("timezone") or "UTC"))
        except (ValueError, ZoneInfoNotFoundError, KeyError) as exc:
            raise ValidationError({"schedule": [f"cron: {exc}"]}) from None
        return {"cron": " ".join(str(schedule["cron"]).split()), "timezone": str(schedule.get("timezone") or "UTC")}
    raise ValidationError({"schedule": ['{"at": ISO-8601} or {"cron": "m h dom mon dow", "timezone": …}']})


def _validate(drill: ChaosDrill) -> None:
    errors: dict[str, list[str]] = {}
    if not drill.scenario.enabled:
        errors["scenario"] = [f"scenario {drill.scenario.slug} is disabled"]
    if not isinstance(drill.parameters, dict):
        errors["parameters"] = ["an object"]
    else:
        try:
            jsonschema.validate(drill.parameters, drill.scenario.parameters_schema or {"type": "object"})
        except jsonschema.ValidationError as exc:
            where = "/".join(map(str, exc.absolute_path))
            errors["parameters"] = [f"{where + ': ' if where else ''}{exc.message}"[:500]]
    if not isinstance(drill.targets, list) or not all(isinstance(t, str) and t for t in drill.targets):
        errors["targets"] = ["a list of target names"]
    elif len(drill.targets) > 20:
        errors["targets"] = ["at most 20 targets"]
    else:
        refused = guardrails.target_refusals(drill.targets)
        if refused:
            errors["targets"] = [f"not in CHAOS_TARGET_ALLOWLIST: {', '.join(refused)}"]
    maximum = settings.CHAOS_MAX_DURATION_SECONDS
    if not 1 <= int(drill.duration_seconds or 0) <= maximum:
        errors["duration_seconds"] = [f"between 1 and {maximum} (CHAOS_MAX_DURATION_SECONDS)"]
    if not 1 <= int(drill.blast_radius or 0) <= 100:
        errors["blast_radius"] = ["a percentage between 1 and 100"]
    if not isinstance(drill.stop_conditions, dict) or not isinstance(drill.steady_state, dict):
        errors["stop_conditions"] = ["stop_conditions and steady_state are objects"]
    if errors:
        raise ValidationError(errors)
    drill.schedule = validate_schedule(drill.schedule)
    drill.full_clean(exclude=["created_by", "approved_by", "periodic_task", "service"])


def _refuse_unless_allowed(drill: ChaosDrill, stage: str) -> None:
    report = guardrails.check(drill, stage=stage)
    if not report.ok:
        raise ChaosRefused(report.summary())


def _scenario_slugs() -> set[str]:
    from chaos.scenarios import SCENARIOS

    return set(SCENARIOS)


def _lock(drill_id: int) -> ChaosDrill:
    return ChaosDrill.objects.select_for_update(of=("self",)).select_related("scenario", "service").get(pk=drill_id)


@transaction.atomic
def drill_create(*, scenario: str, name: str, actor: Actor, source: str, parameters: dict | None = None,
                 targets: list[str] | None = None, duration_seconds: int = 60, schedule: dict | None = None,
                 service=None, blast_radius: int = 100, starting_deadline_seconds: int | None = None,
                 stop_conditions: dict | None = None, steady_state: dict | None = None, dry_run: bool = False) -> ChaosDrill:
    """A draft drill; refused in production, when chaos is disabled or the kill switch is engaged."""
    require(may_author(actor), "creating chaos drills needs the chaos_operator role (or a chaos:write token)")
    scenario_row = ChaosScenario.objects.filter(slug=scenario).first()
    if scenario_row is None and scenario in _scenario_slugs():  # catalog rows ensured on demand too
        from chaos.services.catalog import scenario_catalog_sync

        scenario_catalog_sync(actor=actor, source=source)
        scenario_row = ChaosScenario.objects.filter(slug=scenario).first()
    if scenario_row is None:
        raise ValidationError({"scenario": [f"unknown scenario {scenario!r}"]})
    drill = ChaosDrill(
        name=(name or scenario)[:200], scenario=scenario_row, parameters=parameters or {}, targets=targets or [],
        duration_seconds=duration_seconds, schedule=schedule or {}, service=service, blast_radius=blast_radius,
        starting_deadline_seconds=starting_deadline_seconds or settings.CHAOS_DEFAULT_STARTING_DEADLINE_SECONDS,
        stop_conditions=stop_conditions or {}, steady_state=steady_state or {}, dry_run=dry_run,
        created_by=actor.user, state=State.DRAFT,
    )
    _validate(drill)
    _refuse_unless_allowed(drill, guardrails.CREATE)
    drill.save(force_insert=True)
    audit_record(actor=actor, action=Action.DRILL_CREATE, target=drill, changes=diff({}, _snapshot(drill)), source=source)
    emit(Event.DRILL_CREATED, drill, drill_payload(drill))
    return drill


def _pause_beat(drill: ChaosDrill) -> None:
    if drill.periodic_task_id:
        PeriodicTask.objects.filter(pk=drill.periodic_task_id).update(enabled=False)
        PeriodicTasks.update_changed()


@transaction.atomic
def drill_update(*, drill_id: int, actor: Actor, source: str, **fields) -> ChaosDrill:
    """Edit a drill that is not running or finished; an approved one goes back to pending_approval."""
    require(may_author(actor), "editing chaos drills needs the chaos_operator role")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in unknown})
    drill = _lock(drill_id)
    if drill.state not in (State.DRAFT, State.PENDING_APPROVAL, *APPROVED_STATES):
        raise InvalidTransition(f"a {drill.state} drill cannot be edited")
    before = _snapshot(drill)
    for key, value in fields.items():
        setattr(drill, key, value)
    _validate(drill)
    changes = diff(before, _snapshot(drill))
    if not changes:
        return drill
    if drill.state in APPROVED_STATES:  # what runs must be what was approved
        drill.state, drill.approved_by, drill.approved_at = State.PENDING_APPROVAL, None, None
        _pause_beat(drill)
        changes = diff(before, _snapshot(drill))
    drill.save()
    audit_record(actor=actor, action=Action.DRILL_UPDATE, target=drill, changes=changes, source=source)
    emit(Event.DRILL_UPDATED, drill, drill_payload(drill, changes=list(changes)))
    return drill


def _transition(drill: ChaosDrill, to: str, *, actor: Actor, source: str, action: str, event: str, reason: str = "",
                **extra) -> ChaosDrill:
    before = drill.state
    drill.state = to
    drill.save()
    audit_record(actor=actor, action=action, target=drill, changes={"state": [before, to], **extra}, reason=reason, source=source)
    emit(event, drill, drill_payload(drill))
    return drill


@transaction.atomic
def drill_submit(*, drill_id: int, actor: Actor, source: str) -> ChaosDrill:
    """Ask for approval (a different chaos operator must approve)."""
    require(may_author(actor), "submitting chaos drills needs the chaos_operator role")
    drill = _lock(drill_id)
    if drill.state != State.DRAFT:
        raise InvalidTransition(f"only a draft can be submitted (this drill is {drill.state})")
    return _transition(drill, State.PENDING_APPROVAL, actor=actor, source=source, action=Action.DRILL_SUBMIT,
                       event=Event.DRILL_SUBMITTED)


@transaction.atomic
def drill_approve(*, drill_id: int, actor: Actor, source: str, allow_system: bool = False) -> ChaosDrill:
    """Approve another person's drill: a chaos operator or a superuser, never its creator.

    ``allow_system`` lets ``make chaos`` (``manage.py chaos_run``) approve as the CLI on a
    developer's machine; the audit entry names the system actor.
    """
    user = actor.user
    system_ok = allow_system and user is None and bool(actor.system) and actor.system.startswith("cli:")
    require(system_ok or (user is not None and has_role(user, CHAOS_OPERATOR)),
            "approving needs a person with the chaos_operator role")
    drill = _lock(drill_id)
    if user is not None and drill.created_by_id is not None and drill.created_by_id == user.pk:
        raise ChaosPermissionDenied("the creator of a drill cannot approve it: a second chaos operator must")
    if drill.state not in (State.PENDING_APPROVAL, State.DRAFT):
        raise InvalidTransition(f"a {drill.state} drill cannot be approved")
    _refuse_unless_allowed(drill, guardrails.APPROVE)
    drill.approved_by, drill.approved_at = user, timezone.now()
    return _transition(drill, State.APPROVED, actor=actor, source=source, action=Action.DRILL_APPROVE,
                       event=Event.DRILL_APPROVED, approved_by=[None, actor.label])



def _beat_entry(drill: ChaosDrill) -> PeriodicTask:
    schedule = drill.schedule
    name = f"chaos-drill-{drill.pk}"
    fields = {"task": TASK_START_SLOT, "args": json.dumps([drill.pk]), "enabled": True, "interval": None,
              "solar": None, "clocked": None, "crontab": None, "one_off": False, "queue": None}
    if "at" in schedule:
        at = datetime.fromisoformat(schedule["at"])
        fields["clocked"], _ = ClockedSchedule.objects.get_or_create(clocked_time=at)
        fields["one_off"] = True
    else:
        minute, hour, dom, month, dow = schedule["cron"].split()
        fields["crontab"], _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
            timezone=schedule.get("timezone", "UTC"))
    task = PeriodicTask.objects.filter(name=name).first() or PeriodicTask(name=name)
    for key, value in fields.items():
        setattr(task, key, value)
    task.description = f"chaos drill #{drill.pk} {drill.name}"[:200]
    task.save()
    PeriodicTasks.update_changed()
    return task


@transaction.atomic
def drill_schedule(*, drill_id: int, actor: Actor, source: str) -> ChaosDrill:
    """Put an approved drill on beat (ClockedSchedule one-off or CrontabSchedule)."""
    require(may_author(actor), "scheduling chaos drills needs the chaos_operator role")
    drill = _lock(drill_id)
    if drill.state not in (State.APPROVED, State.SCHEDULED):
        raise InvalidTransition(f"only an approved drill can be scheduled (this drill is {drill.state})")
    if not drill.schedule:
        raise ValidationError({"schedule": ["set a schedule first"]})
    _refuse_unless_allowed(drill, guardrails.APPROVE)
    drill.periodic_task = _beat_entry(drill)
    return _transition(drill, State.SCHEDULED, actor=actor, source=source, action=Action.DRILL_SCHEDULE,
                       event=Event.DRILL_SCHEDULED, schedule=[None, drill.schedule])


@transaction.atomic
def drill_cancel(*, drill_id: int, actor: Actor, source: str, reason: str = "") -> ChaosDrill:
    require(may_author(actor), "cancelling chaos drills needs the chaos_operator role")
    drill = _lock(drill_id)
    if drill.state in (State.RUNNING, State.CANCELLED):
        raise InvalidTransition(f"a {drill.state} drill cannot be cancelled" + (" (halt its run)" if drill.state == State.RUNNING else ""))
    _pause_beat(drill)
    return _transition(drill, State.CANCELLED, actor=actor, source=source, action=Action.DRILL_CANCEL,
                       event=Event.DRILL_CANCELLED, reason=reason)

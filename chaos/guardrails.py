"""Guardrails: the checks at creation, approval, before start and every few seconds of a run.

Reads only. ``check(drill, stage=…)`` returns the violations (each stops or refuses) and notes
(a stop condition that could not be evaluated here: "not available", never blocking). The
degradation and SLO readers belong to other capabilities and are imported lazily: until they land
an ImportError is reported as "not available" (# wired at integration).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from chaos.selectors import kill_switch_current

CREATE, APPROVE, START, DURING = "create", "approve", "start", "during"
DEFAULT_STOP_CONDITIONS = {"incidents": True, "degradation": True, "slo_fast_burn": True, "budget": True}


@dataclass
class Violation:
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass
class GuardReport:
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        return "; ".join(v.message for v in self.violations)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "violations": [v.as_dict() for v in self.violations], "notes": self.notes}


def environment_refusal() -> Violation | None:
    """Chaos never runs in production, nor where it is switched off (checked again at run time)."""
    if getattr(settings, "OPSPORTAL_ENV", "development") == "production":
        return Violation("production", "chaos drills are refused when OPSPORTAL_ENV=production")
    if not getattr(settings, "OPSPORTAL_CHAOS_ENABLED", False):
        return Violation("disabled", "chaos drills are disabled (OPSPORTAL_CHAOS_ENABLED is off)")
    return None


def target_refusals(targets: list[str]) -> list[str]:
    allow = list(getattr(settings, "CHAOS_TARGET_ALLOWLIST", []))
    return [t for t in targets if not any(fnmatch.fnmatchcase(str(t), p) for p in allow)]


def _parse_hhmm(value: str) -> time:
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def blackout_active(at: datetime) -> str | None:
    """The blackout window ``at`` falls into, described; None outside every window."""
    for window in getattr(settings, "CHAOS_BLACKOUT_WINDOWS", []) or []:
        try:
            if "from" in window:
                start, end = datetime.fromisoformat(window["from"]), datetime.fromisoformat(window["to"])
                if start <= at < end:
                    return f"blackout {window['from']} – {window['to']}"
            elif "daily" in window:
                local = at.astimezone(ZoneInfo(window.get("timezone", "UTC")))
                first, last = (_parse_hhmm(v) for v in window["daily"].split("-"))
                days = window.get("weekdays")
                inside = first <= local.time() < last if first <= last else (local.time() >= first or local.time() < last)
                if inside and (days is None or local.weekday() in days):
                    return f"daily blackout {window['daily']} {window.get('timezone', 'UTC')}"
        except (KeyError, ValueError, TypeError):
            continue  # a malformed window is refused at settings review, not here
    return None


def incident_haystack(incident) -> str:
    """What an incident says about its origin: group key, title and group labels."""
    return " ".join([incident.group_key, incident.title, str(incident.group_labels)])


def incident_names_run(incident, tag: str, fault_targets) -> bool:
    """Whether an incident names a run (its ``chaos-run:<id>`` tag) or one of its fault targets."""
    haystack = incident_haystack(incident)
    return tag in haystack or any(t and t in haystack for t in fault_targets)


def _caused_by(incident, run, fault_targets: set[str]) -> bool:
    """An incident this drill caused: opened after the run started and naming one of its faults."""
    if run is None or run.started_at is None or incident.started_at < run.started_at:
        return False
    return incident_names_run(incident, f"chaos-run:{run.pk}", fault_targets)


def _incident_violations(run, fault_targets: set[str]) -> list[Violation]:
    from reliability.incidents.models import Incident

    open_ = Incident.objects.exclude(status=Incident.Status.RESOLVED).filter(severity__in=("P0", "P1"))
    found = [i for i in open_.order_by("id")[:50] if not _caused_by(i, run, fault_targets)]
    return [Violation("incident", f"open {i.severity} incident #{i.number}: {i.title[:120]}") for i in found[:3]]


def _degradation(notes: list[str]) -> Violation | None:
    from reliability.health.degradation import Level, current_level

    level = current_level()
    if level >= Level.SEVERE:
        return Violation("degradation", f"degradation is {Level(level).name} (≥ SEVERE)")
    return None


def _slo(drill, notes: list[str], conditions: dict) -> list[Violation]:
    from reliability.slos.selectors import budget_exhausted_services, fast_burning_slos

    found = []
    if conditions.get("slo_fast_burn", True):
        protected = set(conditions.get("protected_slos") or getattr(settings, "CHAOS_PROTECTED_SLOS", []) or [])
        burning = [s for s in fast_burning_slos() if not protected or s in protected]
        if burning:
            found.append(Violation("slo_fast_burn", f"protected SLO in fast burn: {', '.join(sorted(burning)[:5])}"))
    if conditions.get("budget", True) and drill.service_id:
        if drill.service.name in budget_exhausted_services():
            if conditions.get("budget_override_reason"):
                notes.append(f"budget of {drill.service.name} exhausted; overridden: {conditions['budget_override_reason']}")
            else:
                found.append(Violation("budget", f"the error budget of {drill.service.name} is exhausted"))
    return found


def check(drill, *, stage: str, run=None, at: datetime | None = None, fault_targets: set[str] | None = None) -> GuardReport:
    """Every guardrail that applies at ``stage`` for ``drill`` (and its ``run`` while it runs)."""
    report = GuardReport()
    at = at or timezone.now()
    env = environment_refusal()
    if env is not None:
        report.violations.append(env)
        return report
    switch = kill_switch_current()
    if switch is not None:
        report.violations.append(Violation("kill_switch", f"the kill switch is engaged by {switch.engaged_by}: {switch.reason or 'no reason given'}"))
    refused = target_refusals(list(drill.targets or []))
    if refused:
        report.violations.append(Violation("target", f"targets not in CHAOS_TARGET_ALLOWLIST: {', '.join(map(str, refused))}"))
    if stage == CREATE:
        return report
    if stage in (START, DURING):
        window = blackout_active(at)
        if window:
            report.violations.append(Violation("blackout", f"inside a {window}"))
    if stage == APPROVE:
        return report
    conditions = {**DEFAULT_STOP_CONDITIONS, **(drill.stop_conditions or {})}
    targets = set(fault_targets or ()) | set(drill.targets or ())
    if conditions.get("incidents", True):
        report.violations += _incident_violations(run, targets)
    if conditions.get("degradation", True):
        violation = _degradation(report.notes)
        if violation:
            report.violations.append(violation)
    report.violations += _slo(drill, report.notes, conditions)
    return report

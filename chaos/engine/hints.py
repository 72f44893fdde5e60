"""Root-cause hints: the drill names its fault on every incident it caused (issue #14).

The chaos side attaches the hint (docs/decisions.md, "Root-cause hints come from the drill"):
on every guard pass and settle poll the engine looks at incidents opened since the run started
that name one of its fault targets or the run (``chaos-run:<id>``), or match the drill's
``steady_state.expect_incident``, and hints each once through
``reliability.incidents.services.incident_root_cause_hint`` (timeline row, audit entry, outbox
event in one transaction). The incidents app never imports chaos.
"""

from __future__ import annotations

from audit.actors import Actor
from chaos.guardrails import incident_haystack, incident_names_run
from chaos.scenarios.base import RunContext


def fault_label(kind: str, spec: dict) -> str:
    """How a fault reads in a hint: its error (``503``, ``timeout``), else its latency, else its kind."""
    if spec.get("error") is not None:
        return str(spec["error"])
    if spec.get("latency_ms"):
        return f"{spec['latency_ms']}ms-latency"
    return kind


def _expected(ctx: RunContext) -> str:
    return str((ctx.scratch.get("steady_state") or {}).get("expect_incident") or "")


def caused_incidents(ctx: RunContext, limit: int = 50) -> list:
    """Incidents opened since the run started that name its faults or the run, or are the expected one."""
    from reliability.incidents.models import Incident

    expected = _expected(ctx)
    opened = Incident.objects.filter(started_at__gte=ctx.started_at).order_by("id")
    found = []
    for incident in opened[:limit]:
        if (incident_names_run(incident, ctx.tag, ctx.targets)
                or (expected and expected.lower() in f"{incident.title} {incident.group_key}".lower())):
            found.append(incident)
    return found


def hinted_incident_ids(ctx: RunContext) -> set[int]:
    from reliability.incidents.selectors import root_cause_hints_keyed

    return set(root_cause_hints_keyed(ctx.tag).values_list("incident_id", flat=True))


def _hint_for(ctx: RunContext, incident, faults: list, drill_name: str, scenario: str) -> tuple[str, dict]:
    haystack = incident_haystack(incident)
    named = [f for f in faults if f.target and f.target in haystack] or faults
    fault = named[0]
    label = fault_label(fault.kind, fault.spec or {})
    hint = (f"root-cause hint: chaos drill {drill_name!r} (#{ctx.drill_id}) run #{ctx.run_id} injected "
            f"{scenario}/{label} on {fault.target}")
    cause = {"drill": ctx.drill_id, "run": ctx.run_id, "scenario": scenario, "fault": label, "target": fault.target,
             "fault_kind": fault.kind}
    return hint, cause


def incidents_hint(ctx: RunContext, *, actor: Actor, source: str) -> list[tuple[int, str]]:
    """Hint every incident this run caused and has not hinted yet; returns ``(incident number, hint)`` of new ones."""
    if ctx.dry_run:
        return []
    from chaos.models import ChaosFault, ChaosRun
    from reliability.incidents.services import incident_root_cause_hint

    faults = list(ChaosFault.objects.filter(run_id=ctx.run_id).order_by("id"))
    if not faults:
        return []  # nothing was injected: nothing to name
    done = hinted_incident_ids(ctx)
    todo = [i for i in caused_incidents(ctx) if i.pk not in done]
    if not todo:
        return []
    run = ChaosRun.objects.select_related("drill__scenario").get(pk=ctx.run_id)
    hinted = []
    for incident in todo:
        hint, cause = _hint_for(ctx, incident, faults, run.drill.name, run.drill.scenario.slug)
        _, created = incident_root_cause_hint(incident_id=incident.pk, hint=hint, key=ctx.tag, cause=cause,
                                              actor=actor, source=source)
        if created:
            hinted.append((incident.number, hint))
    return hinted

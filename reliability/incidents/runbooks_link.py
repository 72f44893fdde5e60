"""Reads: the runbooks beside an incident and its checklist (issue #10 items 3 and 4).

The runbook *attached* to an incident is the one its alerts' ``runbook_url``
annotation points at when that is a portal runbook page, else the most
specific published runbook whose matchers hold for its alerts' labels. Its
Resolution section's numbered steps are the incident's checklist; a step's
state is the last ``checklist`` timeline row for it (written by
``incident_checklist_tick``), so the timeline is the only record.
"""

from __future__ import annotations

from dataclasses import dataclass

from reliability.incidents.models import Incident, IncidentEvent
from runbooks.rendering import render_markdown
from runbooks.selectors import runbook_checklist, runbook_for_url, runbooks_matching

MAX_LABEL_SETS = 20  # distinct alert label sets matched per incident (each is one query)


@dataclass(frozen=True)
class ChecklistStep:
    index: int
    text: str
    html: str  # the step's markdown, rendered and sanitised (nh3) by the runbooks renderer
    done: bool
    by: str


@dataclass(frozen=True)
class Checklist:
    runbook: object  # runbooks.models.Runbook
    version: int | None
    steps: list[ChecklistStep]


def _label_sets(incident: Incident) -> list[dict]:
    sets: list[dict] = []
    for labels in incident.alerts.order_by("status", "-last_received_at").values_list("labels", flat=True)[:100]:
        if isinstance(labels, dict) and labels not in sets:
            sets.append(labels)
        if len(sets) >= MAX_LABEL_SETS:
            break
    if not sets and incident.group_labels:
        sets.append(incident.group_labels)
    return sets


def _annotated(incident: Incident):
    urls = [incident.runbook_url] if incident.runbook_url else []
    urls += [a.get("runbook_url") for a in incident.alerts.values_list("annotations", flat=True)[:100]
             if isinstance(a, dict) and a.get("runbook_url")]
    for url in dict.fromkeys(urls):
        runbook = runbook_for_url(str(url))
        if runbook is not None:
            return runbook
    return None


def incident_runbooks(incident: Incident) -> list:
    """Published runbooks for the incident, the attached one first, then most specific first."""
    found = []
    seen: set[int] = set()
    annotated = _annotated(incident)
    if annotated is not None:
        found.append(annotated)
        seen.add(annotated.pk)
    for labels in _label_sets(incident):
        for runbook in runbooks_matching(labels):
            if runbook.pk not in seen:
                seen.add(runbook.pk)
                found.append(runbook)
    return found


def attached_runbook(incident: Incident):
    runbooks = incident_runbooks(incident)
    return runbooks[0] if runbooks else None


def ticks(incident: Incident, slug: str) -> dict[int, tuple[bool, str]]:
    """step index → (done, by whom) from the incident's checklist timeline rows for ``slug``."""
    state: dict[int, tuple[bool, str]] = {}
    rows = (incident.timeline.filter(kind=IncidentEvent.Kind.CHECKLIST, data__runbook=slug)
            .order_by("at", "id").values_list("data", "actor_label"))
    for data, actor in rows:
        if isinstance(data.get("step"), int):
            state[data["step"]] = (bool(data.get("done")), actor)
    return state


def incident_checklist(incident: Incident, runbook=None) -> Checklist | None:
    runbook = runbook if runbook is not None else attached_runbook(incident)
    if runbook is None:
        return None
    state = ticks(incident, runbook.slug)
    steps = [ChecklistStep(index=i, text=text, html=render_markdown(text).html, done=state.get(i, (False, ""))[0], by=state.get(i, (False, ""))[1])
             for i, text in enumerate(runbook_checklist(runbook))]
    version = runbook.current_version.number if runbook.current_version_id else None
    return Checklist(runbook=runbook, version=version, steps=steps)

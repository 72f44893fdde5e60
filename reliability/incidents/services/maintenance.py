"""Maintenance windows: create/edit, the beat sweep that puts their start and end on timelines, a preview.

While a window is active, matching alerts are recorded but never page: the
intake marks an incident opened under it ``suppressed`` (it never escalates),
and the escalation sweep holds the due steps of incidents that were already
open (``paging held``). Resolves are always honoured: the intake resolves
alerts and incidents whatever the windows say.

``maintenance_sweep`` (beat, every few seconds) compares each window's current
occurrence with ``active_since``: a window that became active gets
``active_since`` set, one audit entry, one outbox event, and a ``maintenance``
timeline row ("started") on every open incident it matches; one that stopped
being active is cleared the same way ("ended").
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.escalation.windows import current_occurrence
from reliability.incidents.matching import MatcherError, matches, parse_cron, validate_matchers
from reliability.incidents.models import Alert, Incident, IncidentEvent, MaintenanceWindow
from reliability.incidents.names import Action, Event
from reliability.incidents.services._common import SYSTEM_ACTOR, text, timeline

Kind = IncidentEvent.Kind
_FIELDS = ("name", "matchers", "starts_at", "ends_at", "cron", "timezone", "duration_minutes", "reason", "enabled")


def _validate(values: dict) -> dict:
    errors = {}
    try:
        values["matchers"] = validate_matchers(values.get("matchers", []))
    except MatcherError as exc:
        errors["matchers"] = str(exc)
    if not values["matchers"] and "matchers" not in errors:
        errors["matchers"] = "a window needs at least one matcher (an empty list would silence everything)"
    if values.get("starts_at") and values.get("ends_at") and values["ends_at"] <= values["starts_at"]:
        errors["ends_at"] = "must be after starts_at"
    if values.get("cron"):
        try:
            parse_cron(values["cron"])
        except ValueError as exc:
            errors["cron"] = str(exc)
        if not values.get("duration_minutes"):
            errors["duration_minutes"] = "a recurring window needs a duration"
    if not str(values.get("name") or "").strip():
        errors["name"] = "required"
    if errors:
        raise ValidationError(errors)
    values["name"] = text(values["name"], 200)
    return values


def _payload(window: MaintenanceWindow) -> dict:
    return {"window": window.pk, "name": window.name, "matchers": window.matchers,
            "starts_at": window.starts_at.isoformat(), "ends_at": window.ends_at.isoformat(), "cron": window.cron,
            "enabled": window.enabled}


@transaction.atomic
def maintenance_window_create(*, actor: Actor, source: str, **values) -> MaintenanceWindow:
    values = _validate({k: values.get(k) for k in _FIELDS if k in values})
    window = MaintenanceWindow.objects.create(created_by=text(actor.label, 200), **values)
    audit_record(actor=actor, action=Action.MAINTENANCE_CREATE, target=window, source=source,
                 changes={"name": [None, window.name], "matchers": [None, window.matchers]})
    emit(Event.MAINTENANCE_CHANGED, window, _payload(window))
    return window


@transaction.atomic
def maintenance_window_update(*, window_id: int, actor: Actor, source: str, **values) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.select_for_update().get(pk=window_id)
    before = {k: getattr(window, k) for k in _FIELDS}
    merged = _validate({**before, **{k: v for k, v in values.items() if k in _FIELDS}})
    changes = {k: [str(before[k]), str(v)] for k, v in merged.items() if before[k] != v}
    for k, v in merged.items():
        setattr(window, k, v)
    window.save()
    audit_record(actor=actor, action=Action.MAINTENANCE_UPDATE, target=window, source=source, changes=changes)
    emit(Event.MAINTENANCE_CHANGED, window, _payload(window))
    return window


def _labels(incident: Incident) -> dict:
    return dict(incident.group_labels or {})


def _mark_incidents(window: MaintenanceWindow, phase: str, now: datetime) -> int:
    n = 0
    for incident in Incident.objects.exclude(status=Incident.Status.RESOLVED).only("pk", "group_labels"):
        if matches(window.matchers or [], _labels(incident)):
            timeline(incident, Kind.MAINTENANCE, actor=Actor.for_system(SYSTEM_ACTOR), source="task",
                     data={"window": window.pk, "name": window.name, "phase": phase}, at=now)
            n += 1
    return n


def _occurrence(window: MaintenanceWindow, now: datetime):
    if not window.enabled:
        return None
    return current_occurrence(starts_at=window.starts_at, ends_at=window.ends_at, cron=window.cron,
                              timezone=window.timezone, duration_minutes=window.duration_minutes, now=now)


def maintenance_sweep(*, limit: int = 200) -> dict[str, int]:
    """Announce windows that started or ended since the last sweep (SKIP LOCKED: one sweeper per window)."""
    counts = {"started": 0, "ended": 0}
    now = timezone.now()
    candidates = list(MaintenanceWindow.objects.filter(enabled=True, starts_at__lte=now, ends_at__gt=now,
                                                       active_since__isnull=True).values_list("pk", flat=True)[:limit])
    candidates += list(MaintenanceWindow.objects.filter(active_since__isnull=False).values_list("pk", flat=True)[:limit])
    actor = Actor.for_system(SYSTEM_ACTOR)
    for pk in candidates:
        with transaction.atomic():
            window = MaintenanceWindow.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if window is None:
                continue
            occurrence = _occurrence(window, now)
            if occurrence is not None and window.active_since is None:
                window.active_since = occurrence[0]
                phase, action, event = "started", Action.MAINTENANCE_START, Event.MAINTENANCE_STARTED
            elif occurrence is None and window.active_since is not None:
                window.active_since = None
                phase, action, event = "ended", Action.MAINTENANCE_END, Event.MAINTENANCE_ENDED
            else:
                continue
            window.save(update_fields=["active_since"])
            marked = _mark_incidents(window, phase, now)
            audit_record(actor=actor, action=action, target=window, source="task",
                         changes={"active": [phase == "ended", phase == "started"], "incidents": [None, marked]})
            emit(event, window, {**_payload(window), "phase": phase, "incidents": marked})
            counts[phase] += 1
    return counts


def maintenance_preview(matchers: list[dict], *, limit: int = 200) -> list[Alert]:
    """The firing alerts of open incidents (and alerts held back) that these matchers would cover."""
    matchers = validate_matchers(matchers)
    found = []
    qs = (Alert.objects.filter(status=Alert.Status.FIRING).select_related("incident")
          .exclude(incident__status=Incident.Status.RESOLVED).order_by("-last_received_at"))
    for alert in qs.iterator(chunk_size=500):
        if matches(matchers, alert.labels or {}):
            found.append(alert)
            if len(found) >= limit:
                break
    return found

"""Reads of incidents: lists, rules for the intake, MTTA/MTTR."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet

from reliability.incidents import config_cache
from reliability.incidents.matching import matches, window_active
from reliability.incidents.models import (
    EscalationPolicy,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    RoutingRule,
    Severity,
)

DEFAULT_SEVERITY = Severity.P2


def incident_list(*, status: str | None = None, severity: str | None = None, service: str | None = None,
                  search: str | None = None) -> QuerySet[Incident]:
    qs = Incident.objects.select_related("service", "assignee")
    if status:
        qs = qs.filter(status__in=status.split(","))
    if severity:
        qs = qs.filter(severity__in=severity.upper().split(","))
    if service:
        qs = qs.filter(service__name=service)
    if search:
        q = Q(title__icontains=search) | Q(group_key__icontains=search) | Q(dedup_key=search)
        if search.lstrip("#").isdigit():
            q |= Q(number=int(search.lstrip("#")))
        qs = qs.filter(q)
    return qs


def open_counts_by_severity() -> dict[str, int]:
    counts = dict.fromkeys(Severity.values, 0)
    rows = Incident.objects.exclude(status=Incident.Status.RESOLVED).values("severity").annotate(n=Count("id"))
    for row in rows:
        counts[row["severity"]] = row["n"]
    return counts


def severity_mapping() -> dict[str, str]:
    return config_cache.snapshot().mapping


def severity_for(value: str | None, mapping: dict[str, str]) -> str:
    return mapping.get(str(value or "").strip().lower(), DEFAULT_SEVERITY)


def routing_rule_for(labels: dict) -> RoutingRule | None:
    """First enabled rule (by order) whose matchers all hold."""
    for rule in config_cache.snapshot().rules:
        if matches(rule.matchers or [], labels):
            return rule
    return None


def maintenance_window_for(labels: dict, now: datetime) -> MaintenanceWindow | None:
    for window in config_cache.snapshot().windows:
        if window.starts_at <= now < window.ends_at and matches(window.matchers or [], labels) and window_active(
                starts_at=window.starts_at, ends_at=window.ends_at, cron=window.cron, timezone=window.timezone,
                duration_minutes=window.duration_minutes, now=now):
            return window
    return None


def default_policy_for(severity: str, service_id: int | None) -> EscalationPolicy | None:
    """A policy declared for this severity, preferring one of the incident's service."""
    best = None
    for policy in config_cache.snapshot().policies:
        if severity in (policy.severities or []):
            if policy.service_id == service_id and service_id is not None:
                return policy
            if policy.service_id is None and best is None:
                best = policy
    return best


def response_times(*, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """MTTA and MTTR (seconds) per service and severity over incidents started in [since, until)."""
    qs = Incident.objects.all()
    if since:
        qs = qs.filter(started_at__gte=since)
    if until:
        qs = qs.filter(started_at__lt=until)
    tta = ExpressionWrapper(F("acknowledged_at") - F("started_at"), output_field=DurationField())
    ttr = ExpressionWrapper(F("resolved_at") - F("started_at"), output_field=DurationField())
    rows = (qs.values("service__name", "severity")
            .annotate(incidents=Count("id"), acknowledged=Count("acknowledged_at"), resolved=Count("resolved_at"),
                      mtta=Avg(tta), mttr=Avg(ttr))
            .order_by("severity", "service__name"))
    return [{
        "service": r["service__name"], "severity": r["severity"], "incidents": r["incidents"],
        "acknowledged": r["acknowledged"], "resolved": r["resolved"],
        "mtta_seconds": r["mtta"].total_seconds() if r["mtta"] is not None else None,
        "mttr_seconds": r["mttr"].total_seconds() if r["mttr"] is not None else None,
    } for r in rows]


def service_named(name: str | None):
    return config_cache.snapshot().services.get(str(name)) if name else None


def root_cause_hints_keyed(key: str):
    """Every incident's root-cause hints written under ``key`` (e.g. ``chaos-run:12``), as a queryset."""
    return IncidentEvent.objects.filter(kind=IncidentEvent.Kind.ROOT_CAUSE_HINT, data__key=key)

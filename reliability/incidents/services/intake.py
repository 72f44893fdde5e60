"""Alerts in: one group's alerts (an Alertmanager notification, an Events API event, a portal alarm).

``alerts_ingest`` is the only writer of alerts. Per group, in one transaction:

1. take the group's lock (PostgreSQL advisory lock; the partial unique
   constraint "one open incident per group key" is the backstop everywhere);
2. find the open incident; if there is none and something fires, reopen the
   last resolved one inside the reopen window, else open a new one linked to
   it (a threshold rule may hold this back until enough alerts fire);
3. upsert the alerts by (source, fingerprint) in one statement per status;
4. resolve the incident when none of its alerts fire any more.

A repeated notification changes nothing but timestamps: no timeline row, no
audit entry, no outbox event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.actors import Actor
from opsportal.events.services import emit
from reliability.incidents import config_cache, selectors
from reliability.incidents.models import Alert, Incident, IncidentEvent, Severity
from reliability.incidents.names import Event
from reliability.incidents.services._common import incident_payload, lock_group, text, timeline
from reliability.incidents.services.lifecycle import open_locked, record_open, reopen_locked, resolve_locked

Kind = IncidentEvent.Kind
FIRING, RESOLVED = Alert.Status.FIRING, Alert.Status.RESOLVED
_SEVERITY_RANK = {s: i for i, s in enumerate(Severity.values)}  # P0 first
_UPDATE_FIELDS = ["group_key", "status", "labels", "annotations", "starts_at", "ends_at", "generator_url",
                  "last_payload", "suppressed", "last_received_at"]
# a resolve keeps what the alert said while firing (an Events API resolve carries only its dedup_key)
_RESOLVE_FIELDS = ["status", "ends_at", "last_payload", "last_received_at"]


@dataclass
class AlertIn:
    fingerprint: str
    status: str
    labels: dict
    annotations: dict = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    raw: dict = field(default_factory=dict)


@dataclass
class GroupIn:
    source: str  # AlertSource value
    group_key: str
    alerts: list[AlertIn]
    group_labels: dict = field(default_factory=dict)
    common_labels: dict = field(default_factory=dict)
    common_annotations: dict = field(default_factory=dict)
    title: str = ""
    dedup_key: str = ""
    external_url: str = ""
    reopen: bool = True  # False: after a resolve, a new incident (Events API semantics)


@dataclass
class IntakeResult:
    incident_id: int | None = None
    opened: bool = False
    reopened: bool = False
    resolved: bool = False
    held_by_threshold: bool = False
    firing: int = 0
    resolved_alerts: int = 0


def _title(group: GroupIn, firing: list[AlertIn]) -> str:
    if group.title:
        return group.title
    summary = group.common_annotations.get("summary")
    if not summary and len(firing) == 1:
        summary = firing[0].annotations.get("summary")
    if summary:
        return str(summary)
    name = group.group_labels.get("alertname") or group.common_labels.get("alertname") or "alert"
    rest = " ".join(f"{k}={v}" for k, v in sorted(group.group_labels.items()) if k != "alertname")
    return f"{name} {rest}".strip()


def _severity(alerts: list[AlertIn], mapping: dict[str, str]) -> str:
    found = [selectors.severity_for(a.labels.get("severity"), mapping) for a in alerts]
    return min(found, key=_SEVERITY_RANK.__getitem__) if found else selectors.DEFAULT_SEVERITY


def _rows(group: GroupIn, alerts: list[AlertIn], incident_id: int | None, now: datetime,
          suppressed: bool) -> list[Alert]:
    return [Alert(
        source=group.source, fingerprint=a.fingerprint, incident_id=incident_id, group_key=group.group_key,
        status=a.status, labels=a.labels, annotations=a.annotations, starts_at=a.starts_at, ends_at=a.ends_at,
        generator_url=text(a.generator_url, 2000), last_payload=a.raw, suppressed=suppressed,
        first_received_at=now, last_received_at=now,
    ) for a in alerts]


def _upsert(rows: list[Alert], *, move_incident: bool) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        _upsert_pg(rows, move_incident=move_incident)
        return
    fields = _UPDATE_FIELDS + ["incident"] if move_incident else _RESOLVE_FIELDS
    Alert.objects.bulk_create(rows, update_conflicts=True, unique_fields=["source", "fingerprint"],
                              update_fields=fields)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


_UPSERT_SQL = """
INSERT INTO incidents_alert (source, fingerprint, incident_id, group_key, status, labels, annotations, starts_at,
                             ends_at, generator_url, last_payload, suppressed, first_received_at, last_received_at)
SELECT %s, x.fingerprint, %s, %s, x.status, x.labels, x.annotations, x.starts_at, x.ends_at, x.generator_url,
       x.last_payload, %s, %s, %s
FROM jsonb_to_recordset(%s::jsonb) AS x(fingerprint text, status text, labels jsonb, annotations jsonb,
                                        starts_at timestamptz, ends_at timestamptz, generator_url text,
                                        last_payload jsonb)
ON CONFLICT (source, fingerprint) DO UPDATE SET {updates}
"""
_FIRING_UPDATES = """
    group_key = EXCLUDED.group_key, status = EXCLUDED.status, labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
    generator_url = EXCLUDED.generator_url, last_payload = EXCLUDED.last_payload,
    suppressed = EXCLUDED.suppressed, last_received_at = EXCLUDED.last_received_at,
    incident_id = EXCLUDED.incident_id"""
_RESOLVE_UPDATES = """
    status = EXCLUDED.status, ends_at = EXCLUDED.ends_at, last_payload = EXCLUDED.last_payload,
    last_received_at = EXCLUDED.last_received_at"""


def _upsert_pg(rows: list[Alert], *, move_incident: bool) -> None:
    """The whole batch as one JSON parameter: one statement, one value to bind (bench/incidents)."""
    first = rows[0]
    batch = json.dumps([{
        "fingerprint": r.fingerprint, "status": r.status, "labels": r.labels, "annotations": r.annotations,
        "starts_at": _iso(r.starts_at), "ends_at": _iso(r.ends_at), "generator_url": r.generator_url,
        "last_payload": r.last_payload,
    } for r in rows])
    sql = _UPSERT_SQL.format(updates=_FIRING_UPDATES if move_incident else _RESOLVE_UPDATES)
    with connection.cursor() as cursor:
        cursor.execute(sql, [first.source, first.incident_id, first.group_key, first.suppressed,
                             first.first_received_at, first.last_received_at, batch])


_INGEST_SQL = """
WITH x AS (
    SELECT * FROM jsonb_to_recordset(%(batch)s::jsonb) AS x(fingerprint text, status text, labels jsonb,
        annotations jsonb, starts_at timestamptz, ends_at timestamptz, generator_url text, last_payload jsonb)
), prev AS (
    SELECT a.fingerprint, a.incident_id, a.status FROM incidents_alert a
    WHERE a.source = %(source)s AND a.fingerprint IN (SELECT fingerprint FROM x)
), firing AS (
    INSERT INTO incidents_alert (source, fingerprint, incident_id, group_key, status, labels, annotations, starts_at,
                                 ends_at, generator_url, last_payload, suppressed, first_received_at, last_received_at)
    SELECT %(source)s, x.fingerprint, %(incident)s::bigint, %(group_key)s, x.status, x.labels, x.annotations, x.starts_at,
           x.ends_at, x.generator_url, x.last_payload, %(suppressed)s, %(now)s, %(now)s
    FROM x WHERE x.status = 'firing'
    ON CONFLICT (source, fingerprint) DO UPDATE SET {firing}
), resolved AS (
    INSERT INTO incidents_alert (source, fingerprint, incident_id, group_key, status, labels, annotations, starts_at,
                                 ends_at, generator_url, last_payload, suppressed, first_received_at, last_received_at)
    SELECT %(source)s, x.fingerprint, %(incident)s::bigint, %(group_key)s, x.status, x.labels, x.annotations, x.starts_at,
           x.ends_at, x.generator_url, x.last_payload, false, %(now)s, %(now)s
    FROM x WHERE x.status = 'resolved'
      AND (%(incident)s::bigint IS NOT NULL OR x.fingerprint IN (SELECT fingerprint FROM prev))
    ON CONFLICT (source, fingerprint) DO UPDATE SET {resolve}
){number}
SELECT fingerprint, incident_id, status FROM prev
""".format(firing=_FIRING_UPDATES, resolve=_RESOLVE_UPDATES, number="{number}")
# a new incident's number is its id: set in the same statement, not one more round trip
_NUMBER_CTE = """, numbered AS (
    UPDATE incidents_incident SET number = id WHERE id = %(incident)s AND number IS DISTINCT FROM id
)"""


def _batch_json(alerts: list[AlertIn]) -> str:
    return json.dumps([{
        "fingerprint": a.fingerprint, "status": a.status, "labels": a.labels, "annotations": a.annotations,
        "starts_at": _iso(a.starts_at), "ends_at": _iso(a.ends_at), "generator_url": text(a.generator_url, 2000),
        "last_payload": a.raw,
    } for a in alerts])


def _ingest_pg(group: GroupIn, incident_id: int | None, now: datetime, suppressed: bool,
               number: bool) -> dict[str, tuple[int | None, str]]:
    """PostgreSQL, one round trip: the alerts' previous state, the firing upsert, the resolve upsert
    (a resolve never seen firing is stored only with an incident) and, for a new incident, its number.

    Every CTE reads the snapshot taken before the statement, so ``prev`` is the state before it.
    """
    sql = _INGEST_SQL.replace("{number}", _NUMBER_CTE if number else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"batch": _batch_json(group.alerts), "source": group.source, "incident": incident_id,
                             "group_key": group.group_key, "suppressed": suppressed, "now": now})
        rows = cursor.fetchall()
    return {fp: (inc, st) for fp, inc, st in rows}


def _existing(source: str, fingerprints: list[str]) -> dict[str, tuple[int | None, str]]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT fingerprint, incident_id, status FROM incidents_alert WHERE source = %s AND "
                           "fingerprint IN (SELECT jsonb_array_elements_text(%s::jsonb))",
                           [source, json.dumps(fingerprints)])
            rows = cursor.fetchall()
    else:
        rows = Alert.objects.filter(source=source, fingerprint__in=fingerprints).values_list(
            "fingerprint", "incident_id", "status")
    return {fp: (inc, st) for fp, inc, st in rows}


def _open_or_reopen(group: GroupIn, firing: list[AlertIn], now: datetime, actor: Actor, source: str,
                    suppressed: bool, rule, mapping) -> tuple[Incident, bool]:
    last = (Incident.objects.select_for_update(of=("self",)).filter(group_key=group.group_key,
                                                                     status=Incident.Status.RESOLVED)
            .order_by("-resolved_at", "-pk").first())
    window = timedelta(seconds=settings.INCIDENT_REOPEN_WINDOW_SECONDS)
    if group.reopen and last is not None and last.merged_into_id is None and last.resolved_at >= now - window:
        return reopen_locked(last, actor=actor, source=source, reason="alerts fire again inside the reopen window"), True
    severity = (rule.severity if rule and rule.severity else None) or _severity(firing, mapping)
    service = rule.service if rule and rule.service_id else None
    if service is None:
        name = group.common_labels.get("service") or group.group_labels.get("service")
        service = selectors.service_named(name)
    policy = rule.escalation_policy if rule and rule.escalation_policy_id else None
    policy = policy or selectors.default_policy_for(severity, service.pk if service else None)
    runbook = group.common_annotations.get("runbook_url") or (firing[0].annotations.get("runbook_url") if firing else "")
    starts = [a.starts_at for a in firing if a.starts_at]
    incident = open_locked(
        title=_title(group, firing), alerts=len(firing), severity=severity, group_key=group.group_key, actor=actor, source=source,
        origin=group.source, service=service, group_labels=group.group_labels or group.common_labels,
        dedup_key=group.dedup_key, escalation_policy=policy, suppressed=suppressed, previous=last,
        started_at=min(starts) if starts and min(starts) <= now else now, external_url=group.external_url,
        runbook_url=str(runbook or ""), record=False, number=connection.vendor != "postgresql",
    )
    return incident, False


def _ingest_locked(group: GroupIn, actor: Actor, source: str) -> IntakeResult:
    now = timezone.now()
    result = IntakeResult()
    firing = [a for a in group.alerts if a.status == FIRING]
    resolved = [a for a in group.alerts if a.status == RESOLVED]
    result.firing, result.resolved_alerts = len(firing), len(resolved)
    incident = (Incident.objects.select_for_update(of=("self",)).filter(group_key=group.group_key)
                .exclude(status=Incident.Status.RESOLVED).first())
    pg = connection.vendor == "postgresql"
    before = None if pg else _existing(group.source, [a.fingerprint for a in group.alerts])
    labels = {**group.common_labels, **group.group_labels}
    window = selectors.maintenance_window_for(labels, now) if firing else None
    suppressed = window is not None
    mapping = selectors.severity_mapping() if firing else {}

    if incident is None and firing:
        rule = selectors.routing_rule_for(labels)
        if rule is not None and rule.threshold_count:
            if before is None:
                before = _existing(group.source, [a.fingerprint for a in group.alerts])
            _upsert(_rows(group, firing, None, now, suppressed), move_incident=True)
            span = timedelta(seconds=rule.threshold_window_seconds or 300)
            count = Alert.objects.filter(source=group.source, group_key=group.group_key, status=FIRING,
                                         incident__isnull=True, starts_at__gte=now - span).count()
            if count < rule.threshold_count:
                _upsert(_rows(group, [a for a in resolved if a.fingerprint in before], None, now, False),
                        move_incident=False)
                result.held_by_threshold = True
                return result
        incident, result.reopened = _open_or_reopen(group, firing, now, actor, source, suppressed, rule, mapping)
        result.opened = not result.reopened
        if rule is not None and rule.threshold_count:  # alerts held back until the threshold now join
            Alert.objects.filter(source=group.source, group_key=group.group_key, status=FIRING,
                                 incident__isnull=True).update(incident=incident)

    incident_id = incident.pk if incident is not None else None
    if before is None:  # PostgreSQL: everything below in one statement
        before = _ingest_pg(group, incident_id, now, suppressed, number=result.opened)
    else:
        _upsert(_rows(group, firing, incident_id, now, suppressed), move_incident=True)
        # resolves keep the alert's incident; a resolve never seen firing is recorded only with an open incident
        known_resolved = [a for a in resolved if a.fingerprint in before or incident_id is not None]
        _upsert(_rows(group, known_resolved, incident_id, now, False), move_incident=False)
        if pg and result.opened:  # the merged statement did not run: number = id here
            Incident.objects.filter(pk=incident_id).update(number=incident_id)
    if incident is None:
        return result
    result.incident_id = incident.pk
    if result.opened:  # audited last: the audit chain's lock is held to the commit
        record_open(incident, actor=actor, source=source, alerts=len(firing), at=now)
    if suppressed and (result.opened or result.reopened):
        timeline(incident, Kind.MAINTENANCE, actor=actor, source=source,
                 data={"window": window.pk, "name": window.name, "effect": "recorded, not paged"}, at=now)

    new_firing = [a.fingerprint for a in firing if before.get(a.fingerprint) != (incident.pk, FIRING)]
    newly_resolved = [a.fingerprint for a in resolved if before.get(a.fingerprint, (None, None))[1] == FIRING
                      and before[a.fingerprint][0] == incident.pk]
    changed = False
    if new_firing and not (result.opened or result.reopened):
        timeline(incident, Kind.ALERT_FIRING, actor=actor, source=source, data={"fingerprints": new_firing[:50],
                                                                               "count": len(new_firing)}, at=now)
        changed = True
        sev = _severity(firing, mapping)
        if _SEVERITY_RANK[sev] < _SEVERITY_RANK[incident.severity]:
            timeline(incident, Kind.ALERT_FIRING, actor=actor, source=source,
                     data={"severity": [incident.severity, sev]}, at=now)
            incident.severity = sev
    elif new_firing and result.reopened:
        timeline(incident, Kind.ALERT_FIRING, actor=actor, source=source,
                 data={"fingerprints": new_firing[:50], "count": len(new_firing)}, at=now)
    if firing and not result.opened:
        incident.last_alert_at = now
        Incident.objects.filter(pk=incident.pk).update(last_alert_at=now, severity=incident.severity)
    if newly_resolved:
        timeline(incident, Kind.ALERT_RESOLVED, actor=actor, source=source,
                 data={"fingerprints": newly_resolved[:50], "count": len(newly_resolved)}, at=now)
        changed = True
    # firing alerts were just attached to it; only a batch without any can have resolved the last one
    if not firing and not Alert.objects.filter(incident=incident, status=FIRING).exists():
        resolve_locked(incident, actor=actor, source=source, auto=True)
        result.resolved = True
    elif changed:
        emit(Event.INCIDENT_UPDATED, incident, incident_payload(incident, new_firing=len(new_firing),
                                                                 newly_resolved=len(newly_resolved)))
    return result


def alerts_ingest(*, group: GroupIn, actor: Actor, source: str) -> IntakeResult:
    """Upsert one group's alerts and keep its incident in step. Retries once on a lost race (SQLite)."""
    seen: dict[str, AlertIn] = {}
    for a in group.alerts:  # one row per fingerprint; the last word wins; sorted so locks are ordered
        seen[a.fingerprint] = a
    group.alerts = [seen[k] for k in sorted(seen)]
    for attempt in range(3):
        try:
            with transaction.atomic():
                lock_group(group.group_key)
                return _ingest_locked(group, actor, source)
        except IntegrityError:
            config_cache.invalidate()  # a cached service or policy may just have been deleted
            if attempt == 2:
                raise
    raise AssertionError("unreachable")

"""The health app's portal incidents: one alarm per failing check and per stale worker.

Raised and cleared through ``reliability.incidents.services.intake.alerts_ingest`` with alerts
of source ``portal`` (one stable fingerprint per alarm, status firing/resolved), so the
incident opens and auto-resolves through the same intake as Alertmanager's. Called inside the
health service's transaction, in a savepoint: when intake fails, the caller keeps the previous
state so the next cycle tries the transition again.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor

log = logging.getLogger(__name__)


def portal_alarm_set(*, key: str, firing: bool, labels: dict, summary: str) -> bool:
    """Fire or resolve alarm ``key``; False (logged) when the incidents intake refused it."""
    from reliability.incidents.models import AlertSource
    from reliability.incidents.names import Source
    from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

    labels = {**labels, "source": "portal"}
    annotations = {"summary": summary}
    alert = AlertIn(fingerprint=key, status="firing" if firing else "resolved", labels=labels,
                    annotations=annotations, starts_at=timezone.now(), raw={"alarm": key})
    group = GroupIn(source=AlertSource.PORTAL, group_key=f"portal:{key}", alerts=[alert], group_labels=labels,
                    common_labels=labels, common_annotations=annotations)
    try:
        with transaction.atomic():
            alerts_ingest(group=group, actor=Actor.for_system("portal"), source=Source.PORTAL)
    except Exception:
        log.exception("health alarm %s (%s) could not be handed to the incidents intake", key,
                      "firing" if firing else "resolved")
        return False
    return True


def check_alarm(*, check: str, firing: bool, detail: str) -> bool:
    labels = {"alertname": "HealthCheckFailing", "check": check, "severity": "critical"}
    return portal_alarm_set(key=f"health:{check}", firing=firing, labels=labels,
                            summary=f"Health check {check} is failing: {detail}"[:500] if firing
                            else f"Health check {check} recovered")


def worker_alarm(*, worker_id: str, firing: bool, last_seen) -> bool:
    labels = {"alertname": "WorkerHeartbeatStale", "worker": worker_id, "severity": "critical"}
    summary = (f"Celery worker {worker_id} stopped beating (last heartbeat {last_seen:%Y-%m-%d %H:%M:%S} UTC)"
               if firing else f"Celery worker {worker_id} is beating again")
    return portal_alarm_set(key=f"worker:{worker_id}", firing=firing, labels=labels, summary=summary)

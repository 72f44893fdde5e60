"""Test helpers for chaos: incidents opened through the intake, waits on conditions."""

from __future__ import annotations

import time
import uuid

from audit.actors import Actor


def open_p1(title: str, *, key: str | None = None):
    """An incident of severity critical (P1) through the real intake, unrelated to any drill."""
    from reliability.incidents.models import Incident
    from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

    key = key or f"unrelated-{uuid.uuid4().hex[:8]}"
    labels = {"alertname": title.replace(" ", ""), "severity": "critical", "service": "payments"}
    alert = AlertIn(fingerprint=key, status="firing", labels=labels, annotations={"summary": title})
    group = GroupIn(source="alertmanager", group_key=f"am:{key}", alerts=[alert], group_labels=labels,
                    common_labels=labels, common_annotations={"summary": title}, title=title)
    alerts_ingest(group=group, actor=Actor.for_system("test"), source="test")
    return Incident.objects.get(group_key=f"am:{key}")


def wait_for(predicate, timeout: float = 60.0, what: str = "condition", interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")

"""Synthetic Alertmanager v4 notifications for ``manage.py simulate --alerts`` (and the bench).

Alerts come from a fixed set of groups (alertname + service, as Alertmanager groups them)
and a fixed set of instances per group; a fingerprint is a hash of the labels, as
Alertmanager's is, so the same alert sent again carries the same fingerprint and dedupes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# (alertname, service, severity, summary template)
GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("HighErrorRate", "payments-api", "critical", "{service} 5xx ratio above 5% on {instance}"),
    ("QueueBacklog", "notifications", "warning", "{service} queue depth over 1,000 on {instance}"),
    ("HighLatency", "checkout-web", "warning", "{service} p99 above 1.5 s on {instance}"),
    ("WebhookDeliveryFailing", "payments-webhook", "critical", "{service} deliveries failing from {instance}"),
    ("DiskFillingUp", "search", "info", "{service} disk 80% full on {instance}"),
)
STARTS_AT = "2026-11-22T04:05:07Z"
NEVER = "0001-01-01T00:00:00Z"


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex digits from the sorted label set: stable across runs and processes."""
    canonical = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def group_key(alertname: str, service: str) -> str:
    return f'{{}}:{{alertname="{alertname}", service="{service}"}}'


@dataclass
class AlertBatches:
    """``batches(total)`` yields v4 notifications of up to ``batch_size`` alerts, one group each, round-robin."""

    groups: int = len(GROUPS)
    instances: int = 10
    batch_size: int = 10
    external_url: str = "http://127.0.0.1:9093"

    def __post_init__(self) -> None:
        self.groups = max(1, min(self.groups, len(GROUPS)))
        self.instances = max(1, self.instances)
        self.batch_size = max(1, self.batch_size)
        self._next_instance = [0] * self.groups

    def _alert(self, g: int, i: int) -> dict:
        alertname, service, severity, summary = GROUPS[g]
        instance = f"{service}-{i}:9100"
        labels = {"alertname": alertname, "service": service, "severity": severity, "instance": instance,
                  "job": service}
        return {"status": "firing", "labels": labels,
                "annotations": {"summary": summary.format(service=service, instance=instance)},
                "startsAt": STARTS_AT, "endsAt": NEVER,
                "generatorURL": f"http://127.0.0.1:9090/graph?g0.expr={alertname}", "fingerprint": fingerprint(labels)}

    def batch(self, g: int, size: int) -> dict:
        alerts = []
        for _ in range(size):
            alerts.append(self._alert(g, self._next_instance[g] % self.instances))
            self._next_instance[g] += 1
        alertname, service, severity, _ = GROUPS[g]
        common = {"alertname": alertname, "service": service, "severity": severity, "job": service}
        return {"receiver": "opsportal", "status": "firing", "alerts": alerts,
                "groupLabels": {"alertname": alertname, "service": service}, "commonLabels": common,
                "commonAnnotations": {}, "externalURL": self.external_url, "version": "4",
                "groupKey": group_key(alertname, service), "truncatedAlerts": 0}

    def batches(self, total: int):
        sent, g = 0, 0
        while sent < total:
            size = min(self.batch_size, total - sent, self.instances)
            yield self.batch(g % self.groups, size)
            sent += size
            g += 1

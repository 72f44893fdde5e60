"""Intake configuration (severity mapping, routing rules, maintenance windows, policies, service names), cached.

Read on every alert batch but changed by people a few times a week: each process
keeps a snapshot for ``TTL`` seconds, and a change saved in this process
(admin, seed, tests) drops it at once through model signals. Another process
sees a change within ``TTL``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

TTL = 2.0


@dataclass(frozen=True)
class Snapshot:
    mapping: dict
    rules: list
    windows: list
    policies: list
    services: dict
    taken: float


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def _load() -> Snapshot:
    from opsportal.catalog.models import Service
    from reliability.incidents.models import (
        DEFAULT_SEVERITY_MAPPING,
        EscalationPolicy,
        MaintenanceWindow,
        RoutingRule,
        SeverityMapping,
    )

    mapping = dict(SeverityMapping.objects.values_list("value", "severity")) or {
        k: str(v) for k, v in DEFAULT_SEVERITY_MAPPING.items()}
    rules = list(RoutingRule.objects.filter(enabled=True).select_related("service", "escalation_policy"))
    windows = list(MaintenanceWindow.objects.filter(enabled=True))
    policies = list(EscalationPolicy.objects.all())
    services = {s.name: s for s in Service.objects.all()}
    return Snapshot(mapping, rules, windows, policies, services, time.monotonic())


def snapshot() -> Snapshot:
    global _snapshot
    snap = _snapshot
    if snap is None or time.monotonic() - snap.taken > TTL:
        with _lock:
            snap = _load()
            _snapshot = snap
    return snap


def invalidate(**_kwargs) -> None:
    global _snapshot
    _snapshot = None


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from opsportal.catalog.models import Service
    from reliability.incidents.models import EscalationPolicy, MaintenanceWindow, RoutingRule, SeverityMapping

    for model in (Service, EscalationPolicy, MaintenanceWindow, RoutingRule, SeverityMapping):
        for signal in (post_save, post_delete):
            signal.connect(invalidate, sender=model, dispatch_uid=f"incidents-config-{model.__name__}-{signal}")

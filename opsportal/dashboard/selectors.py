"""Reads for /ops/: counters and the activity feed, limited to what the user may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from audit.models import AuditEntry
from opsportal.catalog.models import Service
from opsportal.dashboard.sentences import event_sentence
from opsportal.events.groups import domain_for, domains_for_user
from opsportal.events.selectors import events_recent, events_visible


def overview_counters(user: Any) -> list[dict]:
    """``[{key, label, value}]`` for the overview; each counter only for the domains it belongs to."""
    domains = domains_for_user(user)
    since = timezone.now() - timedelta(hours=24)
    counters = []
    if "catalog" in domains:
        counters.append({"key": "services", "label": "Services", "value": Service.objects.count()})
    counters.append(
        {
            "key": "events_24h",
            "label": "Events (24 h)",
            "value": events_visible(domains).filter(created_at__gte=since).count() if domains else 0,
        }
    )
    if "audit" in domains:
        counters.append(
            {"key": "audit_24h", "label": "Audit entries (24 h)", "value": AuditEntry.objects.filter(created_at__gte=since).count()}
        )
    return counters


def feed_item(envelope: dict) -> dict:
    """The socket's event message: the public event JSON, its domain and the sentence a person reads."""
    return {"domain": domain_for(envelope["type"]), "event": envelope, "text": event_sentence(envelope)}


def recent_events_for(user: Any, limit: int = 50) -> list[dict]:
    """The newest events the user may see as feed items, newest first."""
    domains = domains_for_user(user)
    if not domains:
        return []
    return [feed_item(e.envelope()) for e in events_recent(domains=domains, limit=limit)]

"""Which channel-layer group an event goes to, and which groups a role may join.

Group names follow Channels' rule ``[A-Za-z0-9._-]{1,99}``: ``ops.incident``.
"""

from __future__ import annotations

from typing import Any

# Event-type first segment → domain. Security-sensitive segments (the audit
# trail, logins, tokens) share the audit group that only auditors join.
DOMAINS = ("catalog", "incident", "alert", "breaker", "dlq", "webhook", "slo", "chaos", "runbook", "health", "audit", "other")
_AUDIT_SEGMENTS = {"audit", "auth", "token"}
# Event types whose first word is not a domain of its own: worker.stale/recovered and
# degradation.changed reach ops.health.
_SEGMENT_DOMAINS = {"worker": "health", "degradation": "health"}

ROLE_DOMAINS: dict[str, set[str]] = {
    "operator": set(DOMAINS) - {"audit"},
    "support": {"catalog", "incident", "alert", "runbook", "health", "breaker", "slo"},
    "chaos_operator": {"catalog", "chaos", "breaker", "incident", "alert", "health", "slo"},
    "auditor": {"audit", "catalog"},
}


def domain_for(event_type: str) -> str:
    segment = event_type.split(".", 1)[0]
    if segment in _AUDIT_SEGMENTS:
        return "audit"
    if segment in _SEGMENT_DOMAINS:
        return _SEGMENT_DOMAINS[segment]
    return segment if segment in DOMAINS else "other"


def group_for(event_type: str) -> str:
    return f"ops.{domain_for(event_type)}"


def domains_for_user(user: Any) -> set[str]:
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return set(DOMAINS)
    domains: set[str] = set()
    for role in user.groups.values_list("name", flat=True):
        domains |= ROLE_DOMAINS.get(role, set())
    return domains


def groups_for_user(user: Any) -> set[str]:
    return {f"ops.{d}" for d in domains_for_user(user)}

"""Reading the outbox by visibility: which events a set of domains may see."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from opsportal.events.groups import _AUDIT_SEGMENTS, _SEGMENT_DOMAINS, DOMAINS
from opsportal.events.models import OutboxEvent


def _segment_q(segment: str) -> Q:
    return Q(type=segment) | Q(type__startswith=f"{segment}.")


def domain_q(domains: Iterable[str]) -> Q:
    """A filter on ``OutboxEvent.type`` equal to ``groups.domain_for(type) in domains``.

    Done in SQL so limits apply to what the user may see, not to the raw outbox.
    """
    q = Q(pk__in=[])
    named = set(DOMAINS) - {"audit", "other"}
    for domain in set(domains):
        if domain == "audit":
            for segment in _AUDIT_SEGMENTS:
                q |= _segment_q(segment)
        elif domain == "other":
            known = Q(pk__in=[])
            for segment in (set(DOMAINS) | _AUDIT_SEGMENTS | set(_SEGMENT_DOMAINS)) - {"other"}:
                known |= _segment_q(segment)
            q |= ~known
        elif domain in named:
            q |= _segment_q(domain)
            for segment in (s for s, d in _SEGMENT_DOMAINS.items() if d == domain):
                q |= _segment_q(segment)
    return q


def events_visible(domains: Iterable[str]) -> QuerySet[OutboxEvent]:
    return OutboxEvent.objects.filter(domain_q(domains))


def events_recent(*, domains: Iterable[str], limit: int = 50) -> list[OutboxEvent]:
    """The newest ``limit`` events the domains may see, newest first."""
    return list(events_visible(domains).order_by("-id")[:limit])


def events_after(*, after: str | None, domains: Iterable[str], limit: int) -> tuple[list[OutboxEvent], bool]:
    """Events after the one with public id ``after``, oldest first, for catch-up.

    Returns ``(events, complete)``. ``complete`` is False when the anchor is
    unknown (malformed, never existed or purged) or more than ``limit`` events
    are missing: the client then cannot rebuild its view from the feed alone.
    """
    try:
        anchor_uuid = uuid.UUID(str(after))
    except (TypeError, ValueError):
        return [], False
    anchor = OutboxEvent.objects.filter(uuid=anchor_uuid).values_list("id", flat=True).first()
    if anchor is None:
        return [], False
    events = list(events_visible(domains).filter(id__gt=anchor).order_by("id")[: limit + 1])
    return events[:limit], len(events) <= limit


def event_latest_id() -> str | None:
    """The public id of the newest event of any domain: a catch-up anchor for a fresh page."""
    latest = OutboxEvent.objects.order_by("-id").values_list("uuid", flat=True).first()
    return str(latest) if latest else None

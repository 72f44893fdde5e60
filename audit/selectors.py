"""Reads of the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from audit.models import GENESIS_HASH, AuditEntry
from opsportal.common import timebounds

# The admin's search box and the API's ``q`` filter search the same columns the same way.
SEARCH_FIELDS = ("actor_label", "action", "target_type", "target_id", "target_repr", "request_id", "reason")


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_hash: str
    broken: ChainBreak | None


def audit_chain_verify(*, anchor: str | None = None, batch_size: int = 2000) -> ChainReport:
    """Walk the chain in id order and report the first break (or None).

    ``anchor`` is a head hash recorded earlier (logs, a ticket): it must still
    be in the chain, which catches removal of the newest entries and a chain
    recomputed from an edit onwards, neither of which the links alone reveal.
    """
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    anchor_seen = anchor is None or anchor == GENESIS_HASH
    try:
        for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=batch_size):
            if entry.prev_hash != expected_prev:
                return ChainReport(checked, expected_prev, ChainBreak(
                    entry.pk, "prev_hash does not match the previous entry (entry removed or reordered)"
                ))
            try:
                intact = entry.compute_hash() == entry.hash
            except (ValueError, TypeError):  # e.g. an ip no longer parses
                intact = False
            if not intact:
                return ChainReport(checked, expected_prev, ChainBreak(
                    entry.pk, "content does not match its hash (entry edited)"
                ))
            expected_prev = entry.hash
            anchor_seen = anchor_seen or entry.hash == anchor
            last_id = entry.pk
            checked += 1
    except DatabaseError:
        raise
    except Exception as exc:  # a column no longer decodes: edited outside the application
        bad_id = AuditEntry.objects.filter(id__gt=last_id).order_by("id").values_list("id", flat=True).first()
        return ChainReport(checked, expected_prev, ChainBreak(
            bad_id, f"entry cannot be read ({type(exc).__name__}): edited outside the application"
        ))
    if not anchor_seen:
        return ChainReport(checked, expected_prev, ChainBreak(
            None, f"anchor {anchor} is not in the chain (newest entries removed or chain rewritten)"
        ))
    return ChainReport(checked, expected_prev, None)


def parse_time_bound(value: str) -> dt.datetime | None:
    """A since/until bound of the trail (opsportal.common.timebounds): None if it is not one."""
    try:
        return timebounds.parse_time_bound(value)
    except timebounds.TimeBoundError:
        return None


def audit_search(queryset: QuerySet[AuditEntry], text: str) -> QuerySet[AuditEntry]:
    """Every word must occur (case-insensitively) in at least one of SEARCH_FIELDS."""
    for bit in smart_split(text):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if not bit:
            continue
        words = Q()
        for field in SEARCH_FIELDS:
            words |= Q(**{f"{field}__icontains": bit})
        queryset = queryset.filter(words)
    return queryset


def audit_entries(*, filters: dict | None = None) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.all()
    return qs.filter(**filters) if filters else qs


def audit_export_chunks(
    queryset: QuerySet[AuditEntry], *, before_id: int | None = None, chunk_size: int = 2000
) -> Iterator[list[AuditEntry]]:
    """Oldest first, in lists of ``chunk_size``, by keyset on id.

    One short query per chunk instead of a server-side cursor: nothing is held
    open between chunks, so it can be resumed from any thread (ASGI) and works
    behind a transaction-pooling proxy.
    """
    last_id = 0
    while True:
        page = queryset.filter(id__gt=last_id)
        if before_id is not None:
            page = page.filter(id__lt=before_id)
        chunk = list(page.order_by("id")[:chunk_size])
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1].pk

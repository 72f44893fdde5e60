"""Maintenance-window occurrences: when the current one started and when it ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reliability.incidents.matching import cron_matches

MAX_SPAN_MINUTES = 7 * 24 * 60


def current_occurrence(*, starts_at: datetime, ends_at: datetime, cron: str, timezone: str,
                       duration_minutes: int | None, now: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) of the occurrence covering ``now``, or None; the same rule as ``matching.window_active``."""
    if not (starts_at <= now < ends_at):
        return None
    if not cron:
        return starts_at, ends_at
    try:
        tz = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    span = max(1, min(duration_minutes or 60, MAX_SPAN_MINUTES))
    try:
        for back in range(span - 1, -1, -1):  # the earliest matching minute still covering now
            start = local - timedelta(minutes=back)
            if cron_matches(cron, start):
                return start, min(start + timedelta(minutes=span), ends_at)
    except ValueError:
        return None
    return None

"""Time bounds: one parser for ``--since 1h``, the DLQ's ``since`` and the audit trail's since/until.

Accepted forms, everywhere:

- a duration back from now: a positive whole number and a unit ``s``, ``m``, ``h``, ``d`` or
  ``w`` (``90s``, ``30m``, ``1h``, ``2d``, ``1w``), at most 3650 days;
- an ISO 8601 datetime (``2026-05-01T10:00:00Z``, ``2026-05-01T12:00:00+02:00``);
- an ISO 8601 date (``2026-05-01``), meaning midnight.

A datetime or date without an offset is read in the current time zone (``TIME_ZONE``,
UTC by default). Errors are ``TimeBoundError`` (a ``ValueError``) with a message that can be
shown to the person who typed the value.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

_DURATION_RE = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_DURATION = dt.timedelta(days=3650)
MAX_INPUT_LENGTH = 64
FORMS_HELP = "a duration back from now (30m, 1h, 2d, 1w), an ISO 8601 datetime (2026-01-31T12:00:00Z) or date (2026-01-31)"


class TimeBoundError(ValueError):
    """The value is neither a duration nor an ISO 8601 date or datetime."""


def parse_duration(value: str) -> dt.timedelta:
    """``30m``, ``1h``, ``2d``, ``90s``, ``1w`` → timedelta (TimeBoundError with a readable message)."""
    match = _DURATION_RE.match(value or "") if isinstance(value, str) else None
    if not match:
        raise TimeBoundError(f"{value!r} is not a duration: use a number and a unit s, m, h, d or w (30m, 1h, 2d)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise TimeBoundError(f"{value!r}: the duration must be positive")
    delta = dt.timedelta(seconds=amount * _UNIT_SECONDS[unit])
    if delta > MAX_DURATION:
        raise TimeBoundError(f"{value!r}: at most {MAX_DURATION.days} days")
    return delta


def parse_instant(value: str) -> dt.datetime:
    """An ISO 8601 datetime or date (midnight) as an aware datetime; TimeBoundError otherwise."""
    text = (value or "").strip() if isinstance(value, str) else ""
    parsed: dt.datetime | None = None
    if text and len(text) <= MAX_INPUT_LENGTH:
        try:
            parsed = parse_datetime(text)
            if parsed is None:
                day = parse_date(text)
                parsed = dt.datetime.combine(day, dt.time.min) if day else None
        except ValueError:  # well-formed but impossible (2026-02-30)
            parsed = None
    if parsed is None:
        raise TimeBoundError(f"{value!r} is not an ISO 8601 date (2026-01-31) or datetime (2026-01-31T12:00:00Z)")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def parse_time_bound(value: str, *, now: dt.datetime | None = None, durations: bool = True) -> dt.datetime:
    """A duration back from ``now`` (when ``durations``), or an ISO datetime or date.

    The one parser behind ``webhooks_retry --since``, the DLQ API's ``since`` and the
    audit trail's ``since``/``until`` (API and admin).
    """
    text = (value or "").strip() if isinstance(value, str) else ""
    if durations and _DURATION_RE.match(text):
        return (now or timezone.now()) - parse_duration(text)
    try:
        return parse_instant(text)
    except TimeBoundError:
        unsigned = text[1:] if text[:1] in "+-" else text
        if durations and unsigned[:1].isdigit() and text[-1:].isalpha() and "-" not in unsigned:
            # "1y", "1.5h", "0m", "-5m": looks like a duration, say what a duration is.
            return (now or timezone.now()) - parse_duration(text)
        raise TimeBoundError(f"{value!r} is not a time: expected {FORMS_HELP}") from None


def parse_since(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``--since``: a duration back from now or an ISO 8601 instant (``parse_time_bound``)."""
    return parse_time_bound(value, now=now)

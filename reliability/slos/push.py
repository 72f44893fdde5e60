"""Validation of pushed SLI events (DESIGN §6): ``{"events": [{"minute"|"timestamp", "good", "total"}, …]}``.

Also accepted: a bare list of events, or one event object. Every problem names the item's index
and field (``events[3].good``); one bad item rejects the whole batch (nothing is written).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

MAX_EVENTS = 10_000
MAX_COUNT = 2**53  # JSON's exact integers
FUTURE_SKEW = timedelta(minutes=2)
MAX_AGE = timedelta(days=100)  # older than the longest window (a quarter) plus slack
MAX_ERRORS = 20


class PushError(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def _items(body) -> list:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list):
                raise PushError({"events": ["events must be a list of {minute, good, total} objects"]})
            return events
        return [body]
    raise PushError({"events": ["the body is {\"events\": [{\"minute\": ISO-8601, \"good\": N, \"total\": N}, …]}"]})


def _when(item: dict) -> tuple[str, datetime | None, str | None]:
    key = "minute" if "minute" in item else "timestamp" if "timestamp" in item else None
    if key is None:
        return "minute", None, "each event needs a minute (or timestamp)"
    raw = item[key]
    if isinstance(raw, bool):
        return key, None, "not a time"
    if isinstance(raw, int | float) and key == "timestamp":
        try:
            return key, datetime.fromtimestamp(float(raw), tz=UTC), None
        except (OverflowError, OSError, ValueError):
            return key, None, "not a Unix time"
    if not isinstance(raw, str) or len(raw) > 64:
        return key, None, "an ISO-8601 time, e.g. 2026-12-01T10:42:00Z"
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        return key, None, f"cannot read {raw[:40]!r} as an ISO-8601 time"
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return key, parsed.astimezone(UTC), None
    except (OverflowError, ValueError):
        return key, None, "out of range"


def _count(value) -> tuple[int | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "a whole number of events"
    if isinstance(value, float):
        if not value.is_integer():
            return None, "a whole number of events"
        value = int(value)
    if value < 0:
        return None, "must not be negative"
    if value > MAX_COUNT:
        return None, "too large"
    return value, None


def parse_events(body, *, now: datetime | None = None) -> list[tuple[datetime, int, int]]:
    """The batch as ``(minute, good, total)``; PushError naming every bad item (at most 20)."""
    now = now or timezone.now()
    items = _items(body)
    if not items:
        raise PushError({"events": ["no events given"]})
    if len(items) > MAX_EVENTS:
        raise PushError({"events": [f"at most {MAX_EVENTS} events per request (got {len(items)})"]})
    out, errors = [], {}

    def err(path: str, message: str) -> None:
        if len(errors) < MAX_ERRORS:
            errors.setdefault(path, []).append(message)

    for i, item in enumerate(items):
        where = f"events[{i}]"
        if not isinstance(item, dict):
            err(where, "each event is an object {minute, good, total}")
            continue
        key, at, problem = _when(item)
        if problem is None and at > now + FUTURE_SKEW:
            problem = f"{at.isoformat()} is in the future (more than {int(FUTURE_SKEW.total_seconds())} s ahead)"
        elif problem is None and at < now - MAX_AGE:
            problem = f"{at.isoformat()} is older than {MAX_AGE.days} days"
        if problem:
            err(f"{where}.{key}", problem)
        good, gp = _count(item.get("good"))
        total, tp = _count(item.get("total"))
        if gp:
            err(f"{where}.good", gp)
        if tp:
            err(f"{where}.total", tp)
        if good is not None and total is not None and good > total:
            err(f"{where}.good", f"good ({good}) must not exceed total ({total})")
        if not (problem or gp or tp) and at is not None and good is not None and total is not None and good <= total:
            out.append((at, good, total))
    if errors:
        raise PushError(errors)
    return out

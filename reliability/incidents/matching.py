"""Label matchers (``=``, ``!=``, ``=~``, ``!~``) and maintenance-window schedules; pure functions.

Regular expressions are anchored like Prometheus' (``=~ "pay.*"`` must match the
whole value). A missing label matches as the empty string, as in Alertmanager.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

OPS = ("=", "!=", "=~", "!~")


class MatcherError(ValueError):
    """A matcher list that cannot be used (unknown op, bad regex, wrong shape)."""


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(f"(?:{pattern})\\Z", re.DOTALL)
    except re.error as exc:
        raise MatcherError(f"invalid regular expression {pattern!r}: {exc}") from exc


def validate_matchers(matchers: object) -> list[dict]:
    """The canonical form of a matcher list, or MatcherError saying what is wrong."""
    if not isinstance(matchers, list):
        raise MatcherError("matchers must be a list of {label, op, value}")
    out = []
    for i, m in enumerate(matchers):
        if not isinstance(m, Mapping) or not isinstance(m.get("label"), str) or not m.get("label"):
            raise MatcherError(f"matcher {i}: needs a non-empty 'label'")
        op = m.get("op", "=")
        if op not in OPS:
            raise MatcherError(f"matcher {i}: op must be one of {', '.join(OPS)}")
        value = m.get("value", "")
        if not isinstance(value, str):
            raise MatcherError(f"matcher {i}: 'value' must be a string")
        if op in ("=~", "!~"):
            _regex(value)
        out.append({"label": m["label"], "op": op, "value": value})
    return out


def matches(matchers: Iterable[Mapping], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds for ``labels`` (an empty list matches everything)."""
    for m in matchers:
        actual = str(labels.get(m.get("label", ""), ""))
        op, value = m.get("op", "="), str(m.get("value", ""))
        try:
            if op == "=":
                ok = actual == value
            elif op == "!=":
                ok = actual != value
            elif op == "=~":
                ok = _regex(value).match(actual) is not None
            elif op == "!~":
                ok = _regex(value).match(actual) is None
            else:
                ok = False
        except MatcherError:
            ok = False  # a stored rule with a broken regex never matches
        if not ok:
            return False
    return True


# --- cron (m h dom mon dow) -----------------------------------------------------------------

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(spec: str, lo: int, hi: int) -> set[int]:
    values: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            step = int(step_s)
            if step < 1:
                raise ValueError("step must be positive")
        if part in ("*", ""):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = end = int(part)
        if start < lo or end > hi or start > end:
            raise ValueError(f"{part} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return values


@lru_cache(maxsize=128)
def parse_cron(expr: str) -> tuple[set[int], ...]:
    """Five fields; day-of-week 0 or 7 is Sunday. ValueError when malformed."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError("a cron expression has five fields: m h dom mon dow")
    fields = [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True)]
    if 7 in fields[4]:
        fields[4] = (fields[4] - {7}) | {0}
    return tuple(fields)


def cron_matches(expr: str, at: datetime) -> bool:
    minute, hour, dom, month, dow = parse_cron(expr)
    return (at.minute in minute and at.hour in hour and at.day in dom and at.month in month
            and (at.isoweekday() % 7) in dow)


def window_active(*, starts_at: datetime, ends_at: datetime, cron: str, timezone: str,
                  duration_minutes: int | None, now: datetime) -> bool:
    """One-off: now within [starts_at, ends_at). Recurring: an occurrence started within duration_minutes."""
    if not (starts_at <= now < ends_at):
        return False
    if not cron:
        return True
    try:
        tz = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    span = max(1, min(duration_minutes or 60, 7 * 24 * 60))
    try:
        return any(cron_matches(cron, local - timedelta(minutes=back)) for back in range(span))
    except ValueError:
        return False

"""Report periods: ``7d`` (rolling, up to now), ``month:2026-11``, ``quarter:2026-Q4``, ``week:2026-W48``.

Calendar periods are whole UTC months, quarters and ISO weeks, ``[start, end)``.
A calendar period that has not ended yet is ``partial`` (its figures are so far);
one that has not started is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MAX_DAYS = 366
DEFAULT = "30d"
_ROLLING = re.compile(r"^([1-9][0-9]{0,2})d$")
_MONTH = re.compile(r"^month:([0-9]{4})-([0-9]{2})$")
_QUARTER = re.compile(r"^quarter:([0-9]{4})-Q([1-4])$")
_WEEK = re.compile(r"^week:([0-9]{4})-W([0-9]{2})$")
FORMS = "Nd (1–366, rolling up to now), month:YYYY-MM, quarter:YYYY-Qn, week:YYYY-Www (ISO week)"


class PeriodError(ValueError):
    """The period cannot be read (the API answers 400 problem+json with this message)."""


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime
    partial: bool = False  # the period is still running: figures so far

    def as_dict(self) -> dict:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "partial": self.partial}


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _calendar(label: str, start: date, end: date, now: datetime) -> Period:
    begins, ends = _midnight(start), _midnight(end)
    if begins > now:
        raise PeriodError(f"{label} has not started yet")
    return Period(label, begins, ends, partial=ends > now)


def parse_period(value: str | None, *, now: datetime) -> Period:
    """The period named by ``value`` (``DEFAULT`` when empty); ``PeriodError`` says why not."""
    text = (value or DEFAULT).strip()
    if len(text) > 40:
        raise PeriodError(f"period is too long; use {FORMS}")
    if m := _ROLLING.match(text):
        days = int(m.group(1))
        if days > MAX_DAYS:
            raise PeriodError(f"rolling periods are at most {MAX_DAYS} days")
        return Period(text, now - timedelta(days=days), now)
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12 or year < 2000:
            raise PeriodError(f"{text}: no such month")
        following = date(year + (month == 12), month % 12 + 1, 1)
        return _calendar(text, date(year, month, 1), following, now)
    if m := _QUARTER.match(text):
        year, quarter = int(m.group(1)), int(m.group(2))
        if year < 2000:
            raise PeriodError(f"{text}: no such quarter")
        first = 3 * (quarter - 1) + 1
        following = date(year + (quarter == 4), (first + 3 - 1) % 12 + 1, 1)
        return _calendar(text, date(year, first, 1), following, now)
    if m := _WEEK.match(text):
        year, week = int(m.group(1)), int(m.group(2))
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise PeriodError(f"{text}: no such ISO week") from exc
        if year < 2000:
            raise PeriodError(f"{text}: no such ISO week")
        return _calendar(text, monday, monday + timedelta(days=7), now)
    raise PeriodError(f"unknown period {text[:40]!r}; use {FORMS}")


def previous_week(now: datetime) -> str:
    """The label of the last ISO week that has ended before ``now``."""
    year, week, _ = (now.astimezone(UTC).date() - timedelta(days=7)).isocalendar()
    return f"week:{year}-W{week:02d}"

"""Window arithmetic (no database): SLO windows, default tiers, minute/hour splitting, corrections.

All times are aware UTC datetimes. A window is the half-open range ``[start, end)`` of minute
buckets, where ``end`` is the minute after the current one (the current minute counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
ROLLING_DAYS = {"7d": 7, "28d": 28, "30d": 30}
NOMINAL_DAYS = {"7d": 7, "28d": 28, "30d": 30, "calendar-month": 30, "calendar-quarter": 90}
# SRE Workbook / Sloth tiers for a 30-day window: (name, severity, long, short (minutes), factor)
DEFAULT_TIERS = (
    ("page-fast", "page", 60, 5, 14.4),
    ("page-slow", "page", 360, 30, 6.0),
    ("ticket-fast", "ticket", 1440, 120, 3.0),
    ("ticket-slow", "ticket", 4320, 360, 1.0),
)
# Windows shown as burn_rates in the status, beside the tiers' own windows
MINUTE_WINDOW_LIMIT = 6 * 60  # windows up to 6 h are summed from minute buckets directly


def floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def window_end(now: datetime) -> datetime:
    return floor_minute(now) + MINUTE


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def slo_window_start(window: str, tz: str, now: datetime) -> datetime:
    """Where the SLO window starts: ``now`` − N days, or midnight on the 1st of the month/quarter in ``tz``."""
    end = window_end(now)
    if window in ROLLING_DAYS:
        return end - timedelta(days=ROLLING_DAYS[window])
    local = now.astimezone(zone(tz))
    month = local.month if window == "calendar-month" else 3 * ((local.month - 1) // 3) + 1
    start = local.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC)


def window_minutes(window: str) -> int:
    return NOMINAL_DAYS[window] * 24 * 60


def default_tiers(window: str) -> list[tuple[str, str, int, int, float]]:
    """The 30-day tiers with their windows scaled to ``window`` (factors kept: same budget share)."""
    scale = NOMINAL_DAYS[window] / 30
    return [(name, sev, max(1, round(long * scale)), max(1, round(short * scale)), factor)
            for name, sev, long, short, factor in DEFAULT_TIERS]


def tier_problem(*, objective: float, factor: float, long_minutes: int, short_minutes: int) -> str | None:
    """Why a tier cannot work, or None. The highest burn possible is 1 / (1 − objective) (every event bad)."""
    if factor <= 0:
        return "the burn factor must be above 0"
    if short_minutes <= 0 or long_minutes <= 0:
        return "windows must be at least one minute"
    if short_minutes >= long_minutes:
        return f"the short window ({short_minutes} min) must be shorter than the long window ({long_minutes} min)"
    budget = 1 - objective / 100
    ceiling = 1 / budget
    if factor >= ceiling * (1 - 1e-9):  # a tier fires when the burn *exceeds* the factor
        return (f"a {objective:g}% SLO can never burn ×{factor:g}: with every event failing the burn rate is "
                f"×{ceiling:g} ({factor * budget:.0%} errors would be needed)")
    return None


def parse_duration(text: str) -> int:
    """'5m', '1h', '3d', '90' (minutes) → minutes."""
    text = str(text).strip().lower()
    units = {"m": 1, "h": 60, "d": 1440, "w": 10080}
    try:
        if text and text[-1] in units:
            value = int(text[:-1]) * units[text[-1]]
        else:
            value = int(text)
    except ValueError as exc:
        raise ValueError(f"cannot read the window {text!r} (use e.g. 5m, 1h, 3d)") from exc
    if value <= 0:
        raise ValueError(f"the window {text!r} must be positive")
    return value


def label(minutes: int) -> str:
    """60 → '1h', 4320 → '3d', 5 → '5m' (Prometheus duration spelling)."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


Range = tuple[datetime, datetime]


def subtract(ranges: list[Range], holes: list[Range]) -> list[Range]:
    out = []
    for s, e in ranges:
        parts = [(s, e)]
        for hs, he in holes:
            nxt = []
            for ps, pe in parts:
                if he <= ps or hs >= pe:
                    nxt.append((ps, pe))
                    continue
                if hs > ps:
                    nxt.append((ps, hs))
                if he < pe:
                    nxt.append((he, pe))
            parts = nxt
        out += parts
    return out


@dataclass
class Split:
    """A window as minute ranges (edges, corrected hours) and whole hours from the rollup."""

    minutes: list[Range]
    hours: list[Range]


def correction_holes(corrections: list[Range], start: datetime, end: datetime) -> list[Range]:
    """The corrections touching ``[start, end)`` as whole minutes: a minute a correction touches is excluded."""
    return [(floor_minute(s), floor_minute(e) + (MINUTE if e != floor_minute(e) else timedelta())) for s, e in
            corrections if e > start and s < end]


def split(start: datetime, end: datetime, corrections: list[Range]) -> Split:
    """Cut ``[start, end)`` into what the minute table must sum and what the hour table may sum."""
    holes = correction_holes(corrections, start, end)
    if (end - start) <= timedelta(minutes=MINUTE_WINDOW_LIMIT):
        return Split(minutes=subtract([(start, end)], holes), hours=[])
    h0, h1 = ceil_hour(start), floor_hour(end)
    minutes = [(start, h0), (h1, end)]
    hours: list[Range] = [(h0, h1)]
    if holes:
        # hours touched by a correction are summed from minutes (with the hole cut out)
        touched = []
        for hs, he in holes:
            a, b = max(floor_hour(hs), h0), min(ceil_hour(he), h1)
            if a < b:
                touched.append((a, b))
        hours = subtract(hours, touched)
        minutes += touched
    minutes = subtract([r for r in minutes if r[0] < r[1]], holes)
    return Split(minutes=[r for r in minutes if r[0] < r[1]], hours=[r for r in hours if r[0] < r[1]])

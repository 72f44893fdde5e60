"""Synthetic SLI traffic for ``manage.py simulate --slis SLUG``: realistic good/total per minute.

Traffic follows a day curve with noise; errors are drawn per event-minute around the chosen
error rate (binomial by normal approximation), so a 2 % rate on a 99.9 % SLO burns ×20.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta


def minute_counts(rng: random.Random, at: datetime, *, per_minute: int, error_rate: float) -> tuple[int, int]:
    daily = 0.6 + 0.4 * math.sin((at.hour + at.minute / 60 - 6) / 24 * 2 * math.pi)  # busiest mid-afternoon
    total = max(0, int(rng.gauss(per_minute * daily, per_minute * 0.05)))
    mean = total * error_rate
    bad = min(total, max(0, round(rng.gauss(mean, math.sqrt(max(mean * (1 - error_rate), 0.0))))))
    return total - bad, total


def event_batches(*, start: datetime, minutes: int, per_minute: int, error_rate: float, batch: int,
                  seed: int | None = None) -> list[dict]:
    """``{"events": [...]}`` bodies covering ``minutes`` minutes from ``start``, ``batch`` minutes each."""
    rng = random.Random(seed)
    events = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        good, total = minute_counts(rng, at, per_minute=per_minute, error_rate=error_rate)
        events.append({"minute": at.isoformat().replace("+00:00", "Z"), "good": good, "total": total})
    return [{"events": events[i:i + batch]} for i in range(0, len(events), batch)]

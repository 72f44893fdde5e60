"""One SLO's numbers at an instant (reads only): window sums, burn rates, budget, tier verdicts.

Windows up to 6 h are summed from minute buckets; longer ones from the hourly rollup plus the
partial hours at their edges (and minutes of hours a correction touches). Per SLO that is three
queries whatever its window: the cost of a cycle grows with the number of SLOs, not of buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max, Q, Sum

from reliability.slos import windows
from reliability.slos.models import SLO, SLIBucket, SLIHour
from reliability.slos.windows import Split


@dataclass
class TierVerdict:
    tier_id: int
    name: str
    severity: str
    long_minutes: int
    short_minutes: int
    factor: float
    burn_long: float | None
    burn_short: float | None
    enough: bool  # the low-traffic guard passed in both windows
    over: bool  # both windows above the factor


@dataclass
class Evaluation:
    slo_id: int
    now: datetime
    window_start: datetime
    good: int
    total: int
    sli: float | None
    budget_remaining: float | None
    burn_rates: dict[str, float | None]
    tiers: list[TierVerdict] = field(default_factory=list)
    exhaustion_at: datetime | None = None
    last_bucket_at: datetime | None = None
    absent: bool = False
    enough: bool = False

    @property
    def state(self) -> str:
        if not self.enough:
            return "insufficient_data"
        if self.budget_remaining is not None and self.budget_remaining <= 0:
            return "exhausted"
        return "burning" if any(t.over and t.enough for t in self.tiers) else "ok"


def _ranges_q(field_name: str, ranges) -> Q:
    q = Q()
    for a, b in ranges:
        q |= Q(**{f"{field_name}__gte": a, f"{field_name}__lt": b})
    return q


def window_sums(slo_id: int, splits: dict[str, Split]) -> dict[str, tuple[int, int]]:
    """key → (good, total) for each split, in one minute query and one hour query."""
    minute_aggs, hour_aggs, minute_all, hour_all = {}, {}, [], []
    for i, sp in enumerate(splits.values()):
        if sp.minutes:
            q = _ranges_q("minute", sp.minutes)
            minute_aggs[f"g{i}"], minute_aggs[f"t{i}"] = Sum("good", filter=q), Sum("total", filter=q)
            minute_all += sp.minutes
        if sp.hours:
            q = _ranges_q("hour", sp.hours)
            hour_aggs[f"g{i}"], hour_aggs[f"t{i}"] = Sum("good", filter=q), Sum("total", filter=q)
            hour_all += sp.hours
    m = SLIBucket.objects.filter(_ranges_q("minute", set(minute_all)), slo_id=slo_id).aggregate(**minute_aggs) \
        if minute_aggs else {}
    h = SLIHour.objects.filter(_ranges_q("hour", set(hour_all)), slo_id=slo_id).aggregate(**hour_aggs) \
        if hour_aggs else {}
    out = {}
    for i, key in enumerate(splits):
        good = (m.get(f"g{i}") or 0) + (h.get(f"g{i}") or 0)
        total = (m.get(f"t{i}") or 0) + (h.get(f"t{i}") or 0)
        out[key] = (int(good), int(total))
    return out


def burn(good: int, total: int, error_budget: float) -> float | None:
    if total <= 0:
        return None
    return (1 - good / total) / error_budget


def _timeslice_budget(slo: SLO, start: datetime, end: datetime, corrections) -> tuple[int, int]:
    """(good slices, counted slices) for timeslice budgeting (slices without events are not counted)."""
    length = max(1, slo.timeslice_minutes)
    target = float(slo.timeslice_target) / 100
    rows = SLIBucket.objects.filter(slo_id=slo.pk, minute__gte=start, minute__lt=end).values_list("minute", "good", "total")
    slices: dict[int, list[int]] = {}
    for minute, good, total in rows:
        if any(a <= minute < b for a, b in corrections):
            continue
        idx = int((minute - start).total_seconds() // 60) // length
        acc = slices.setdefault(idx, [0, 0])
        acc[0] += good
        acc[1] += total
    counted = [s for s in slices.values() if s[1] > 0]
    return sum(1 for g, t in counted if g / t >= target), len(counted)


def evaluate_slo(slo: SLO, tiers, corrections: list[tuple[datetime, datetime]], *, min_events: int,
                 absent_minutes: int, now: datetime) -> Evaluation:
    """The SLO's numbers at ``now`` (``tiers`` and ``corrections`` prefetched by the caller)."""
    end = windows.window_end(now)
    start = windows.slo_window_start(slo.window, slo.timezone, now)
    eb = slo.error_budget
    splits = {"budget": windows.split(start, end, corrections)}
    wanted = sorted({m for t in tiers for m in (t.long_window_minutes, t.short_window_minutes)})
    for minutes in wanted:
        splits[f"w{minutes}"] = windows.split(end - timedelta(minutes=minutes), end, corrections)
    sums = window_sums(slo.pk, splits)
    good, total = sums["budget"]
    enough = total >= min_events
    budget = None
    if enough:
        if slo.budgeting == SLO.Budgeting.TIMESLICES:
            good_slices, slices = _timeslice_budget(slo, start, end, corrections)
            budget = 1 - ((slices - good_slices) / slices) / eb if slices else None
        else:
            budget = 1 - ((total - good) / total) / eb
    burn_rates = {windows.label(m): burn(*sums[f"w{m}"], eb) for m in wanted}
    verdicts = []
    for t in tiers:
        gl, tl = sums[f"w{t.long_window_minutes}"]
        gs, ts = sums[f"w{t.short_window_minutes}"]
        bl, bs = burn(gl, tl, eb), burn(gs, ts, eb)
        # the guard: min_events in the long window, its share in the short one (at least one event)
        short_min = max(1, -(-min_events * t.short_window_minutes // t.long_window_minutes))
        ok_traffic = tl >= min_events and ts >= short_min
        verdicts.append(TierVerdict(
            tier_id=t.pk, name=t.name, severity=t.severity, long_minutes=t.long_window_minutes,
            short_minutes=t.short_window_minutes, factor=t.factor, burn_long=bl, burn_short=bs, enough=ok_traffic,
            over=ok_traffic and bl is not None and bs is not None and bl > t.factor and bs > t.factor))
    last = SLIBucket.objects.filter(slo_id=slo.pk).aggregate(m=Max("minute"))["m"]
    since = last + windows.MINUTE if last is not None else slo.created_at
    absent = absent_minutes > 0 and since is not None and now - since > timedelta(minutes=absent_minutes)
    exhaustion = None
    one_hour = burn_rates.get("1h") if "1h" in burn_rates else burn(*window_sums(slo.pk, {
        "h": windows.split(end - windows.HOUR, end, corrections)})["h"], eb)
    burn_rates.setdefault("1h", one_hour)
    if budget is not None and budget > 0 and one_hour:
        exhaustion = now + timedelta(minutes=budget * windows.window_minutes(slo.window) / one_hour)
    return Evaluation(slo_id=slo.pk, now=now, window_start=start, good=good, total=total,
                      sli=(good / total if total else None), budget_remaining=budget, burn_rates=burn_rates,
                      tiers=verdicts, exhaustion_at=exhaustion, last_bucket_at=last, absent=absent, enough=enough)

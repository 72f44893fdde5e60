"""One SLO's numbers at an instant (reads only): window sums, burn rates, budget, tier verdicts.

Windows up to 6 h are summed from minute buckets; longer ones from the hourly rollup plus the
partial hours at their edges (and minutes of hours a correction touches). A cycle reads every
SLO's sums in two grouped queries (``batch_sums``) and their newest buckets in one (``last_buckets``),
whatever their windows: the cost grows with the number of SLOs, not of buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Sum

from reliability.slos import windows
from reliability.slos.models import SLO, SLIBucket, SLIHour
from reliability.slos.windows import Range, Split


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


def window_sums(slo_id: int, splits: dict[str, Split]) -> dict[str, tuple[int, int]]:
    """key → (good, total) for each split of one SLO (see ``batch_sums``)."""
    return batch_sums([(slo_id, splits)])[0]


def _union(ranges) -> list[Range]:
    """The union of half-open ranges, sorted and disjoint (a bucket in two ranges of a split counts once)."""
    out: list[Range] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _range_sums(table: str, column: str, rows: list[tuple[int, int, datetime, datetime]]) -> dict[int, tuple[int, int]]:
    """k → (good, total) summed over ``table`` rows of ``slo_id`` in ``[a, b)``, for (k, slo_id, a, b) rows."""
    if not rows:
        return {}
    if connection.vendor != "postgresql":
        return _range_sums_portable(table, column, rows)
    ks, ids, starts, ends = (list(c) for c in zip(*rows, strict=True))
    sql = (f"SELECT r.k, SUM(t.good), SUM(t.total) FROM unnest(%s::int[], %s::bigint[], %s::timestamptz[], "
           f"%s::timestamptz[]) AS r(k, slo_id, a, b) JOIN {table} t ON t.slo_id = r.slo_id AND t.{column} >= r.a "
           f"AND t.{column} < r.b GROUP BY r.k")
    with connection.cursor() as c:
        c.execute(sql, [ks, ids, starts, ends])
        return {k: (int(g or 0), int(t or 0)) for k, g, t in c.fetchall()}


def _range_sums_portable(table: str, column: str, rows) -> dict[int, tuple[int, int]]:
    """The embedded default (SQLite, a handful of SLOs): one grouped sum per range through the ORM."""
    model = SLIBucket if table == SLIBucket._meta.db_table else SLIHour
    out: dict[int, tuple[int, int]] = {}
    for k, slo_id, a, b in rows:
        sums = model.objects.filter(slo_id=slo_id, **{f"{column}__gte": a, f"{column}__lt": b}).aggregate(
            g=Sum("good"), t=Sum("total"))
        g, t = out.get(k, (0, 0))
        out[k] = (g + int(sums["g"] or 0), t + int(sums["t"] or 0))
    return out


def batch_sums(requests: list[tuple[int, dict[str, Split]]]) -> list[dict[str, tuple[int, int]]]:
    """For each (slo_id, splits): key → (good, total). Two queries for all of them (minutes, hours).

    Each split's minute ranges and hour ranges are merged into disjoint ranges and joined
    against the (slo, minute) / (slo, hour) unique indexes: a grouped sum per split.
    """
    keys: list[tuple[int, str]] = []
    minute_rows, hour_rows = [], []
    for i, (slo_id, splits) in enumerate(requests):
        for key, sp in splits.items():
            k = len(keys)
            keys.append((i, key))
            minute_rows += [(k, slo_id, a, b) for a, b in _union(sp.minutes)]
            hour_rows += [(k, slo_id, a, b) for a, b in _union(sp.hours)]
    m = _range_sums(SLIBucket._meta.db_table, "minute", minute_rows)
    h = _range_sums(SLIHour._meta.db_table, "hour", hour_rows)
    out: list[dict[str, tuple[int, int]]] = [{} for _ in requests]
    for k, (i, key) in enumerate(keys):
        mg, mt = m.get(k, (0, 0))
        hg, ht = h.get(k, (0, 0))
        out[i][key] = (mg + hg, mt + ht)
    return out


def last_buckets(slo_ids: list[int]) -> dict[int, datetime | None]:
    """slo_id → its newest minute bucket (one backward index probe per SLO, one query)."""
    if not slo_ids:
        return {}
    if connection.vendor != "postgresql":
        newest = dict(SLIBucket.objects.filter(slo_id__in=slo_ids).values("slo_id").annotate(m=Max("minute"))
                      .order_by().values_list("slo_id", "m"))
        return {s: newest.get(s) for s in slo_ids}
    sql = (f"SELECT s, (SELECT MAX(minute) FROM {SLIBucket._meta.db_table} WHERE slo_id = s) "
           "FROM unnest(%s::bigint[]) AS s")
    with connection.cursor() as c:
        c.execute(sql, [list(slo_ids)])
        return dict(c.fetchall())


def burn(good: int, total: int, error_budget: float) -> float | None:
    if total <= 0:
        return None
    return (1 - good / total) / error_budget


def _timeslice_budget(slo: SLO, start: datetime, end: datetime, corrections) -> tuple[int, int]:
    """(good slices, counted slices) for timeslice budgeting over ``[start, end)``.

    Slices of ``timeslice_minutes`` are aligned to the Unix epoch, not to the window start, so a
    slice keeps its verdict while a rolling window moves; the window's edge slices count with their
    minutes inside it. A slice is good when good / total ≥ ``timeslice_target`` (compared exactly,
    in integers and decimals). Minutes a correction touches are removed; a slice left without
    events is not counted, neither good nor bad.
    """
    length = max(1, int(slo.timeslice_minutes))
    target = Decimal(str(slo.timeslice_target))
    holes = windows.correction_holes(corrections, start, end)
    sums = _slice_sums(slo.pk, length, start, end, holes)
    counted = [(g, t) for g, t in sums if t > 0]
    return sum(1 for g, t in counted if g * 100 >= target * t), len(counted)


def _slice_sums(slo_id: int, length: int, start: datetime, end: datetime, holes: list[Range]) -> list[tuple[int, int]]:
    """(good, total) per slice of ``length`` minutes with buckets in ``[start, end)`` outside ``holes``."""
    if connection.vendor != "postgresql":  # the embedded default: the window's buckets summed here
        slices: dict[int, list[int]] = {}
        for minute, good, total in SLIBucket.objects.filter(slo_id=slo_id, minute__gte=start, minute__lt=end) \
                .values_list("minute", "good", "total"):
            if any(a <= minute < b for a, b in holes):
                continue
            acc = slices.setdefault(int(minute.timestamp()) // 60 // length, [0, 0])
            acc[0] += good
            acc[1] += total
        return [(g, t) for g, t in slices.values()]
    sql = (f"SELECT SUM(good), SUM(total) FROM {SLIBucket._meta.db_table} WHERE slo_id = %s AND minute >= %s "
           "AND minute < %s AND NOT EXISTS (SELECT 1 FROM unnest(%s::timestamptz[], %s::timestamptz[]) AS h(a, b) "
           "WHERE minute >= h.a AND minute < h.b) GROUP BY floor(extract(epoch FROM minute) / 60 / %s)")
    with connection.cursor() as c:
        c.execute(sql, [slo_id, start, end, [a for a, _ in holes], [b for _, b in holes], length])
        return [(int(g), int(t)) for g, t in c.fetchall()]


_UNSET = object()


def plan(slo: SLO, tiers, corrections: list[tuple[datetime, datetime]], now: datetime) -> dict[str, Split]:
    """The splits ``evaluate_slo`` needs summed: the SLO window, each tier window, and 1 h (for exhaustion)."""
    end = windows.window_end(now)
    start = windows.slo_window_start(slo.window, slo.timezone, now)
    splits = {"budget": windows.split(start, end, corrections)}
    for minutes in sorted({m for t in tiers for m in (t.long_window_minutes, t.short_window_minutes)} | {60}):
        splits[f"w{minutes}"] = windows.split(end - timedelta(minutes=minutes), end, corrections)
    return splits


def evaluate_slo(slo: SLO, tiers, corrections: list[tuple[datetime, datetime]], *, min_events: int,
                 absent_minutes: int, now: datetime, sums: dict[str, tuple[int, int]] | None = None,
                 last=_UNSET) -> Evaluation:
    """The SLO's numbers at ``now`` (``tiers`` and ``corrections`` prefetched by the caller).

    ``sums`` (from ``batch_sums`` over ``plan``) and ``last`` (from ``last_buckets``) let a cycle
    read every SLO's numbers in three queries; without them they are read for this SLO alone.
    """
    end = windows.window_end(now)
    start = windows.slo_window_start(slo.window, slo.timezone, now)
    eb = slo.error_budget
    wanted = sorted({m for t in tiers for m in (t.long_window_minutes, t.short_window_minutes)})
    if sums is None:
        sums = window_sums(slo.pk, plan(slo, tiers, corrections, now))
    good, total = sums["budget"]
    enough = total > 0 and total >= min_events  # min_events may be 0: no events is still no data
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
    if last is _UNSET:
        last = last_buckets([slo.pk]).get(slo.pk)
    since = last + windows.MINUTE if last is not None else slo.created_at
    absent = absent_minutes > 0 and since is not None and now - since > timedelta(minutes=absent_minutes)
    exhaustion = None
    one_hour = burn_rates.get("1h") if "1h" in burn_rates else burn(*sums["w60"], eb)
    burn_rates.setdefault("1h", one_hour)
    if budget is not None and budget > 0 and one_hour:
        exhaustion = now + timedelta(minutes=budget * windows.window_minutes(slo.window) / one_hour)
    return Evaluation(slo_id=slo.pk, now=now, window_start=start, good=good, total=total,
                      sli=(good / total if total else None), budget_remaining=budget, burn_rates=burn_rates,
                      tiers=verdicts, exhaustion_at=exhaustion, last_bucket_at=last, absent=absent, enough=enough)

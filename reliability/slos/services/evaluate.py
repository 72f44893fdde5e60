"""The evaluation cycle (beat, every minute): statuses, tier transitions and their incidents.

Per SLO the numbers come from ``evaluation.evaluate_slo`` (reads). The statuses and tiers'
burn figures are bookkeeping, written in bulk without audit. A tier's transition to firing or
back, and the absent-data alarm, are state that matters: each is its own transaction with
one audit entry and one outbox event, and raises or clears an alert of source ``portal``
through ``alerts_ingest`` (page tiers severity ``critical`` → P1, pages; ticket tiers ``info``
→ P3, never pages; absent data ``warning``).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.slos import windows
from reliability.slos.evaluation import Evaluation, TierVerdict, batch_sums, evaluate_slo, last_buckets, plan
from reliability.slos.models import SLO, BudgetCorrection, BurnTier, SLOStatus
from reliability.slos.names import Action, Event

log = logging.getLogger(__name__)
SYSTEM = Actor.for_system("slos:evaluator")
SEVERITY_LABEL = {BurnTier.Severity.PAGE: "critical", BurnTier.Severity.TICKET: "info"}
CHUNK = 500  # SLOs whose sums are read in one pair of grouped queries
_STATUS_COLUMNS = [("id", "bigint"), ("state", "text"), ("budget_remaining", "float8"), ("sli", "float8"),
                   ("good", "bigint"), ("total", "bigint"), ("burn_rates", "text"), ("window_start", "timestamptz"),
                   ("exhaustion_at", "timestamptz"), ("last_bucket_at", "timestamptz"), ("evaluated_at", "timestamptz")]
_TIER_COLUMNS = [("id", "bigint"), ("state", "text"), ("pending_since", "timestamptz"), ("burn_long", "float8"),
                 ("burn_short", "float8")]


def _slos(slo_ids):
    qs = SLO.objects.select_related("service", "policy", "status").prefetch_related(
        Prefetch("policy__tiers", queryset=BurnTier.objects.order_by("long_window_minutes")))
    return qs.filter(pk__in=slo_ids) if slo_ids is not None else qs


def _fmt(rate: float | None) -> str:
    return "n/a" if rate is None else f"×{rate:.2f}"


def _alert(slo: SLO, key: str, *, fires: bool, labels: dict, summary: str, description: str, now: datetime,
           actor: Actor = SYSTEM) -> None:
    from reliability.incidents.models import AlertSource
    from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

    labels = {"source": "portal", "slo": slo.slug, "service": slo.service.name, **labels}
    annotations = {"summary": summary, "description": description}
    alert = AlertIn(fingerprint=f"slo:{slo.slug}:{key}", status="firing" if fires else "resolved", labels=labels,
                    annotations=annotations, starts_at=now, ends_at=None if fires else now)
    group_key = f"portal:slo:{slo.slug}:{labels['severity']}"
    group = GroupIn(source=AlertSource.PORTAL, group_key=group_key, alerts=[alert], group_labels=labels,
                    common_labels=labels, common_annotations=annotations, title=summary)
    alerts_ingest(group=group, actor=actor, source="portal")


@transaction.atomic
def tier_transition(*, tier_id: int, verdict: TierVerdict, evaluation: Evaluation, fires: bool,
                    actor: Actor = SYSTEM) -> BurnTier:
    """A tier starts or stops firing: its row, one audit entry, one outbox event, and its portal alert."""
    tier = BurnTier.objects.select_for_update(of=("self",)).select_related("policy__slo__service").get(pk=tier_id)
    slo, now = tier.policy.slo, evaluation.now
    before = tier.state
    if fires:
        tier.state, tier.firing_since = BurnTier.State.FIRING, tier.firing_since or now
    else:
        tier.state = BurnTier.State.OK if verdict.enough else BurnTier.State.INSUFFICIENT
        tier.firing_since = tier.pending_since = None
    tier.burn_long, tier.burn_short = verdict.burn_long, verdict.burn_short
    tier.save(update_fields=["state", "firing_since", "pending_since", "burn_long", "burn_short"])
    windows_text = f"{windows.label(tier.long_window_minutes)}/{windows.label(tier.short_window_minutes)}"
    data = {"slug": slo.slug, "tier": tier.name, "severity": tier.severity, "windows": windows_text,
            "factor": tier.factor, "burn_long": verdict.burn_long, "burn_short": verdict.burn_short,
            "budget_remaining": evaluation.budget_remaining,
            "exhaustion_at": evaluation.exhaustion_at.isoformat() if evaluation.exhaustion_at else None}
    audit_record(actor=actor, action=Action.TIER_FIRE if fires else Action.TIER_RECOVER, target=tier,
                 changes={"state": [before, tier.state], "burn_long": [None, verdict.burn_long],
                          "burn_short": [None, verdict.burn_short]}, source="task")
    emit(Event.TIER_FIRING if fires else Event.TIER_RECOVERED, slo, data)
    exhaustion = evaluation.exhaustion_at.strftime("%Y-%m-%d %H:%M UTC") if evaluation.exhaustion_at else "not at this rate"
    budget = "n/a" if evaluation.budget_remaining is None else f"{evaluation.budget_remaining:.1%}"
    _alert(slo, tier.name, fires=fires, now=now, actor=actor,
           labels={"alertname": "SLOErrorBudgetBurn", "severity": SEVERITY_LABEL[tier.severity], "tier": tier.name,
                   "long_window": windows.label(tier.long_window_minutes),
                   "short_window": windows.label(tier.short_window_minutes)},
           summary=f"SLO {slo.slug} burns its error budget ({tier.name}: {_fmt(verdict.burn_long)} over "
                   f"{windows.label(tier.long_window_minutes)})",
           description=(f"burn {_fmt(verdict.burn_long)} over {windows.label(tier.long_window_minutes)} and "
                        f"{_fmt(verdict.burn_short)} over {windows.label(tier.short_window_minutes)} (factor "
                        f"×{tier.factor:g}); budget remaining {budget}; exhaustion {exhaustion}"))
    return tier


@transaction.atomic
def absent_transition(*, slo_id: int, evaluation: Evaluation, actor: Actor = SYSTEM) -> None:
    status = SLOStatus.objects.select_for_update(of=("self",)).select_related("slo__service").get(slo_id=slo_id)
    slo, fires = status.slo, evaluation.absent
    status.absent = fires
    status.save(update_fields=["absent"])
    last = evaluation.last_bucket_at.isoformat() if evaluation.last_bucket_at else None
    audit_record(actor=actor, action=Action.ABSENT_FIRE if fires else Action.ABSENT_RECOVER, target=slo,
                 changes={"absent": [not fires, fires], "last_bucket_at": [None, last]}, source="task")
    emit(Event.DATA_ABSENT if fires else Event.DATA_RESUMED, slo, {"slug": slo.slug, "last_bucket_at": last})
    _alert(slo, "absent", fires=fires, now=evaluation.now, actor=actor,
           labels={"alertname": "SLOSLIDataAbsent", "severity": "warning"},
           summary=f"SLO {slo.slug}: no SLI data since {last or 'ever'}",
           description=f"no bucket for more than {slo.policy.absent_minutes} minutes; pushes stopped?")


def _next_state(tier: BurnTier, verdict: TierVerdict, now: datetime) -> tuple[str, datetime | None]:
    """(state, pending_since) the tier should be in now (``for`` respected)."""
    if not verdict.over:
        if tier.state == BurnTier.State.FIRING:
            return "recover", None
        return (BurnTier.State.OK if verdict.enough else BurnTier.State.INSUFFICIENT), None
    if tier.state == BurnTier.State.FIRING:
        return BurnTier.State.FIRING, tier.pending_since
    since = tier.pending_since or now
    if now - since >= timedelta(seconds=tier.for_seconds):
        return "fire", since
    return BurnTier.State.PENDING, since


def slos_evaluate(*, now: datetime | None = None, slo_ids: list[int] | None = None, actor: Actor = SYSTEM) -> dict:
    """One cycle over every SLO (or ``slo_ids``). Returns counts and the cycle's duration."""
    from reliability.slos import metrics

    started = time.perf_counter()
    now = now or timezone.now()
    corrections: dict[int, list[tuple[datetime, datetime]]] = {}
    oldest = now - timedelta(days=93)
    for slo_id, a, b in BudgetCorrection.objects.filter(ends_at__gt=oldest).values_list("slo_id", "starts_at", "ends_at"):
        corrections.setdefault(slo_id, []).append((a, b))
    statuses, tiers_dirty, transitions, absents = [], [], [], []
    evaluated = 0
    slos = list(_slos(slo_ids))
    for chunk_at in range(0, len(slos), CHUNK):
        planned = []  # (slo, tiers, splits): SLOs whose windows could be planned
        for slo in slos[chunk_at:chunk_at + CHUNK]:
            tiers = list(slo.policy.tiers.all())
            try:
                planned.append((slo, tiers, plan(slo, tiers, corrections.get(slo.pk, []), now)))
            except Exception:  # one broken SLO (a bad time zone in old data) must not stop the cycle
                log.exception("evaluating SLO %s failed", slo.slug)
        all_sums = batch_sums([(slo.pk, splits) for slo, _, splits in planned])
        lasts = last_buckets([slo.pk for slo, _, _ in planned])
        for (slo, tiers, _), sums in zip(planned, all_sums, strict=True):
            policy = slo.policy
            try:
                ev = evaluate_slo(slo, tiers, corrections.get(slo.pk, []), min_events=policy.min_events,
                                  absent_minutes=policy.absent_minutes, now=now, sums=sums, last=lasts.get(slo.pk))
            except Exception:  # one broken SLO must not stop the cycle
                log.exception("evaluating SLO %s failed", slo.slug)
                continue
            evaluated += 1
            statuses.append((slo.status, ev))
            if ev.absent != slo.status.absent:
                absents.append((slo.pk, ev))
            for tier, verdict in zip(tiers, ev.tiers, strict=True):
                nxt, pending = _next_state(tier, verdict, now)
                before = (tier.state, tier.pending_since, tier.burn_long, tier.burn_short)
                if nxt == "fire":
                    tier.pending_since = pending
                    transitions.append((tier.pk, verdict, ev, True))
                elif nxt == "recover":
                    transitions.append((tier.pk, verdict, ev, False))
                else:
                    tier.state, tier.pending_since = nxt, pending
                tier.burn_long, tier.burn_short = verdict.burn_long, verdict.burn_short
                if (tier.state, tier.pending_since, tier.burn_long, tier.burn_short) != before:
                    tiers_dirty.append(tier)  # unchanged tiers are not rewritten
            metrics.observe_status(slo.slug, ev)
    _write_bookkeeping(statuses, tiers_dirty)
    for tier_id, verdict, ev, fires in transitions:
        tier_transition(tier_id=tier_id, verdict=verdict, evaluation=ev, fires=fires, actor=actor)
    for slo_id, ev in absents:
        absent_transition(slo_id=slo_id, evaluation=ev, actor=actor)
    _announce(evaluated, now)
    elapsed = time.perf_counter() - started
    metrics.EVALUATION_SECONDS.observe(elapsed)
    return {"evaluated": evaluated, "transitions": len(transitions), "absent_changes": len(absents),
            "seconds": round(elapsed, 4)}


@transaction.atomic
def _write_bookkeeping(statuses: list[tuple[SLOStatus, Evaluation]], tiers: list[BurnTier]) -> None:
    """Every status and the changed tiers, one ``UPDATE … FROM unnest(…)`` each.

    Bookkeeping, not state changes (no audit, no outbox: see the module docstring). Raw SQL because
    ``bulk_update``'s CASE WHEN per row and field cost 20 ms of ORM compilation per SLO.
    """
    if statuses:
        cols = list(zip(*[(st.pk, ev.state, ev.budget_remaining, ev.sli, ev.good, ev.total, json.dumps(ev.burn_rates),
                           ev.window_start, ev.exhaustion_at, ev.last_bucket_at, ev.now) for st, ev in statuses],
                        strict=True))
        _update_from_arrays(SLOStatus._meta.db_table, _STATUS_COLUMNS, [list(c) for c in cols])
    # tiers about to transition are written by their transition (it locks the row)
    if tiers:
        cols = list(zip(*[(t.pk, t.state, t.pending_since, t.burn_long, t.burn_short) for t in tiers], strict=True))
        _update_from_arrays(BurnTier._meta.db_table, _TIER_COLUMNS, [list(c) for c in cols])


def _update_from_arrays(table: str, columns: list[tuple[str, str]], values: list[list]) -> None:
    """``UPDATE table SET col = v.col … FROM unnest(arrays) v WHERE table.id = v.id`` (columns[0] is the id)."""
    if connection.vendor != "postgresql":  # the embedded default: a row at a time (a handful of SLOs)
        names = [name for name, _ in columns]
        with connection.cursor() as c:
            c.executemany(f"UPDATE {table} SET {', '.join(f'{n} = %s' for n in names[1:])} WHERE id = %s",
                          [[connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
                            for v in row[1:]] + [row[0]] for row in zip(*values, strict=True)])
        return
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
    names = ", ".join(name for name, _ in columns)
    sets = ", ".join(f"{name} = v.{name}::{'jsonb' if kind == 'text' and name == 'burn_rates' else kind}"
                     for name, kind in columns[1:])
    with connection.cursor() as c:
        c.execute(f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t.id = v.id", values)


@transaction.atomic
def _announce(evaluated: int, now: datetime) -> None:
    """One live event per cycle: the SLO pages re-fetch their fragments (no audit: nothing changed by hand)."""
    emit(Event.EVALUATED, ("slos.cycle", now.strftime("%Y%m%d%H%M")), {"evaluated": evaluated, "at": now.isoformat()})

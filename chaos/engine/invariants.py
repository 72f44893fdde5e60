"""Steady-state snapshots and the invariants every run is judged by (reads only)."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from chaos.scenarios.base import Invariant, RunContext


def breaker_states(names: list[str]) -> dict[str, str]:
    from reliability.breakers.models import CircuitBreaker

    return dict(CircuitBreaker.objects.filter(name__in=names).values_list("name", "state"))


def breaker_opened_during(ctx: RunContext) -> list[str]:
    from reliability.breakers.models import BreakerTransition

    return sorted(set(BreakerTransition.objects.filter(
        breaker__name__in=ctx.targets, to_state__in=("open", "forced_open"), at__gte=ctx.started_at,
    ).values_list("breaker__name", flat=True)))


def steady_state_snapshot(ctx: RunContext) -> dict:
    from reliability.incidents.models import Incident
    from reliability.webhooks.models import Delivery, WebhookFailure

    open_incidents = dict(Incident.objects.exclude(status="resolved").values_list("severity").annotate(n=Count("id")))
    return {
        "open_incidents": open_incidents,
        "breakers": breaker_states(ctx.targets),
        "deliveries_pending": Delivery.objects.filter(status__in=("pending", "in_flight", "failed")).count(),
        "dlq_depth": WebhookFailure.objects.filter(resolved_at__isnull=True).count(),
        "at": timezone.now().isoformat(),
    }


def _faults_removed(ctx: RunContext) -> Invariant:
    from chaos.models import ChaosFault
    from reliability import faults

    live = list(ChaosFault.objects.filter(run_id=ctx.run_id, removed_at__isnull=True).values_list("target", flat=True))
    tagged = [f.target for f in faults.faults_active() if f.tag == ctx.tag]
    left = sorted(set(live) | set(tagged))
    return Invariant("every fault removed", not left, 3, ", ".join(left))


def _webhooks_accounted(ctx: RunContext) -> Invariant:
    from reliability.webhooks.models import Delivery

    open_ = Delivery.objects.filter(event__received_at__gte=ctx.started_at).exclude(status__in=("delivered", "dead"))
    count = open_.count()
    return Invariant("every webhook accepted during the drill delivered or in the DLQ", count == 0, 3,
                     f"{count} deliveries still pending" if count else "")


def _no_duplicate_deliveries(ctx: RunContext) -> Invariant:
    from reliability.webhooks.models import Delivery

    dupes = list(Delivery.objects.filter(event__received_at__gte=ctx.started_at)
                 .annotate(ok=Count("attempt_log", filter=Q(attempt_log__result="success"))).filter(ok__gt=1)
                 .values_list("pk", flat=True)[:10])
    detail = f"deliveries sent successfully twice: {dupes}" if dupes else ""
    sink = (ctx.parameters.get("sink") or ctx.scratch.get("sink") or "")
    if sink:
        from reliability.webhooks.views.sink import sink_log

        twice = [i for i, n in sink_log.received(sink).items() if n > 1]
        if twice:
            dupes = dupes or twice
            detail += f" webhook-ids seen twice at sink {sink}: {twice[:5]}"
    return Invariant("no duplicate delivery (one success per event and destination)", not dupes, 3, detail.strip())


def _breakers_closed(ctx: RunContext) -> Invariant:
    states = breaker_states(ctx.targets)
    bad = {n: s for n, s in states.items() if s not in ("closed", "disabled")}
    return Invariant("breakers back to closed", not bad, 2, str(bad) if bad else "")


def _expected_incident(ctx: RunContext) -> Invariant | None:
    expected = (ctx.scratch.get("steady_state") or {}).get("expect_incident")
    if not expected or ctx.dry_run:
        return None
    from chaos.engine.hints import hinted_incident_ids
    from reliability.incidents.models import Incident

    found = Incident.objects.filter(started_at__gte=ctx.started_at).filter(
        Q(title__icontains=expected) | Q(group_key__icontains=expected)).order_by("id")
    opened = list(found[:5])
    resolved = [i for i in opened if i.status == "resolved"]
    hinted_ids = hinted_incident_ids(ctx)
    hinted = [i for i in opened if i.pk in hinted_ids]  # each must name this run's fault (root-cause hint)
    ok = bool(opened) and len(resolved) == len(opened) == len(hinted)
    return Invariant(f"expected incident '{expected}' opened (with a root-cause hint naming the fault) and resolved",
                     ok, 2, f"{len(opened)} opened, {len(hinted)} with the hint, {len(resolved)} resolved")


def audit_chain_intact() -> Invariant:
    from audit.selectors import audit_chain_verify

    report = audit_chain_verify()
    return Invariant("audit chain unbroken", report.broken is None, 2, str(report.broken) if report.broken else "")


def common_invariants(ctx: RunContext) -> list[Invariant]:
    found = [_faults_removed(ctx), _webhooks_accounted(ctx), _no_duplicate_deliveries(ctx), _breakers_closed(ctx)]
    incident = _expected_incident(ctx)
    return found + ([incident] if incident else [])

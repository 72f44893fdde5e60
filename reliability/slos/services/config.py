"""SLO configuration: create, update, delete, tiers and budget corrections (row + audit + outbox)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.events.services import emit
from reliability.slos import validation, windows
from reliability.slos.models import SLO, BudgetCorrection, BurnAlertPolicy, BurnTier, SLOStatus
from reliability.slos.names import Action, Event

EDITABLE = ("name", "service", "description", "sli", "latency_threshold_ms", "objective", "window", "timezone",
            "budgeting", "timeslice_minutes", "timeslice_target", "labels", "owner", "protected", "sli_source",
            "internal_sli", "prometheus_good_query", "prometheus_total_query")
TIER_FIELDS = ("severity", "long_window_minutes", "short_window_minutes", "factor", "for_seconds")


def slo_snapshot(slo: SLO) -> dict:
    return {
        "slug": slo.slug, "name": slo.name, "service": slo.service.name if slo.service_id else None,
        "sli": slo.sli, "objective": str(slo.objective), "window": slo.window, "timezone": slo.timezone,
        "budgeting": slo.budgeting, "sli_source": slo.sli_source, "protected": slo.protected, "labels": slo.labels,
        "owner": slo.owner.get_username() if slo.owner_id else None,
    }


def _fields_of(slo: SLO) -> dict:
    return {f: getattr(slo, f) for f in EDITABLE}


def _check_tiers(slo: SLO, tiers) -> None:
    for tier in tiers:
        validation.clean_tier(objective=slo.objective, factor=tier.factor, long_window_minutes=tier.long_window_minutes,
                              short_window_minutes=tier.short_window_minutes, prefix=f"tiers.{tier.name}.")


@transaction.atomic
def slo_create(*, slug: str, name: str, service, objective, actor: Actor, source: str, tiers: list[dict] | None = None,
               min_events: int = 100, absent_minutes: int = 15, **fields) -> SLO:
    """An SLO, its policy (default tiers scaled to the window unless ``tiers`` are given) and its status row."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({f: ["not a field of an SLO"] for f in sorted(unknown)})
    defaults = {f: SLO._meta.get_field(f).get_default() for f in EDITABLE if f not in ("service", "owner", "name")}
    merged = validation.clean_definition({**defaults, **fields, "objective": objective})
    slo = SLO(slug=slug, name=name, service=service,
              **{k: v for k, v in merged.items() if k in EDITABLE and k not in ("name", "service")})
    slo.full_clean(validate_unique=False)
    tier_rows = [BurnTier(name=t["name"], severity=t["severity"], long_window_minutes=int(t["long_window_minutes"]),
                          short_window_minutes=int(t["short_window_minutes"]), factor=float(t["factor"]),
                          for_seconds=int(t.get("for_seconds", 0))) for t in tiers] if tiers is not None else [
        BurnTier(name=n, severity=s, long_window_minutes=lw, short_window_minutes=sw, factor=f)
        for n, s, lw, sw, f in windows.default_tiers(slo.window)]
    if tiers is None:  # defaults that cannot fire for this objective are left out (a 90 % SLO cannot burn ×14.4)
        tier_rows = [t for t in tier_rows if windows.tier_problem(
            objective=float(slo.objective), factor=t.factor, long_minutes=t.long_window_minutes,
            short_minutes=t.short_window_minutes) is None]
    else:
        _check_tiers(slo, tier_rows)
    try:
        with transaction.atomic():
            slo.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"an SLO with slug {slug!r} already exists"]}) from exc
    policy = BurnAlertPolicy.objects.create(slo=slo, min_events=min_events, absent_minutes=absent_minutes)
    for tier in tier_rows:
        tier.policy = policy
    BurnTier.objects.bulk_create(tier_rows)
    SLOStatus.objects.create(slo=slo)
    audit_record(actor=actor, action=Action.SLO_CREATE, target=slo, changes=diff({}, slo_snapshot(slo)), source=source)
    emit(Event.SLO_CREATED, slo, {"slug": slo.slug, "service": slo.service.name})
    return slo


@transaction.atomic
def slo_update(*, slo_id: int, actor: Actor, source: str, min_events: int | None = None,
               absent_minutes: int | None = None, **fields) -> SLO:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    slo = SLO.objects.select_for_update(of=("self",)).select_related("service", "owner").get(pk=slo_id)
    before = slo_snapshot(slo)
    merged = validation.clean_definition({**_fields_of(slo), **fields})
    for key in fields:
        setattr(slo, key, merged[key])
    slo.full_clean(validate_unique=False)
    _check_tiers(slo, slo.policy.tiers.all())
    slo.save()
    policy = slo.policy
    if min_events is not None or absent_minutes is not None:
        policy.min_events = policy.min_events if min_events is None else min_events
        policy.absent_minutes = policy.absent_minutes if absent_minutes is None else absent_minutes
        policy.save(update_fields=["min_events", "absent_minutes"])
    changes = diff(before, slo_snapshot(slo))
    audit_record(actor=actor, action=Action.SLO_UPDATE, target=slo, changes=changes, source=source)
    emit(Event.SLO_UPDATED, slo, {"slug": slo.slug})
    return slo


@transaction.atomic
def slo_delete(*, slo_id: int, actor: Actor, source: str) -> None:
    slo = SLO.objects.select_for_update(of=("self",)).select_related("service").get(pk=slo_id)
    snapshot = slo_snapshot(slo)
    audit_record(actor=actor, action=Action.SLO_DELETE, target=slo, changes=diff(snapshot, {}), source=source)
    emit(Event.SLO_DELETED, ("slos.slo", slo.pk), {"slug": slo.slug})
    slo.delete()


@transaction.atomic
def tier_update(*, tier_id: int, actor: Actor, source: str, **fields) -> BurnTier:
    """Edit a tier; refused when it could never fire for the SLO's objective."""
    unknown = set(fields) - set(TIER_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    tier = BurnTier.objects.select_for_update(of=("self",)).select_related("policy__slo").get(pk=tier_id)
    before = {f: getattr(tier, f) for f in TIER_FIELDS}
    for key, value in fields.items():
        setattr(tier, key, value)
    validation.clean_tier(objective=tier.policy.slo.objective, factor=tier.factor,
                          long_window_minutes=tier.long_window_minutes, short_window_minutes=tier.short_window_minutes)
    tier.full_clean(validate_unique=False)
    tier.save()
    audit_record(actor=actor, action=Action.TIER_UPDATE, target=tier,
                 changes=diff(before, {f: getattr(tier, f) for f in TIER_FIELDS}), source=source)
    emit(Event.SLO_UPDATED, tier.policy.slo, {"slug": tier.policy.slo.slug, "tier": tier.name})
    return tier


def _check_range(starts_at: datetime, ends_at: datetime, reason: str) -> None:
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": ["the correction must end after it starts"]})
    if not reason or not reason.strip():
        raise ValidationError({"reason": ["a correction needs a reason (e.g. planned maintenance)"]})


@transaction.atomic
def correction_create(*, slo: SLO, starts_at: datetime, ends_at: datetime, reason: str, actor: Actor,
                      source: str) -> BudgetCorrection:
    """Exclude ``[starts_at, ends_at)`` from the SLO's windows (budget and burn rates)."""
    _check_range(starts_at, ends_at, reason)
    correction = BudgetCorrection.objects.create(slo=slo, starts_at=starts_at, ends_at=ends_at, reason=reason.strip()[:500],
                                                 created_by=actor.user if getattr(actor, "user", None) else None)
    audit_record(actor=actor, action=Action.CORRECTION_CREATE, target=correction, reason=correction.reason,
                 changes={"starts_at": [None, starts_at.isoformat()], "ends_at": [None, ends_at.isoformat()]},
                 source=source)
    emit(Event.CORRECTION_CHANGED, correction, {"slug": slo.slug})
    return correction


@transaction.atomic
def correction_update(*, correction_id: int, starts_at: datetime, ends_at: datetime, reason: str, actor: Actor,
                      source: str) -> BudgetCorrection:
    correction = BudgetCorrection.objects.select_for_update(of=("self",)).select_related("slo").get(pk=correction_id)
    _check_range(starts_at, ends_at, reason)
    before = {"starts_at": correction.starts_at.isoformat(), "ends_at": correction.ends_at.isoformat(),
              "reason": correction.reason}
    correction.starts_at, correction.ends_at, correction.reason = starts_at, ends_at, reason.strip()[:500]
    correction.save(update_fields=["starts_at", "ends_at", "reason"])
    audit_record(actor=actor, action=Action.CORRECTION_UPDATE, target=correction, reason=correction.reason,
                 changes=diff(before, {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                                       "reason": correction.reason}), source=source)
    emit(Event.CORRECTION_CHANGED, correction, {"slug": correction.slo.slug})
    return correction

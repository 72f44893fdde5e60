"""Dead-letter queue operations: retry (one, many, or bulk by filter/time window) and discard.

The admin, the /ops/ panel, the API and ``manage.py webhooks_retry`` all call
these services; only ``source`` differs. Each operation is one transaction
that claims the OPEN items it acts on with ``SELECT … FOR UPDATE SKIP
LOCKED`` — two concurrent replays of the same items never take the same one,
so a replay never double-sends — and writes exactly one audit entry and one
outbox event however many items it covers.

A retry re-arms each item's delivery for ONE attempt now (``attempt_budget =
attempts + 1``) and hands it to the delivery engine after commit; if that
attempt fails the delivery engine reopens the same failure row.

Dead-lettering (``dlq_dead_letter``, called by the engine in its recording
transaction, and ``deliveries_dead_letter_for_destination``) is in
``dlq_intake``; the automatic processor and retention in ``dlq_recovery``.

The depth alarm: ``dlq_depth_check()`` runs in the transaction that adds or
reopens an item and in every retry/discard. It
emits ``dlq.threshold_exceeded`` once when the open depth goes above
``DLQ_ALERT_THRESHOLD`` and ``dlq.threshold_cleared`` once when it is back at
or below it; the last of those two outbox events is the alarm's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.common.text import has_nul
from opsportal.events.models import OutboxEvent
from opsportal.events.services import emit
from reliability.webhooks import dispatch
from reliability.webhooks.metrics import retries_counted
from reliability.webhooks.models import Delivery, DlqReplay, WebhookFailure
from reliability.webhooks.names import Action, Event
from reliability.webhooks.selectors.dlq import DlqFilter, alert_threshold, dlq_depth, dlq_matching

EVENT_IDS_LIMIT = 500  # the audit entry lists every id; the live event only the first ones
MAX_REASON_LENGTH = 2000
_DEPTH_LOCK_KEY = 0xD10_0DE9  # pg advisory lock: one depth check at a time decides a crossing
_BULK_AGGREGATE = "webhooks.dlq"


class DlqItemNotOpen(Exception):
    """None of the requested items can be acted on: resolved, missing, or taken by a concurrent operation."""

    def __init__(self, states: dict[int, str]) -> None:
        self.states = states  # id → "retried" | "discarded" | "missing" | "busy"
        words = {"missing": "does not exist", "busy": "is being changed by another operation"}
        super().__init__("; ".join(f"DLQ item #{pk} {words.get(state, f'is already {state}')}" for pk, state in sorted(states.items())))

    @property
    def all_missing(self) -> bool:
        return all(state == "missing" for state in self.states.values())


@dataclass(frozen=True)
class DlqRetryResult:
    """What a retry took (or, for a dry run, would take)."""

    ids: tuple[int, ...]
    delivery_ids: tuple[int, ...]
    dry_run: bool = False
    skipped: tuple[int, ...] = ()  # requested ids not taken: not open, or claimed concurrently
    filter: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class DlqDiscardResult:
    ids: tuple[int, ...]
    skipped: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        return len(self.ids)


def _ids(values: Iterable[int] | None) -> list[int] | None:
    if values is None:
        return None
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError({"ids": [f"not a DLQ item id: {value!r}"]})
        out.append(value)
    return sorted(set(out))


def _reason(reason: str | None, *, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationError({"reason": ["a reason is required"]})
    if len(text) > MAX_REASON_LENGTH:
        raise ValidationError({"reason": [f"at most {MAX_REASON_LENGTH} characters"]})
    if has_nul(text):
        raise ValidationError({"reason": ["must be plain text"]})
    return text


def _scope(filters: DlqFilter, since: datetime | None) -> dict:
    scope = filters.as_dict()
    if since is not None:
        scope["since"] = since.isoformat()
    return scope


def _not_open_states(requested: list[int], taken: Iterable[int]) -> dict[int, str]:
    left = sorted(set(requested) - set(taken))
    known = dict(WebhookFailure.objects.filter(pk__in=left).values_list("pk", "resolution"))
    return {pk: ("busy" if known.get(pk) == WebhookFailure.Resolution.OPEN else known.get(pk, "missing")) for pk in left}


def _target(ids: list[int], one: WebhookFailure | None = None):
    if len(ids) == 1:
        return one or ("webhooks.webhookfailure", str(ids[0]))
    return (_BULK_AGGREGATE, f"{len(ids)} items")


def _event_ids(ids: list[int]) -> dict:
    return {"ids": ids[:EVENT_IDS_LIMIT], "ids_truncated": len(ids) > EVENT_IDS_LIMIT}


@transaction.atomic
def dlq_retry(
    *,
    actor: Actor,
    source: str,
    failure_ids: Iterable[int] | None = None,
    filters: DlqFilter | dict | None = None,
    since: datetime | None = None,
    reason: str = "",
    dry_run: bool = False,
    strategy: str = "",
    limit: int | None = None,
    dispatch_after_commit: bool = True,
) -> DlqRetryResult:
    """Replay OPEN DLQ items: by ``failure_ids``, and/or ``filters``, and/or entered since ``since``.

    Claims the items with ``FOR UPDATE SKIP LOCKED`` (a concurrent replay takes
    the others, never the same), marks them ``retried`` (retry_count + 1,
    last_retry_at = now), re-arms each delivery for one attempt now and
    dispatches it after commit. One audit entry (``dlq.retry``) and one event
    (``dlq.retried``) for the whole operation, listing the count and ids.

    With ``failure_ids`` and nothing claimable, raises ``DlqItemNotOpen``
    (resolved, missing or busy); ids not taken are in ``result.skipped``. A
    filter matching nothing returns an empty result and writes nothing.
    ``dry_run`` reports what would be retried and changes nothing.

    Every retry is a ``DlqReplay`` row (the live progress reads it);
    ``strategy`` names the recovery strategy that decided an automatic replay
    (the DLQ processor), recorded in the audit entry. ``limit`` takes at most
    that many items (the oldest first). ``dispatch_after_commit=False`` leaves the sending
    to the caller (the processor's inline probe) or the beat sweep.
    """
    requested = _ids(failure_ids)
    spec = DlqFilter.of(filters)
    reason = _reason(reason, required=False)
    scope = _scope(spec, since)
    matching = dlq_matching(failure_ids=requested, filters=spec, since=since)
    if dry_run:
        rows = list(matching.values_list("pk", "delivery_id"))
    else:
        locked = matching.select_for_update(skip_locked=True, of=("self",))
        rows = list((locked[:limit] if limit else locked).values_list("pk", "delivery_id"))
    ids = [pk for pk, _ in rows]
    delivery_ids = [d for _, d in rows]
    skipped: tuple[int, ...] = ()
    if requested is not None:
        if not ids:
            raise DlqItemNotOpen(_not_open_states(requested, ids))
        skipped = tuple(sorted(set(requested) - set(ids)))
    if dry_run or not ids:
        return DlqRetryResult(ids=tuple(ids), delivery_ids=tuple(delivery_ids), dry_run=dry_run, skipped=skipped, filter=scope)

    now = timezone.now()
    replay = DlqReplay.objects.create(
        started_at=now, total=len(ids), actor_label=actor.label[:200], source=source[:40], strategy=strategy[:40],
        description=(", ".join(f"{k}={v}" for k, v in scope.items()) or f"{len(ids)} item(s)")[:300],
    )
    WebhookFailure.objects.filter(pk__in=ids).update(
        replay=replay,
        resolution=WebhookFailure.Resolution.RETRIED,
        retry_count=F("retry_count") + 1,
        last_retry_at=now,
        resolved_by=actor.user,
        resolved_by_label=actor.label[:200],
        resolution_reason=reason,
        resolved_at=now,
    )
    # Only dead deliveries are re-armed: an open failure's delivery is dead; anything
    # else (in flight under a lease) must not get a second sender.
    Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.DEAD).update(
        status=Delivery.Status.PENDING,
        next_attempt_at=now,
        attempt_budget=F("attempts") + 1,
        lease_token=None,
        lease_expires_at=None,
    )
    dlq_depth_check()
    one = WebhookFailure.objects.get(pk=ids[0]) if len(ids) == 1 else None
    audit_record(
        actor=actor,
        action=Action.DLQ_RETRY,
        target=_target(ids, one),
        changes={"resolution": ["open", "retried"], "count": len(ids), "ids": ids, "filter": scope,
                 **({"strategy": strategy} if strategy else {})},
        reason=reason,
        source=source,
    )
    emit(Event.DLQ_RETRIED, _target(ids, one), {"count": len(ids), **_event_ids(ids), "filter": scope, "source": source,
                                                **({"strategy": strategy} if strategy else {})})

    if dispatch_after_commit:
        dispatch.deliveries_dispatch(delivery_ids)
    transaction.on_commit(lambda: retries_counted(source, len(ids)))
    return DlqRetryResult(ids=tuple(ids), delivery_ids=tuple(delivery_ids), skipped=skipped, filter=scope)


@transaction.atomic
def dlq_discard(
    *,
    actor: Actor,
    source: str,
    reason: str,
    failure_id: int | None = None,
    failure_ids: Iterable[int] | None = None,
    filters: DlqFilter | dict | None = None,
    strategy: str = "",
) -> DlqDiscardResult:
    """Give up on OPEN DLQ items for a (required) reason; their deliveries stay dead.

    ``failure_id`` for one item, ``failure_ids`` for several in one operation
    (one audit entry ``dlq.discard`` and one ``dlq.discarded`` event), or
    ``filters`` (e.g. a group) for every open item they select. Waits for
    a concurrent operation on the same rows, then acts only on those still open;
    raises ``DlqItemNotOpen`` when none is.
    """
    reason = _reason(reason, required=True)
    requested = _ids([failure_id] if failure_id is not None else []) + (_ids(failure_ids) or [])
    spec = DlqFilter.of(filters)
    if filters is not None and not spec.is_empty():
        requested += list(dlq_matching(filters=spec).values_list("pk", flat=True))
    requested = sorted(set(requested))
    if not requested:
        if filters is not None:
            return DlqDiscardResult(ids=())
        raise ValidationError({"ids": ["name at least one DLQ item"]})
    locked = list(
        WebhookFailure.objects.select_for_update(of=("self",)).filter(pk__in=requested).order_by("id")
    )
    ids = [f.pk for f in locked if f.resolution == WebhookFailure.Resolution.OPEN]
    if not ids:
        raise DlqItemNotOpen(_not_open_states(requested, ids))
    now = timezone.now()
    WebhookFailure.objects.filter(pk__in=ids).update(
        resolution=WebhookFailure.Resolution.DISCARDED,
        resolved_by=actor.user,
        resolved_by_label=actor.label[:200],
        resolution_reason=reason,
        resolved_at=now,
    )
    dlq_depth_check()
    one = next((f for f in locked if f.pk == ids[0]), None) if len(ids) == 1 else None
    audit_record(
        actor=actor,
        action=Action.DLQ_DISCARD,
        target=_target(ids, one),
        changes={"resolution": ["open", "discarded"], "count": len(ids), "ids": ids,
                 **({"filter": spec.as_dict()} if not spec.is_empty() else {}),
                 **({"strategy": strategy} if strategy else {})},
        reason=reason,
        source=source,
    )
    emit(Event.DLQ_DISCARDED, _target(ids, one), {"count": len(ids), **_event_ids(ids), "reason": reason, "source": source})
    return DlqDiscardResult(ids=tuple(ids), skipped=tuple(sorted(set(requested) - set(ids))))


def dlq_depth_check(*, threshold: int | None = None) -> str | None:
    """Emit ``dlq.threshold_exceeded``/``_cleared`` when the open depth crosses the threshold.

    Call inside the transaction that added, reopened or resolved DLQ items
    (``dlq_dead_letter``, the retry and the discard services do). Crossings are decided one at a time (a
    transaction-scoped advisory lock on PostgreSQL), so concurrent additions
    raise the alarm once. Returns the event type emitted, or None.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("dlq_depth_check() must run inside the transaction that changed the DLQ")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DEPTH_LOCK_KEY])
    limit = alert_threshold() if threshold is None else threshold
    depth = dlq_depth()
    last = (
        OutboxEvent.objects.filter(type__in=[Event.DLQ_THRESHOLD_EXCEEDED, Event.DLQ_THRESHOLD_CLEARED])
        .order_by("-id").values_list("type", flat=True).first()
    )
    above = last == Event.DLQ_THRESHOLD_EXCEEDED
    if depth > limit and not above:
        emit(Event.DLQ_THRESHOLD_EXCEEDED, (_BULK_AGGREGATE, "depth"), {"depth": depth, "threshold": limit})
        return Event.DLQ_THRESHOLD_EXCEEDED
    if depth <= limit and above:
        emit(Event.DLQ_THRESHOLD_CLEARED, (_BULK_AGGREGATE, "depth"), {"depth": depth, "threshold": limit})
        return Event.DLQ_THRESHOLD_CLEARED
    return None

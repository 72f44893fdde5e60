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

Dead-lettering lives here too (``dlq_dead_letter``, called by the engine in
its recording transaction, and ``deliveries_dead_letter_for_destination``),
so every write to ``WebhookFailure`` is in this module.

The depth alarm: ``dlq_depth_check()`` runs in the transaction that adds or
reopens an item and in every retry/discard. It
emits ``dlq.threshold_exceeded`` once when the open depth goes above
``DLQ_ALERT_THRESHOLD`` and ``dlq.threshold_cleared`` once when it is back at
or below it; the last of those two outbox events is the alarm's state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from opsportal.common.text import clean_text, has_nul
from opsportal.events.models import OutboxEvent
from opsportal.events.services import emit
from reliability.webhooks import dispatch
from reliability.webhooks.metrics import DLQ_MESSAGES_ADDED_TOTAL, retries_counted
from reliability.webhooks.models import PORTAL_PROVIDER, Delivery, WebhookFailure
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
    """
    requested = _ids(failure_ids)
    spec = DlqFilter.of(filters)
    reason = _reason(reason, required=False)
    scope = _scope(spec, since)
    matching = dlq_matching(failure_ids=requested, filters=spec, since=since)
    if dry_run:
        rows = list(matching.values_list("pk", "delivery_id"))
    else:
        rows = list(matching.select_for_update(skip_locked=True, of=("self",)).values_list("pk", "delivery_id"))
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
    WebhookFailure.objects.filter(pk__in=ids).update(
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
        changes={"resolution": ["open", "retried"], "count": len(ids), "ids": ids, "filter": scope},
        reason=reason,
        source=source,
    )
    emit(Event.DLQ_RETRIED, _target(ids, one), {"count": len(ids), **_event_ids(ids), "filter": scope, "source": source})

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
) -> DlqDiscardResult:
    """Give up on OPEN DLQ items for a (required) reason; their deliveries stay dead.

    ``failure_id`` for one item, ``failure_ids`` for several in one operation
    (one audit entry ``dlq.discard`` and one ``dlq.discarded`` event). Waits for
    a concurrent operation on the same rows, then acts only on those still open;
    raises ``DlqItemNotOpen`` when none is.
    """
    reason = _reason(reason, required=True)
    requested = _ids([failure_id] if failure_id is not None else []) + (_ids(failure_ids) or [])
    requested = sorted(set(requested))
    if not requested:
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
        changes={"resolution": ["open", "discarded"], "count": len(ids), "ids": ids},
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


# --- dead-lettering (the engine's exhausted deliveries, a disabled destination's backlog) ----------


@dataclass(frozen=True)
class DeadLetter:
    """A delivery going into the DLQ, with what its ``WebhookFailure`` row keeps."""

    delivery_id: int
    destination_id: int
    destination_name: str
    source_id: int | None
    provider: str
    event_type: str
    body: bytes
    error: str

    @classmethod
    def of(cls, delivery: Delivery, error: str) -> DeadLetter:
        """From a delivery loaded with its event, source and destination."""
        event, destination = delivery.event, delivery.destination
        return cls(
            delivery_id=delivery.pk, destination_id=destination.pk, destination_name=destination.name,
            source_id=event.source_id, provider=event.source.slug if event.source_id else PORTAL_PROVIDER,
            event_type=event.event_type, body=bytes(event.body or b""), error=error,
        )


def dlq_dead_letter(items: list[DeadLetter], *, now: datetime) -> list[WebhookFailure]:
    """Put dead deliveries into the DLQ (inside the caller's transaction).

    A delivery that already has a failure row (it was replayed and died again)
    gets that row reopened, never a second one. One ``dlq.added`` event per
    destination and direction, listing the ids; then the depth check.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("dlq_dead_letter() must run inside the transaction that marked the deliveries dead")
    by_delivery = {item.delivery_id: item for item in items}
    latest: dict[int, WebhookFailure] = {}
    for failure in WebhookFailure.objects.filter(delivery_id__in=list(by_delivery)).order_by("-id"):
        latest.setdefault(failure.delivery_id, failure)
    reopened, created = [], []
    for delivery_id, item in by_delivery.items():
        failure = latest.get(delivery_id)
        if failure is not None:
            failure.resolution = WebhookFailure.Resolution.OPEN
            failure.error_message = item.error
            failure.resolved_by = None
            failure.resolved_by_label = ""
            failure.resolution_reason = ""
            failure.resolved_at = None
            reopened.append(failure)
        else:
            created.append(WebhookFailure(
                delivery_id=delivery_id, source_id=item.source_id, destination_id=item.destination_id,
                provider=item.provider[:100], event_type=item.event_type, payload=item.body,
                error_message=item.error, created_at=now, resolution=WebhookFailure.Resolution.OPEN,
            ))
    if reopened:
        WebhookFailure.objects.bulk_update(
            reopened, ["resolution", "error_message", "resolved_by", "resolved_by_label", "resolution_reason", "resolved_at"]
        )
    if created:
        created = WebhookFailure.objects.bulk_create(created)
    failures = reopened + created

    groups: dict[tuple[int, bool], list[WebhookFailure]] = defaultdict(list)
    names: dict[int, str] = {}
    for failure in failures:
        item = by_delivery[failure.delivery_id]
        names[item.destination_id] = item.destination_name
        groups[(item.destination_id, item.provider == PORTAL_PROVIDER)].append(failure)
    for (destination_id, outbound), group in groups.items():
        ids = sorted(f.pk for f in group)
        target = group[0] if len(group) == 1 else (_BULK_AGGREGATE, f"{len(ids)} items")
        emit(Event.DLQ_ADDED, target, {
            "count": len(ids),
            **_event_ids(ids),
            "destination": names[destination_id],
            "destination_id": destination_id,
            # Outbound portal events that die are not offered to subscribers again (no feedback loop).
            "outbound": outbound,
            "error": group[0].error_message[:200],
        })
        transaction.on_commit(partial(DLQ_MESSAGES_ADDED_TOTAL.labels(destination=names[destination_id]).inc, len(ids)))
    if failures:
        dlq_depth_check()
    return failures


def deliveries_dead_letter_for_destination(*, destination_id: int, reason: str, chunk: int = 500) -> int:
    """Dead-letter every waiting (pending/failed) delivery of a destination, in chunks.

    In-flight deliveries are left to their worker: its claim saw the
    destination enabled, and its outcome (or the 410 again) is recorded as usual.
    """
    text = clean_text(reason, 1000)  # an error excerpt: engine.policy.ERROR_EXCERPT_CHARS
    waiting = (Delivery.Status.PENDING, Delivery.Status.FAILED)
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("event", "event__source", "destination")
                .defer("event__headers")
                .filter(destination_id=destination_id, status__in=waiting)
                .order_by("id")[:chunk]
            )
            if not rows:
                return total
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Delivery.Status.DEAD, next_attempt_at=None, lease_token=None, lease_expires_at=None,
                last_error=text,
            )
            dlq_dead_letter([DeadLetter.of(r, text) for r in rows], now=timezone.now())
        total += len(rows)

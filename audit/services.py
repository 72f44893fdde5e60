"""Writing the audit trail. Called by services only, inside their transaction."""

from __future__ import annotations

import json
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import context
from audit.actors import Actor
from audit.models import GENESIS_HASH, AuditEntry, canonical_ip
from audit.names import Action, Event
from opsportal.common.text import clean_text

# One constant advisory-lock key serialises appends to the chain on PostgreSQL;
# SQLite already serialises writers (IMMEDIATE transactions).
_CHAIN_LOCK_KEY = 0x0A0D17


def _text(value: Any, limit: int | None = None) -> str:
    # PostgreSQL refuses NUL in text and jsonb; an audit write must never fail on input.
    return clean_text(value, limit or None)


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # jsonb has no NaN/Infinity
    if isinstance(value, dict):
        return {_text(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class _ChangesEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # sets, model instances: their text is what the trail keeps


def _changes(changes: dict | None) -> dict:
    """Exactly what the database will hand back: the hash is computed over this."""
    if not changes:
        return {}
    return _json_safe(json.loads(json.dumps(changes, cls=_ChangesEncoder)))


def _ip(value: str | None) -> str | None:
    try:
        return canonical_ip(value)
    except ValueError:
        return None


def _target_fields(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        meta = target._meta
        return f"{meta.app_label}.{meta.model_name}", _text(target.pk, 100), _text(target, 300)
    if isinstance(target, tuple) and len(target) == 2:  # ("breaker", "stripe-api")
        # The id may be user input (a failed login's username): truncate, never overflow.
        return _text(target[0], 100), _text(target[1], 100), _text(target[1], 300)
    raise TypeError(f"audit target must be a model instance or a (type, id) pair, not {type(target)!r}")


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    reason: str = "",
    source: str = "",
) -> AuditEntry:
    """Append one entry to the hash chain. Must run inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must be called inside the service's transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    ctx = context.current()
    target_type, target_id, target_repr = _target_fields(target)
    entry = AuditEntry(
        created_at=timezone.now(),
        actor_kind=actor.kind,
        actor_user_id=actor.user.pk if actor.user is not None else None,
        actor_token_id=actor.token.pk if actor.token is not None else None,
        actor_label=_text(actor.label, 200),
        action=_text(action, 100),
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        changes=_changes(changes),
        reason=_text(reason),
        source=_text(source, 30),
        request_id=_text(ctx.request_id, 64),
        ip=_ip(ctx.ip),
        user_agent=_text(ctx.user_agent, 300),
        prev_hash=last or GENESIS_HASH,
    )
    entry.hash = entry.compute_hash()
    entry.save(force_insert=True)
    return entry


def diff(before: dict, after: dict) -> dict[str, list]:
    """``{field: [old, new]}`` for the fields that changed."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


@transaction.atomic
def audit_export_recorded(*, actor: Actor, filters: dict, source: str = "api") -> AuditEntry:
    """Exporting the trail is itself an auditable act (and shows on auditors' live feed).

    The export covers entries before this one: its id is the snapshot's bound.
    """
    from opsportal.events.services import emit

    entry = audit_record(actor=actor, action=Action.EXPORT, changes={"filters": filters}, source=source)
    emit(Event.EXPORTED, entry, {"actor": entry.actor_label, "filters": entry.changes["filters"]})
    return entry

"""State changes of the webhook gateway.

Configuration (sources, destinations, routes) changes are operator actions:
one audit entry (secrets redacted) and one outbox event each. Ingestion is
not an operator action: it writes the event and its delivery rows in one
statement and nothing else (docs/decisions.md, "Webhooks").
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.events.services import emit
from reliability.webhooks.delivery import deliveries_dispatch_for_events
from reliability.webhooks.models import (
    Delivery,
    WebhookDestination,
    WebhookEvent,
    WebhookRejection,
    WebhookRoute,
    WebhookSource,
)
from reliability.webhooks.selectors import SourceConfig, source_cache_clear
from reliability.webhooks.signatures import (
    VerifiedWebhook,
    decode_standard_secret,
    generate_standard_secret,
    validate_secret,
)

log = logging.getLogger(__name__)

MAX_SECRETS = 5
MAX_EVENT_TYPE_PATTERNS = 50
_EVENT_TYPE_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.:*?\-/\[\]]{1,255}$")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # RFC 9110 token

SOURCE_FIELDS = (
    "slug", "description", "scheme", "secrets", "tolerance_seconds", "max_body_bytes", "hmac_header",
    "hmac_event_id_header", "retry_strategy", "retry_max_attempts", "retry_base_seconds", "retry_max_seconds", "enabled",
)
DESTINATION_FIELDS = ("name", "url", "signing_secret", "timeout_seconds", "enabled", "disabled_reason", "event_types")


class WebhookConfigInUse(Exception):
    """A source or destination cannot be deleted while history or routes refer to it."""


@dataclass(frozen=True)
class RouteSpec:
    destination_id: int
    event_types: tuple[str, ...] = ()


# --- validation shared by the services ------------------------------------------------


def _validate_event_type_patterns(value: Any, field: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError({field: ["must be a list of event types"]})
    if len(value) > MAX_EVENT_TYPE_PATTERNS:
        raise ValidationError({field: [f"at most {MAX_EVENT_TYPE_PATTERNS} event types"]})
    bad = [v for v in value if not isinstance(v, str) or not _EVENT_TYPE_PATTERN_RE.match(v)]
    if bad:
        raise ValidationError({field: [f"not an event type pattern: {bad[0]!r} (letters, digits, . _ - : / and * wildcards)"]})
    return list(dict.fromkeys(value))


def _validate_secrets(scheme: str, secrets: Any) -> list[str]:
    if not isinstance(secrets, list | tuple) or not secrets:
        raise ValidationError({"secrets": ["at least one secret is required"]})
    if len(secrets) > MAX_SECRETS:
        raise ValidationError({"secrets": [f"at most {MAX_SECRETS} active secrets"]})
    for index, secret in enumerate(secrets):
        problem = validate_secret(scheme, secret)
        if problem:
            raise ValidationError({"secrets": [f"secret #{index + 1}: {problem}"]})
    return list(dict.fromkeys(secrets))


def _validate_source(source: WebhookSource) -> None:
    source.secrets = _validate_secrets(source.scheme, source.secrets)
    errors: dict[str, list[str]] = {}
    if source.scheme == WebhookSource.Scheme.HMAC and not source.hmac_header:
        errors["hmac_header"] = ["the hmac scheme needs the name of its signature header"]
    for field in ("hmac_header", "hmac_event_id_header"):
        value = getattr(source, field)
        if value and not _HEADER_NAME_RE.match(value):
            errors[field] = ["not a valid HTTP header name"]
    upload_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if upload_limit is not None and source.max_body_bytes and source.max_body_bytes > upload_limit:
        # The /api/ input guard refuses larger bodies before any view runs.
        errors["max_body_bytes"] = [f"must be at most {upload_limit} (DATA_UPLOAD_MAX_MEMORY_SIZE)"]
    if source.retry_base_seconds and source.retry_max_seconds and source.retry_base_seconds > source.retry_max_seconds:
        errors["retry_base_seconds"] = ["must not exceed retry_max_seconds"]
    if errors:
        raise ValidationError(errors)
    source.full_clean(exclude=["secrets"], validate_unique=False, validate_constraints=False)


def _validate_destination(destination: WebhookDestination) -> None:
    try:
        URLValidator(schemes=["http", "https"])(destination.url)
    except ValidationError as exc:
        raise ValidationError({"url": ["must be an http(s) URL"]}) from exc
    try:
        decode_standard_secret(destination.signing_secret)
    except ValueError as exc:
        raise ValidationError({"signing_secret": [f"not a Standard Webhooks secret: {exc}"]}) from exc
    destination.event_types = _validate_event_type_patterns(destination.event_types, "event_types")
    destination.full_clean(validate_unique=False, validate_constraints=False)


def _routes_from(routes: Iterable[RouteSpec | dict]) -> list[RouteSpec]:
    specs: list[RouteSpec] = []
    seen: set[int] = set()
    for route in routes:
        if isinstance(route, dict):
            route = RouteSpec(destination_id=route["destination_id"], event_types=tuple(route.get("event_types") or ()))
        if route.destination_id in seen:
            raise ValidationError({"destinations": [f"destination {route.destination_id} is listed twice"]})
        seen.add(route.destination_id)
        patterns = _validate_event_type_patterns(list(route.event_types), "routes")
        specs.append(RouteSpec(destination_id=route.destination_id, event_types=tuple(patterns)))
    missing = seen - set(WebhookDestination.objects.filter(pk__in=seen).values_list("pk", flat=True))
    if missing:
        raise ValidationError({"destinations": [f"no destination with id {', '.join(map(str, sorted(missing)))}"]})
    return specs


# --- snapshots: what audit entries and events may show -----------------------------------

_REDACTED = "<redacted>"


def _source_snapshot(source: WebhookSource) -> dict:
    snap = {f: getattr(source, f) for f in SOURCE_FIELDS}
    snap["routes"] = [
        {"destination": r.destination_id, "event_types": list(r.event_types)}
        for r in WebhookRoute.objects.filter(source=source).order_by("destination_id")
    ] if source.pk else []
    return snap


def _redact_source(changes: dict) -> dict:
    if "secrets" in changes:
        changes["secrets"] = [
            None if v is None else f"<redacted: {len(v)} secret{'s' if len(v) != 1 else ''}>" for v in changes["secrets"]
        ]
    return changes


def _destination_snapshot(destination: WebhookDestination) -> dict:
    return {f: getattr(destination, f) for f in DESTINATION_FIELDS}


def _redact_destination(changes: dict) -> dict:
    if "signing_secret" in changes:
        changes["signing_secret"] = [None if v is None else _REDACTED for v in changes["signing_secret"]]
    return changes


def _source_event_data(source: WebhookSource, snapshot: dict) -> dict:
    return {
        "slug": source.slug,
        "scheme": source.scheme,
        "enabled": source.enabled,
        "destinations": [r["destination"] for r in snapshot["routes"]],
    }


def _clear_cache_on_commit() -> None:
    transaction.on_commit(source_cache_clear)


# --- destinations ---------------------------------------------------------------------------


@transaction.atomic
def webhook_destination_create(
    *,
    name: str,
    url: str,
    actor: Actor,
    source: str,
    signing_secret: str | None = None,
    timeout_seconds: int = 10,
    enabled: bool = True,
    disabled_reason: str = "",
    event_types: Iterable[str] = (),
) -> WebhookDestination:
    """Create a destination; its signing secret is generated when not given."""
    destination = WebhookDestination(
        name=name,
        url=url,
        signing_secret=signing_secret or generate_standard_secret(),
        timeout_seconds=timeout_seconds,
        enabled=enabled,
        disabled_reason=disabled_reason if not enabled else "",
        disabled_at=None if enabled else timezone.now(),
        event_types=list(event_types),
    )
    _validate_destination(destination)
    try:
        with transaction.atomic():
            destination.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"name": [f"a destination named {name!r} already exists"]}) from exc
    changes = _redact_destination(diff({}, _destination_snapshot(destination)))
    audit_record(actor=actor, action="webhooks.destination.create", target=destination, changes=changes, source=source)
    emit("webhook.destination_created", destination, {"name": destination.name, "url": destination.url, "enabled": destination.enabled})
    _clear_cache_on_commit()
    return destination


@transaction.atomic
def webhook_destination_update(*, destination_id: int, actor: Actor, source: str, **fields: Any) -> WebhookDestination:
    """Change a destination. Disabling records the reason and time; enabling clears them."""
    unknown = set(fields) - set(DESTINATION_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    destination = WebhookDestination.objects.select_for_update().get(pk=destination_id)
    before = _destination_snapshot(destination)
    for key, value in fields.items():
        if key == "signing_secret" and not value:
            continue  # blank keeps the current secret
        setattr(destination, key, value)
    if destination.enabled:
        destination.disabled_reason, destination.disabled_at = "", None
    elif before["enabled"]:
        destination.disabled_at = timezone.now()
    _validate_destination(destination)
    changes = diff(before, _destination_snapshot(destination))
    if not changes:
        return destination
    try:
        with transaction.atomic():
            destination.save()
    except IntegrityError as exc:
        raise ValidationError({"name": [f"a destination named {destination.name!r} already exists"]}) from exc
    changes = _redact_destination(changes)
    audit_record(actor=actor, action="webhooks.destination.update", target=destination, changes=changes, source=source)
    emit("webhook.destination_updated", destination, {"name": destination.name, "changes": changes})
    _clear_cache_on_commit()
    return destination


@transaction.atomic
def webhook_destination_delete(*, destination_id: int, actor: Actor, source: str, reason: str = "") -> None:
    """Delete an unused destination. Routed or delivered-to destinations are refused: disable them instead."""
    destination = WebhookDestination.objects.select_for_update().get(pk=destination_id)
    snapshot = _destination_snapshot(destination)
    pk = destination.pk
    try:
        with transaction.atomic():
            destination.delete()
    except ProtectedError as exc:
        raise WebhookConfigInUse(
            f"destination {destination.name!r} is still routed from a source or has deliveries; "
            "remove it from its sources or disable it instead"
        ) from exc
    changes = _redact_destination(diff(snapshot, {}))
    audit_record(actor=actor, action="webhooks.destination.delete", target=("webhooks.webhookdestination", pk), changes=changes, reason=reason, source=source)
    emit("webhook.destination_deleted", ("webhooks.webhookdestination", pk), {"name": snapshot["name"]})
    _clear_cache_on_commit()


# --- sources ------------------------------------------------------------------------------------


def _set_routes(source: WebhookSource, routes: list[RouteSpec]) -> None:
    wanted = {r.destination_id: list(r.event_types) for r in routes}
    existing = {r.destination_id: r for r in WebhookRoute.objects.filter(source=source)}
    WebhookRoute.objects.filter(source=source).exclude(destination_id__in=wanted).delete()
    for destination_id, patterns in wanted.items():
        route = existing.get(destination_id)
        if route is None:
            WebhookRoute.objects.create(source=source, destination_id=destination_id, event_types=patterns)
        elif route.event_types != patterns:
            route.event_types = patterns
            route.save(update_fields=["event_types"])


@transaction.atomic
def webhook_source_create(
    *,
    slug: str,
    scheme: str,
    secrets: list[str],
    actor: Actor,
    source: str,
    routes: Iterable[RouteSpec | dict] = (),
    **fields: Any,
) -> WebhookSource:
    """Create a source and its routes. ``fields``: the other editable fields (SOURCE_FIELDS)."""
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError({f: ["unknown field"] for f in sorted(unknown)})
    webhook_source = WebhookSource(slug=slug, scheme=scheme, secrets=list(secrets or []), **fields)
    _validate_source(webhook_source)
    specs = _routes_from(routes)
    try:
        with transaction.atomic():
            webhook_source.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"a source with slug {slug!r} already exists"]}) from exc
    _set_routes(webhook_source, specs)
    snapshot = _source_snapshot(webhook_source)
    changes = _redact_source(diff({}, snapshot))
    audit_record(actor=actor, action="webhooks.source.create", target=webhook_source, changes=changes, source=source)
    emit("webhook.source_created", webhook_source, _source_event_data(webhook_source, snapshot))
    _clear_cache_on_commit()
    return webhook_source


@transaction.atomic
def webhook_source_update(
    *,
    source_id: int,
    actor: Actor,
    source: str,
    routes: Iterable[RouteSpec | dict] | None = None,
    **fields: Any,
) -> WebhookSource:
    """Change a source; ``routes`` (when given) replaces its destinations and filters.

    ``secrets`` replaces the whole list: to rotate, send [new, old], then [new]
    once the provider signs with the new secret only.
    """
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    webhook_source = WebhookSource.objects.select_for_update().get(pk=source_id)
    before = _source_snapshot(webhook_source)
    for key, value in fields.items():
        setattr(webhook_source, key, list(value) if key == "secrets" else value)
    _validate_source(webhook_source)
    specs = _routes_from(routes) if routes is not None else None
    if {f: getattr(webhook_source, f) for f in SOURCE_FIELDS} != {f: before[f] for f in SOURCE_FIELDS}:
        try:
            with transaction.atomic():
                webhook_source.save()
        except IntegrityError as exc:
            raise ValidationError({"slug": [f"a source with slug {webhook_source.slug!r} already exists"]}) from exc
    if specs is not None:
        _set_routes(webhook_source, specs)
    after = _source_snapshot(webhook_source)
    changes = diff(before, after)
    if not changes:
        return webhook_source
    changes = _redact_source(changes)
    audit_record(actor=actor, action="webhooks.source.update", target=webhook_source, changes=changes, source=source)
    emit("webhook.source_updated", webhook_source, {**_source_event_data(webhook_source, after), "changes": changes})
    _clear_cache_on_commit()
    return webhook_source


@transaction.atomic
def webhook_source_delete(*, source_id: int, actor: Actor, source: str, reason: str = "") -> None:
    """Delete a source that never accepted an event; otherwise disable it (its events are kept)."""
    webhook_source = WebhookSource.objects.select_for_update().get(pk=source_id)
    snapshot = _source_snapshot(webhook_source)
    pk = webhook_source.pk
    try:
        with transaction.atomic():
            webhook_source.delete()
    except ProtectedError as exc:
        raise WebhookConfigInUse(
            f"source {webhook_source.slug!r} has received events, which are kept; disable it instead"
        ) from exc
    changes = _redact_source(diff(snapshot, {}))
    audit_record(actor=actor, action="webhooks.source.delete", target=("webhooks.webhooksource", pk), changes=changes, reason=reason, source=source)
    emit("webhook.source_deleted", ("webhooks.webhooksource", pk), {"slug": snapshot["slug"]})
    _clear_cache_on_commit()


# --- ingestion (not an operator action: no audit entry, no outbox event) ----------------------


@dataclass(frozen=True)
class IngestResult:
    event_id: int
    duplicate: bool
    deliveries: int


_EVENT_TABLE = WebhookEvent._meta.db_table
_DELIVERY_TABLE = Delivery._meta.db_table
# One statement, one round trip, atomic on its own: insert the event unless
# (source, provider id) exists, and its deliveries only if it was inserted.
_INGEST_SQL = f"""
WITH ev AS (
    INSERT INTO {_EVENT_TABLE} (source_id, direction, provider_event_id, event_type, headers, body, received_at)
    VALUES (%s, 'inbound', %s, %s, %s::jsonb, %s, %s)
    ON CONFLICT (source_id, provider_event_id) DO NOTHING
    RETURNING id
), deliveries AS (
    INSERT INTO {_DELIVERY_TABLE} (event_id, destination_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT ev.id, d.destination_id, 'pending', 0, %s, '', %s
    FROM ev CROSS JOIN unnest(%s::bigint[]) AS d(destination_id)
    RETURNING 1
)
SELECT ev.id, (SELECT count(*) FROM deliveries) FROM ev
"""  # noqa: S608 - table names come from model metadata, values are parameters
_ORIGINAL_SQL = f"SELECT id FROM {_EVENT_TABLE} WHERE source_id = %s AND provider_event_id = %s"  # noqa: S608


def _ingest_cursor():
    """A server-side-binding cursor on Django's connection, for the ingest statement only.

    The statement runs prepared, so PostgreSQL parses and plans the CTE once
    per connection instead of per request (pgbench on this box: 3,300-3,800
    tps as text, 5,300-5,800 prepared). Django keeps psycopg's prepared
    statements off (``prepare_threshold=None``, for poolers), so they are
    switched on around this one statement; ``DATABASE_PREPARED_STATEMENTS=false``
    keeps them off (docs/operations.md). Django's wrappers (error translation,
    execute wrappers, query logging) still apply. It skips Django's per-request
    health check (``SELECT 1``, one more round trip): ``_ingest_postgresql``
    retries once on a dead connection instead.
    """
    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def _run_ingest(params: list, source_id: int, provider_event_id: str) -> IngestResult:
    with _ingest_cursor() as cursor:
        raw = connection.connection
        threshold = raw.prepare_threshold
        if settings.DATABASE_PREPARED_STATEMENTS:
            raw.prepare_threshold = 0  # prepare on first use; the statement text never changes
        try:
            cursor.execute(_INGEST_SQL, params)
            row = cursor.fetchone()
            if row is not None:
                return IngestResult(event_id=row[0], duplicate=False, deliveries=row[1])
            # ON CONFLICT waited for any concurrent inserter to commit, so the original is visible now.
            cursor.execute(_ORIGINAL_SQL, [source_id, provider_event_id])
            original = cursor.fetchone()
        finally:
            raw.prepare_threshold = threshold
    if original is None:  # purged between the two statements: vanishingly rare, and safe to retry
        raise IntegrityError("original event disappeared during dedupe")
    return IngestResult(event_id=original[0], duplicate=True, deliveries=0)


def _ingest_postgresql(*, source_id: int, verified: VerifiedWebhook, headers: dict, body: bytes, destination_ids: list[int], now: datetime) -> IngestResult:
    params = [
        source_id, verified.provider_event_id, verified.event_type, json.dumps(headers), body, now,
        now, now, destination_ids,
    ]
    try:
        return _run_ingest(params, source_id, verified.provider_event_id)
    except OperationalError:
        if connection.in_atomic_block:
            raise
        # A persistent connection that died (database restart, failover, a pooler's idle
        # kill): reconnect and try once more. Safe to repeat: if the first attempt did
        # commit, this one finds the event and answers it as a duplicate with its id.
        log.warning("webhook ingest: database connection lost, reconnecting once", exc_info=True)
        connection.close()
        return _run_ingest(params, source_id, verified.provider_event_id)


def _ingest_portable(*, source_id: int, verified: VerifiedWebhook, headers: dict, body: bytes, destination_ids: list[int], now: datetime) -> IngestResult:
    """The ORM path (SQLite in the embedded default): insert in a savepoint, IntegrityError = duplicate."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    source_id=source_id,
                    provider_event_id=verified.provider_event_id,
                    event_type=verified.event_type,
                    headers=headers,
                    body=body,
                    received_at=now,
                )
        except IntegrityError:
            original = WebhookEvent.objects.filter(source_id=source_id, provider_event_id=verified.provider_event_id).values_list("pk", flat=True).first()
            if original is None:
                raise
            return IngestResult(event_id=original, duplicate=True, deliveries=0)
        Delivery.objects.bulk_create(
            [Delivery(event=event, destination_id=d, next_attempt_at=now, created_at=now) for d in destination_ids]
        )
    return IngestResult(event_id=event.pk, duplicate=False, deliveries=len(destination_ids))


def webhook_event_ingest(*, config: SourceConfig, verified: VerifiedWebhook, headers: dict, body: bytes, portable: bool = False) -> IngestResult:
    """Store a verified webhook once per (source, provider event id), with one delivery per routed destination.

    Returns after the write is committed (the caller answers 202 only then).
    Duplicates return the original event id and create nothing. Deliveries
    are due at once (``next_attempt_at`` = now) and handed to a worker after commit (the sweep is the backstop).
    """
    now = timezone.now()
    destination_ids = config.destination_ids_for(verified.event_type)
    ingest = _ingest_postgresql if connection.vendor == "postgresql" and not portable else _ingest_portable
    result = ingest(source_id=config.id, verified=verified, headers=headers, body=body, destination_ids=destination_ids, now=now)
    if result.deliveries and not result.duplicate:
        deliveries_dispatch_for_events([result.event_id])  # after commit: a worker sends them at once
    return result


# --- rejection samples -------------------------------------------------------------------------

_rejection_windows: dict[tuple[int, str], datetime] = {}
_rejection_lock = threading.Lock()


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def webhook_rejection_record(
    *,
    source_id: int,
    reason: str,
    detail: str,
    remote_ip: str | None,
    user_agent: str,
    header_names: list[str],
    body_bytes: int,
) -> bool:
    """Keep a sample of a 401 for operators: at most one per source, reason and minute.

    An in-process memo avoids even the INSERT for repeats in this process;
    the unique window makes it one row across processes. Never raises.
    """
    now = timezone.now()
    window = now.replace(second=0, microsecond=0)
    key = (source_id, reason)
    with _rejection_lock:
        if _rejection_windows.get(key) == window:
            return False
        _rejection_windows[key] = window
    try:
        WebhookRejection.objects.bulk_create(
            [
                WebhookRejection(
                    source_id=source_id,
                    reason=reason,
                    window_start=window,
                    detail=detail[:300],
                    remote_ip=_valid_ip(remote_ip),
                    user_agent="".join(c for c in user_agent if c.isprintable())[:300],
                    header_names=sorted({h.lower() for h in header_names if h.isprintable()})[:50],
                    body_bytes=body_bytes,
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
    except DatabaseError:  # a diagnostic sample must never turn a 401 into a 5xx
        log.warning("could not record a webhook rejection sample", exc_info=True)
        return False
    return True


def rejection_memo_clear() -> None:
    with _rejection_lock:
        _rejection_windows.clear()

"""Configuration services: sources, destinations, routes.

Every change is an operator (or system) action: one audit entry (secrets
redacted) and one outbox event, in the caller's transaction, and the ingest
path's source cache is cleared on commit. Names: ``reliability.webhooks.names``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.events.services import emit
from reliability.netpolicy import AddressRefused, UnresolvableHost, validate_outbound_url
from reliability.webhooks.classes import validate_strategies
from reliability.webhooks.models import WebhookDestination, WebhookRoute, WebhookSource
from reliability.webhooks.names import Action, Event
from reliability.webhooks.selectors.config import source_cache_clear
from reliability.webhooks.signatures import (
    SIGNED_EVENT_TYPE_SCHEMES,
    decode_standard_secret,
    generate_standard_secret,
    validate_secret,
)

MAX_SECRETS = 5
MAX_EVENT_TYPE_PATTERNS = 50
_EVENT_TYPE_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.:*?\-/\[\]]{1,255}$")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # RFC 9110 token

SOURCE_FIELDS = (
    "slug", "description", "scheme", "secrets", "tolerance_seconds", "max_body_bytes", "hmac_header",
    "hmac_event_id_header", "retry_strategy", "retry_max_attempts", "retry_base_seconds", "retry_max_seconds", "enabled",
    "dlq_strategies", "dlq_discard_after_days",  # dlq-heal
)
DESTINATION_FIELDS = ("name", "url", "signing_secret", "timeout_seconds", "enabled", "disabled_reason", "event_types",
                      "dlq_strategies", "dlq_discard_after_days", "rate_limit_per_second", "concurrency_limit")  # dlq-heal
DLQ_DESTINATION_FIELDS = ("dlq_strategies", "dlq_discard_after_days", "rate_limit_per_second", "concurrency_limit")


def _validate_dlq_strategies(obj) -> None:
    try:
        obj.dlq_strategies = validate_strategies(obj.dlq_strategies)
    except ValueError as exc:
        raise ValidationError({"dlq_strategies": [str(exc)]}) from None


class WebhookConfigInUse(Exception):
    """A source or destination cannot be deleted while history or routes refer to it."""


@dataclass(frozen=True)
class RouteSpec:
    destination_id: int
    event_types: tuple[str, ...] = ()


# --- validation shared by the services ------------------------------------------------


# Portal events only auditors may see (events/groups.py sends them to ops.audit): never delivered
# outbound, and a subscription that names them is refused.
UNSUBSCRIBABLE_SEGMENTS = ("audit", "auth", "token")


def _validate_subscriptions(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        segment = pattern.split(".", 1)[0]
        if segment != "*" and any(fnmatchcase(name, segment) for name in UNSUBSCRIBABLE_SEGMENTS):
            raise ValidationError({"event_types": [
                f"{pattern!r}: auth.*, token.* and audit.* events are for auditors only and cannot be delivered "
                "to a destination ('*' subscribes to everything else)"
            ]})
    return patterns


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


def source_validate(source: WebhookSource) -> None:
    """Check (and normalise) an unsaved or changed source; raises ValidationError naming fields. No writes."""
    source.secrets = _validate_secrets(source.scheme, source.secrets)
    _validate_dlq_strategies(source)
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


def _check_outbound_policy(url: str) -> None:
    """The outbound address policy (reliability.netpolicy) at create/update time, naming ``url``.

    A host that does not resolve right now is accepted: the delivery transport checks the
    resolved address again at every connect, so nothing the policy refuses is ever called.
    """
    try:
        validate_outbound_url(url)
    except UnresolvableHost:
        return
    except AddressRefused as exc:
        raise ValidationError({"url": [str(exc)]}) from None


def _url_changed(destination: WebhookDestination) -> bool:
    """New, or its URL differs from the stored one (an update that keeps the URL is not re-judged)."""
    if destination.pk is None:
        return True
    stored = WebhookDestination.objects.filter(pk=destination.pk).values_list("url", flat=True).first()
    return stored != destination.url


def destination_validate(destination: WebhookDestination) -> None:
    """Check (and normalise) an unsaved or changed destination; raises ValidationError naming fields. No writes."""
    try:
        URLValidator(schemes=["http", "https"])(destination.url)
    except ValidationError as exc:
        raise ValidationError({"url": ["must be an http(s) URL"]}) from exc
    if _url_changed(destination):
        _check_outbound_policy(destination.url)
    try:
        decode_standard_secret(destination.signing_secret)
    except ValueError as exc:
        raise ValidationError({"signing_secret": [f"not a Standard Webhooks secret: {exc}"]}) from exc
    destination.event_types = _validate_subscriptions(_validate_event_type_patterns(destination.event_types, "event_types"))
    _validate_dlq_strategies(destination)
    destination.full_clean(validate_unique=False, validate_constraints=False)


def routes_validate(routes: Iterable[RouteSpec | dict]) -> list[RouteSpec]:
    """The routes as specs, each destination once and existing; raises ValidationError. Reads only."""
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


def _check_route_filters(source: WebhookSource, specs: list[RouteSpec] | None) -> None:
    """Event-type filters need a signed event type: refused for schemes whose type header is unsigned."""
    if source.scheme in SIGNED_EVENT_TYPE_SCHEMES:
        return
    if specs is None:
        filtered = source.pk and WebhookRoute.objects.filter(source=source).exclude(event_types=[]).exists()
    else:
        filtered = any(spec.event_types for spec in specs)
    if filtered:
        raise ValidationError({"routes": [
            f"the {source.scheme} scheme does not sign the event type (X-GitHub-Event), so routes cannot filter on "
            "it: route every event to these destinations"
        ]})


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
    **dlq_fields: Any,
) -> WebhookDestination:
    """Create a destination; its signing secret is generated when not given.

    ``dlq_fields``: ``dlq_strategies``, ``dlq_discard_after_days``, ``rate_limit_per_second``, ``concurrency_limit``.
    """
    unknown = set(dlq_fields) - set(DLQ_DESTINATION_FIELDS)
    if unknown:
        raise ValidationError({f: ["unknown field"] for f in sorted(unknown)})
    destination = WebhookDestination(
        name=name,
        url=url,
        signing_secret=signing_secret or generate_standard_secret(),
        timeout_seconds=timeout_seconds,
        enabled=enabled,
        disabled_reason=disabled_reason if not enabled else "",
        disabled_at=None if enabled else timezone.now(),
        event_types=list(event_types),
        **dlq_fields,
    )
    destination_validate(destination)
    try:
        with transaction.atomic():
            destination.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"name": [f"a destination named {name!r} already exists"]}) from exc
    changes = _redact_destination(diff({}, _destination_snapshot(destination)))
    audit_record(actor=actor, action=Action.DESTINATION_CREATE, target=destination, changes=changes, source=source)
    emit(Event.DESTINATION_CREATED, destination, {"name": destination.name, "url": destination.url, "enabled": destination.enabled})
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
    destination_validate(destination)
    changes = diff(before, _destination_snapshot(destination))
    if not changes:
        return destination
    try:
        with transaction.atomic():
            destination.save()
    except IntegrityError as exc:
        raise ValidationError({"name": [f"a destination named {destination.name!r} already exists"]}) from exc
    changes = _redact_destination(changes)
    audit_record(actor=actor, action=Action.DESTINATION_UPDATE, target=destination, changes=changes, source=source)
    emit(Event.DESTINATION_UPDATED, destination, {"name": destination.name, "changes": changes})
    _clear_cache_on_commit()
    return destination


@transaction.atomic
def webhook_destination_disable(
    *, destination_id: int, reason: str, actor: Actor, source: str, status_code: int | None = None,
) -> bool:
    """Stop delivering to a destination; its waiting deliveries then go to the DLQ when claimed.

    The one disable service: the admin action, ``POST …/destinations/<id>/disable/``
    and the delivery engine's 410 path (system actor, ``status_code=410``) call
    it. One ``webhooks.destination.disable`` audit entry and one
    ``webhook.destination_disabled`` event. Returns False (and writes nothing)
    when the destination was already disabled.
    """
    text = (reason or "").strip()
    if not text:
        raise ValidationError({"disabled_reason": ["a reason is required"]})
    destination = WebhookDestination.objects.select_for_update().get(pk=destination_id)
    if not destination.enabled:
        return False
    destination.enabled = False
    destination.disabled_at = timezone.now()
    destination.disabled_reason = text[:2000]
    destination.save(update_fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
    audit_record(
        actor=actor, action=Action.DESTINATION_DISABLE, target=destination,
        changes={"enabled": [True, False], "disabled_reason": ["", destination.disabled_reason]},
        reason=destination.disabled_reason, source=source,
    )
    data = {"name": destination.name, "reason": destination.disabled_reason}
    if status_code is not None:
        data["status_code"] = status_code
    emit(Event.DESTINATION_DISABLED, destination, data)
    _clear_cache_on_commit()
    return True


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
    audit_record(actor=actor, action=Action.DESTINATION_DELETE, target=("webhooks.webhookdestination", pk), changes=changes, reason=reason, source=source)
    emit(Event.DESTINATION_DELETED, ("webhooks.webhookdestination", pk), {"name": snapshot["name"]})
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
    source_validate(webhook_source)
    specs = routes_validate(routes)
    _check_route_filters(webhook_source, specs)
    try:
        with transaction.atomic():
            webhook_source.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"a source with slug {slug!r} already exists"]}) from exc
    _set_routes(webhook_source, specs)
    snapshot = _source_snapshot(webhook_source)
    changes = _redact_source(diff({}, snapshot))
    audit_record(actor=actor, action=Action.SOURCE_CREATE, target=webhook_source, changes=changes, source=source)
    emit(Event.SOURCE_CREATED, webhook_source, _source_event_data(webhook_source, snapshot))
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
    source_validate(webhook_source)
    specs = routes_validate(routes) if routes is not None else None
    _check_route_filters(webhook_source, specs)
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
    audit_record(actor=actor, action=Action.SOURCE_UPDATE, target=webhook_source, changes=changes, source=source)
    emit(Event.SOURCE_UPDATED, webhook_source, {**_source_event_data(webhook_source, after), "changes": changes})
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
    audit_record(actor=actor, action=Action.SOURCE_DELETE, target=("webhooks.webhooksource", pk), changes=changes, reason=reason, source=source)
    emit(Event.SOURCE_DELETED, ("webhooks.webhooksource", pk), {"slug": snapshot["slug"]})
    _clear_cache_on_commit()

"""Reads of the webhook configuration, including the in-process source cache of the ingest path."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.conf import settings
from django.db.models import QuerySet

from reliability.webhooks.models import WebhookDestination, WebhookSource
from reliability.webhooks.signatures import SIGNED_EVENT_TYPE_SCHEMES, event_id_signed, signing_keys

_CACHE_MAX_ENTRIES = 1000  # unknown slugs are cached too; bound the memory a slug scan can take


@dataclass(frozen=True)
class SourceRoute:
    destination_id: int
    event_types: tuple[str, ...]  # empty: every type

    def matches(self, event_type: str) -> bool:
        return not self.event_types or any(fnmatchcase(event_type, pattern) for pattern in self.event_types)


@dataclass(frozen=True)
class SourceConfig:
    """What the ingest view needs of a source, immutable and safe to share between threads."""

    id: int
    slug: str
    scheme: str
    keys: tuple[bytes, ...]
    tolerance_seconds: int
    max_body_bytes: int
    hmac_header: str
    hmac_event_id_header: str
    enabled: bool
    routes: tuple[SourceRoute, ...]
    type_signed: bool = True  # the event type comes from the signed body (not GitHub's header)
    id_signed: bool = True  # the event id is signed; otherwise ingestion also dedupes on the body hash

    def destination_ids_for(self, event_type: str) -> list[int]:
        if not self.type_signed:  # an unsigned type must not choose destinations: unfiltered routes only
            return [r.destination_id for r in self.routes if not r.event_types]
        return [r.destination_id for r in self.routes if r.matches(event_type)]


_cache: dict[str, tuple[float, SourceConfig | None]] = {}
_cache_lock = threading.Lock()


def _ttl() -> float:
    return float(getattr(settings, "WEBHOOK_SOURCE_CACHE_SECONDS", 5.0))


def source_config_load(slug: str) -> SourceConfig | None:
    """Two queries: the source, its routes. None when no such source exists."""
    source = WebhookSource.objects.filter(slug=slug).first()
    if source is None:
        return None
    routes = tuple(
        SourceRoute(destination_id=d, event_types=tuple(t or ()))
        for d, t in source.routes.order_by("destination_id").values_list("destination_id", "event_types")
    )
    return SourceConfig(
        id=source.pk,
        slug=source.slug,
        scheme=source.scheme,
        keys=signing_keys(source.scheme, source.secrets or []),
        tolerance_seconds=source.tolerance_seconds,
        max_body_bytes=source.max_body_bytes,
        hmac_header=source.hmac_header or "X-Signature",
        hmac_event_id_header=source.hmac_event_id_header,
        enabled=source.enabled,
        routes=routes,
        type_signed=source.scheme in SIGNED_EVENT_TYPE_SCHEMES,
        id_signed=event_id_signed(source.scheme, source.hmac_event_id_header),
    )


def source_for_ingest(slug: str) -> SourceConfig | None:
    """The source behind ``/in/<slug>/``, cached in-process for a few seconds.

    Services clear the cache on commit of any source/destination change, so
    this process sees changes at once; other processes within the TTL
    (``WEBHOOK_SOURCE_CACHE_SECONDS``, default 5).
    """
    now = time.monotonic()
    hit = _cache.get(slug)
    if hit is not None and hit[0] > now:
        return hit[1]
    config = source_config_load(slug) if len(slug) <= 100 else None
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX_ENTRIES:
            _cache.clear()
        _cache[slug] = (now + _ttl(), config)
    return config


def source_cache_clear() -> None:
    """Forget cached sources (the config services call it on commit of every change)."""
    with _cache_lock:
        _cache.clear()


def source_get(*, slug: str) -> WebhookSource | None:
    return WebhookSource.objects.filter(slug=slug).first()


def source_list() -> QuerySet[WebhookSource]:
    return WebhookSource.objects.prefetch_related("routes")


def destination_list() -> QuerySet[WebhookDestination]:
    return WebhookDestination.objects.all()


def subscribed(event_type: str, patterns: list[str]) -> bool:
    """Whether a destination's ``event_types`` patterns (``incident.*``, ``*``) take this portal event."""
    return any(isinstance(p, str) and fnmatchcase(event_type, p) for p in patterns or ())


def destinations_subscribed_to(event_type: str) -> list[int]:
    """Enabled destinations whose subscriptions match (a disabled destination's subscription is paused)."""
    rows = WebhookDestination.objects.filter(enabled=True).values_list("pk", "event_types")
    return [pk for pk, patterns in rows if patterns and subscribed(event_type, patterns)]

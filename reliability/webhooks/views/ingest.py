"""``POST /api/v1/webhooks/in/<slug>/``: the ingestion endpoint (DESIGN §7.2).

A plain Django view on purpose: no DRF request wrapping, no authentication
classes, no session. Per request it does one cached source lookup, reads
at most the source's size limit, verifies the signature, and writes the
event and its deliveries in one statement. 202 is returned only after that
commit; duplicates get 200 with the original id; every error is problem+json
and no input yields a 5xx (a database outage yields 503 + Retry-After so the
provider retries, never a false 2xx).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from audit.middleware import client_ip
from opsportal.api.errors import problem_response
from reliability.webhooks.metrics import UNKNOWN_SOURCE_LABEL, WEBHOOK_INGEST_DURATION_SECONDS, ingest_counted
from reliability.webhooks.selectors.config import SourceConfig, source_cache_clear, source_for_ingest
from reliability.webhooks.services.ingest import webhook_event_ingest, webhook_rejection_record
from reliability.webhooks.signatures import Rejection, verify

log = logging.getLogger("reliability.webhooks.ingest")

# Kept with the event for operators and receivers. An allowlist, so signatures,
# cookies, Authorization and whatever a proxy adds never reach the database.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "Webhook-Id",
    "Webhook-Timestamp",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-GitHub-Hook-Installation-Target-ID",
    "X-GitHub-Hook-Installation-Target-Type",
    "X-Request-ID",
)
_MAX_KEPT_HEADER_LENGTH = 500


def kept_headers(request, config: SourceConfig) -> dict[str, str]:
    names = KEPT_HEADERS + ((config.hmac_event_id_header,) if config.hmac_event_id_header else ())
    kept = {}
    for name in names:
        value = request.headers.get(name)
        # jsonb refuses NUL and lone surrogates: keep only plain printable values.
        if value and value.isprintable() and len(value) <= _MAX_KEPT_HEADER_LENGTH:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                continue
            kept[name] = value
    return kept


def _content_length(request) -> int | None:
    try:
        value = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


def _too_large(config: SourceConfig) -> JsonResponse:
    ingest_counted(config.slug, "too_large")
    return problem_response(413, f"the body exceeds this source's limit of {config.max_body_bytes} bytes", code="payload-too-large")


def _rejected(request, config: SourceConfig, rejection: Rejection, body: bytes) -> JsonResponse:
    ingest_counted(config.slug, rejection.result)
    if rejection.status == 401:
        ip = client_ip(request)
        log.warning(
            "webhook rejected",
            extra={"source": config.slug, "result": rejection.result, "detail": rejection.detail, "ip": ip},
        )
        webhook_rejection_record(
            source_id=config.id,
            reason=rejection.result,
            detail=rejection.detail,
            remote_ip=ip,
            user_agent=request.headers.get("User-Agent", ""),
            header_names=list(request.headers.keys()),
            body_bytes=len(body),
        )
        return problem_response(401, rejection.detail, code=f"webhook-{rejection.result.replace('_', '-')}")
    return problem_response(rejection.status, rejection.detail, code="webhook-malformed")


@csrf_exempt
def ingest(request, slug: str):
    started = time.perf_counter()
    try:
        return _ingest(request, slug)
    finally:
        WEBHOOK_INGEST_DURATION_SECONDS.observe(time.perf_counter() - started)


# --- under ASGI ------------------------------------------------------------------------------
# Django runs a sync view under ASGI through sync_to_async(thread_sensitive=True): in a
# thread made for each request (Django's ThreadSensitiveContext), reached again after
# every sync middleware, and that thread opens its database connection anew (a pool
# checkout). The ASGI lean URLconf (opsportal.lean_urls_asgi) routes here instead: the
# lean chain's middleware is async-capable, so the request stays on the event loop and the
# view's sync body -- the same ``_ingest`` -- runs in one hop on a small pool of long-lived
# threads, at most as many as the process's database pool holds (bench/webhooks (c)).
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def ingest_threads() -> int:
    return max(1, int(getattr(settings, "WEBHOOK_INGEST_THREADS", 0) or settings.DATABASE_POOL_MAX_SIZE))


def _ingest_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=ingest_threads(), thread_name_prefix="webhook-ingest")
        return _executor


def _ingest_in_thread(request, slug: str):
    # What Django's request_started/request_finished do for the request's own thread, done
    # here for this one: a broken or expired connection is dropped, and afterwards the
    # connection goes back to the pool (CONN_MAX_AGE=0 under the pool) or stays for its age.
    close_old_connections()
    try:
        return ingest(request, slug)
    finally:
        close_old_connections()


@csrf_exempt
async def ingest_async(request, slug: str):
    """The same view for the ASGI handler: identical answers, one thread hop."""
    return await sync_to_async(_ingest_in_thread, thread_sensitive=False, executor=_ingest_executor())(request, slug)


def _ingest(request, slug: str):
    if request.method != "POST":
        return problem_response(405, "webhooks are delivered with POST", headers={"Allow": "POST"})
    config = source_for_ingest(slug)
    if config is None or not config.enabled:
        # Disabled answers like unknown (404, not 410): providers keep retrying
        # and catch up once it is re-enabled, instead of giving up for good.
        ingest_counted(config.slug if config else UNKNOWN_SOURCE_LABEL, "unknown_source")
        return problem_response(404, f"no enabled webhook source {slug[:100]!r}", code="webhook-unknown-source")

    declared = _content_length(request)
    if declared is not None and declared > config.max_body_bytes:
        return _too_large(config)
    try:
        body = request.read(config.max_body_bytes + 1)
    except OSError:  # client went away mid-body
        ingest_counted(config.slug, "malformed")
        return problem_response(400, "the request body could not be read", code="webhook-malformed")
    if len(body) > config.max_body_bytes:
        return _too_large(config)

    try:
        verified = verify(
            config.scheme,
            request.headers,
            body,
            keys=config.keys,
            now=time.time(),
            tolerance=config.tolerance_seconds,
            hmac_header=config.hmac_header,
            hmac_event_id_header=config.hmac_event_id_header,
        )
    except Rejection as rejection:
        return _rejected(request, config, rejection, body)

    headers = kept_headers(request, config)
    try:
        try:
            result = webhook_event_ingest(config=config, verified=verified, headers=headers, body=body)
        except IntegrityError:
            # A route or destination changed in another process within the cache
            # TTL: reload the source and try once more.
            source_cache_clear()
            config = source_for_ingest(slug)
            if config is None or not config.enabled:
                ingest_counted(UNKNOWN_SOURCE_LABEL, "unknown_source")
                return problem_response(404, f"no enabled webhook source {slug[:100]!r}", code="webhook-unknown-source")
            result = webhook_event_ingest(config=config, verified=verified, headers=headers, body=body)
    except DatabaseError:
        log.exception("webhook could not be stored", extra={"source": config.slug})
        return problem_response(
            503, "the webhook could not be stored; retry later", code="webhook-store-unavailable", headers={"Retry-After": "5"}
        )

    if result.duplicate:
        ingest_counted(config.slug, "duplicate")
        return JsonResponse({"id": result.event_id, "duplicate": True}, status=200)
    ingest_counted(config.slug, "accepted")
    return JsonResponse({"id": result.event_id}, status=202)

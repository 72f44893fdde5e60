"""Per-path middleware chains for the production entry points.

Signed webhook ingestion (``/api/v1/webhooks/in/``) is authenticated by its
signature and needs no sessions, CSRF, users, messages, lockouts or
idempotency keys; running the full chain cost it ~0.9 ms a request
(bench/webhooks). Django has one MIDDLEWARE list per handler, so the entry
points hold two handlers and pick one by path.

The lean chain also leaves out django-prometheus' per-request HTTP metrics
(~0.2 ms: a dozen labelled series per request); ingestion has its own,
``webhook_ingest_total`` and ``webhook_ingest_duration_seconds``. And it
resolves against ``opsportal.lean_urls`` (the ingest route only) instead of the whole
portal's URLconf.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler

LEAN_PATH_PREFIXES = ("/api/v1/webhooks/in/",)

LEAN_URLCONF = "opsportal.lean_urls"
LEAN_ASGI_URLCONF = "opsportal.lean_urls_asgi"

# What the lean chain keeps from settings.MIDDLEWARE (in settings' order):
# security headers, request id/log context, access log, input guards, slow queries, shedding.
LEAN_MIDDLEWARE = frozenset({
    "django.middleware.security.SecurityMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "opsportal.observability.AccessLogMiddleware",
    "opsportal.api.middleware.ApiInputGuardMiddleware",
    # health-degrade: slow-query context; shedding (a prefix test and a local level read until CRITICAL)
    "reliability.health.slowqueries.middleware.SlowQueryMiddleware",
    "reliability.health.shedding.middleware.LoadSheddingMiddleware",
})


def lean_middleware() -> list[str]:
    # OpenTelemetry's instrumentor inserts its own middleware; traces must cover ingestion too.
    return [m for m in settings.MIDDLEWARE if m in LEAN_MIDDLEWARE or m.startswith("opentelemetry.")]


def is_lean_path(path: str) -> bool:
    return path.startswith(LEAN_PATH_PREFIXES)


class _LeanChain:
    def load_middleware(self, is_async=False):
        # Runs once while the process starts (one thread): swap the list Django reads.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = lean_middleware()
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    urlconf = LEAN_URLCONF

    def get_response(self, request):
        request.urlconf = self.urlconf
        return super().get_response(request)

    async def get_response_async(self, request):
        request.urlconf = self.urlconf
        return await super().get_response_async(request)


class LeanWSGIHandler(_LeanChain, WSGIHandler):
    pass


class LeanASGIHandler(_LeanChain, ASGIHandler):
    # The async ingest view: with the lean chain's middleware async-capable, a request
    # stays on the event loop and hops to a thread once (reliability/webhooks/views/ingest.py).
    urlconf = LEAN_ASGI_URLCONF


def wsgi_application():
    """The WSGI app: the lean chain for ingestion, the full one for everything else."""
    from django.core.wsgi import get_wsgi_application

    full = get_wsgi_application()
    lean = LeanWSGIHandler()

    def application(environ, start_response):
        handler = lean if is_lean_path(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application


def asgi_http_application():
    """The ASGI HTTP app, routed the same way."""
    from django.core.asgi import get_asgi_application

    full = get_asgi_application()
    lean = LeanASGIHandler()

    async def application(scope, receive, send):
        handler = lean if is_lean_path(scope.get("path", "")) else full
        return await handler(scope, receive, send)

    return application

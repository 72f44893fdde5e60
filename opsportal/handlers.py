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
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.wsgi import WSGIHandler
from django.urls import set_script_prefix

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

    async def __call__(self, scope, receive, send):
        # No per-request ThreadSensitiveContext: asgiref starts a thread for each context
        # that runs sync code and another to join it, and Thread.start blocks the event loop
        # until the new thread holds the GIL.
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        """Django's ``ASGIHandler.handle`` without its two thread hops and its disconnect task.

        Django sends ``request_started`` with ``asend`` and closes the response through
        ``sync_to_async``: each a hop to a thread for receivers that here have nothing to do
        (the ones that exist close this thread's database connections, and the event loop
        has none; the /metrics receivers return at once for other paths). They run inline.
        Nor does a client that hangs up cancel the view: a webhook whose body arrived is
        stored and answered, as under WSGI.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            finally:
                response.close()  # sends request_finished
        finally:
            body_file.close()


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

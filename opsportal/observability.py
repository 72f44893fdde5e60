"""Structured logging (structlog, JSON in production) and optional OpenTelemetry."""

from __future__ import annotations

import contextlib
import logging
import os
import time

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction


def _add_trace_ids(logger, method, event_dict):
    return add_trace_ids(logger, method, event_dict)  # defined below; cheap when tracing is off


_SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    _add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def logging_config(*, level: str, fmt: str) -> dict:
    """Django LOGGING dict routing stdlib and structlog records through one renderer.

    Request id, user and path come from structlog's contextvars, bound by
    ``audit.middleware.RequestContextMiddleware``.
    """
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": _SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},
            "celery": {"level": level},
        },
    }


class AccessLogMiddleware:
    """One structured line per request: method, status, duration (request id, user, path from context).

    Probes and scrapes (/health/, /metrics) log at DEBUG so they do not drown the rest.
    """

    def __init__(self, get_response):
        from django.conf import settings
        from django.core.exceptions import MiddlewareNotUsed

        if not settings.ACCESS_LOG:
            # In production the reverse proxy logs access; formatting a JSON line
            # here cost 0.27 ms a request (bench/api_overhead).
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.log = structlog.get_logger("opsportal.access")
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    sync_capable = True
    async_capable = True  # under ASGI the lean ingest chain stays on the event loop (opsportal.handlers)

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        start = time.perf_counter()
        response = self.get_response(request)
        self._line(request, response, start)
        return response

    async def _acall(self, request):
        start = time.perf_counter()
        response = await self.get_response(request)
        self._line(request, response, start)
        return response

    def _line(self, request, response, start: float) -> None:
        noisy = request.path.startswith("/health/") or request.path == "/metrics"
        (self.log.debug if noisy else self.log.info)(
            "http.request",
            method=request.method,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - start) * 1000, 2),
        )


_otel_done = False


def tracing_enabled() -> bool:
    """Whether ``setup_opentelemetry`` instrumented this process (cheap: a module flag)."""
    return _otel_done


def setup_opentelemetry() -> bool:
    """Instrument Django, Celery, outbound httpx and database queries when OTEL_ENABLED=true.

    Must run before the WSGI/ASGI handler is built: the Django instrumentor works
    by inserting its middleware into settings.MIDDLEWARE, which a handler reads
    once. Celery workers call it from ``worker_process_init`` (each pool child).
    Returns True when instrumentation is on. The OTLP/HTTP exporter reads
    OTEL_EXPORTER_OTLP_ENDPOINT (and OTEL_BSP_* for batching) itself.
    """
    global _otel_done
    from django.conf import settings

    if not settings.OTEL_ENABLED or _otel_done:
        return _otel_done
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "opsportal")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()  # publish injects the context into task headers; the worker continues it
    HTTPXClientInstrumentor().instrument()  # a CLIENT span per request and a traceparent header
    _instrument_database()
    import atexit

    atexit.register(provider.shutdown)  # export what the batch processor still holds
    logging.getLogger(__name__).info("opentelemetry instrumentation enabled")
    _otel_done = True
    return True


def flush_spans(*_args, **_kwargs) -> None:
    """Export buffered spans now (a Celery pool child exits through os._exit: no atexit)."""
    if not _otel_done:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis=5000)


# --- database queries ---------------------------------------------------------------------------
def _db_span(execute, sql, params, many, context):
    from opentelemetry import trace

    connection = context["connection"]
    verb = (sql.split(None, 1)[0] if sql else "query").upper()[:20]
    tracer = trace.get_tracer("opsportal.db")
    with tracer.start_as_current_span(
        f"{verb} {connection.settings_dict.get('NAME', '')}", kind=trace.SpanKind.CLIENT,
        attributes={"db.system": connection.vendor, "db.name": str(connection.settings_dict.get("NAME", "")),
                    "db.statement": sql[:2000]},  # the statement without its parameters
    ):
        return execute(sql, params, many, context)


def _on_connection_created(sender, connection, **_kwargs) -> None:
    if _db_span not in connection.execute_wrappers:
        connection.execute_wrappers.append(_db_span)


def _instrument_database() -> None:
    """A CLIENT span per SQL statement (Django's execute_wrapper on every connection, no driver patching)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="opsportal.otel_db")
    for conn in connections.all(initialized_only=True):
        _on_connection_created(None, conn)


# --- trace context carried by stored work ---------------------------------------------------------
def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with work that continues later (None: no trace)."""
    if not _otel_done:
        return None
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def continued(traceparent: str | None, name: str | None = None, **attributes):
    """Run the block in the trace ``traceparent`` names (a span ``name`` when given); a no-op without tracing."""
    if not (_otel_done and traceparent):
        yield
        return
    from opentelemetry import context, trace
    from opentelemetry.propagate import extract

    parent = extract({"traceparent": traceparent})
    if name is None:
        token = context.attach(parent)
        try:
            yield
        finally:
            context.detach(token)
        return
    with trace.get_tracer("opsportal").start_as_current_span(name, context=parent, attributes=attributes):
        yield


def add_trace_ids(_logger, _method, event_dict: dict) -> dict:
    """structlog processor: ``trace_id``/``span_id`` of the current span in every JSON log line."""
    if _otel_done and "trace_id" not in event_dict:
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
            event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict

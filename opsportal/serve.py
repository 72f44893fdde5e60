"""The embedded one-process runner behind ``manage.py serve`` (DESIGN §5).

One process, three parts:

- uvicorn in a thread serves HTTP and websockets (``opsportal.asgi:application``);
- Celery beat in a thread (``celery.beat.EmbeddedService(app, thread=True)``) with
  django-celery-beat's DatabaseScheduler, which copies ``CELERY_BEAT_SCHEDULE`` into its
  tables at start;
- the Celery worker in the main thread (threads pool), because a worker's shutdown is
  driven from the main thread.

With no REDIS_URL the settings choose kombu's in-memory transport and the thread-safe
in-memory channel layer, so nothing else needs to run. SIGINT (Ctrl-C) and SIGTERM
stop all three; a second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TextIO

# The threaded beat ticks at most this far apart, so every-2-s entries stay on time and a
# stop takes effect within a second. (EmbeddedService(thread=True) forces 1 s itself.)
BEAT_MAX_INTERVAL_SECONDS = 1
# How often the in-memory transport polls its queues (kombu's default is 1 s).
MEMORY_POLLING_INTERVAL_SECONDS = 0.1
STARTUP_TIMEOUT_SECONDS = 30
SHUTDOWN_TIMEOUT_SECONDS = 10


class ServeError(RuntimeError):
    """The runner could not start (e.g. the port is taken)."""


def _keep_django_logging(**_kwargs) -> None:
    """Connected to Celery's setup_logging: Django's LOGGING stays in charge."""


def _configure_celery_for_embedding(app) -> None:
    # Remote control, gossip and mingle talk to other workers over broadcast queues;
    # there are none here.
    app.conf.worker_enable_remote_control = False
    app.conf.worker_send_task_events = False
    if app.conf.broker_url and str(app.conf.broker_url).startswith("memory://"):
        if str(app.conf.broker_url) == "memory://":
            app.conf.broker_url = "memory://localhost//"  # same transport; kombu warns without a host
        options = dict(app.conf.broker_transport_options or {})
        options.setdefault("polling_interval", MEMORY_POLLING_INTERVAL_SECONDS)
        app.conf.broker_transport_options = options


# Per-task lines every 2 s (the outbox sweep) would drown the console; warnings still show.
_CHATTY_LOGGERS = ("celery.beat", "celery.app.trace", "celery.worker.strategy", "kombu.connection")


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _quiet_chatty_loggers(log_level: str) -> None:
    # A filter, not setLevel: django.setup() runs again (asgi import, Celery's Django fixup)
    # and dictConfig resets the levels of child loggers, but keeps their filters.
    if logging.getLevelName(log_level.upper()) != logging.DEBUG:
        for name in _CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _WarningsOnly) for f in logger.filters):
                logger.addFilter(_WarningsOnly())


def _embedded_worker_class(app):
    class EmbeddedWorker(app.Worker):
        def install_platform_tweaks(self, worker):
            # The runner owns SIGINT/SIGTERM (it stops uvicorn and beat too), and the
            # worker's SIGHUP handler would re-exec the whole process.
            pass

    return EmbeddedWorker


def _start_http(host: str, port: int, log_level: str):
    import uvicorn
    from django.conf import settings

    from opsportal.asgi import application  # import here so errors surface in the main thread

    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        lifespan="off",  # Channels' router has no lifespan handler
        log_config=None,  # Django's LOGGING (structlog) formats uvicorn's records too
        log_level=log_level.lower(),
        timeout_graceful_shutdown=5,
        ws="auto",
        # loop/http stay "auto": uvloop and httptools when installed (they are, pyproject). Access
        # lines come from Django's AccessLogMiddleware when ACCESS_LOG is on, not from uvicorn.
        access_log=False,
        # X-Forwarded-For / -Proto only from the proxy (the same networks the audit trail trusts).
        proxy_headers=True,
        forwarded_allow_ips=list(settings.TRUSTED_PROXY_CIDRS),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ServeError(f"could not serve on {host}:{port} (is the port in use?)")
        time.sleep(0.05)
    return server, thread


def display_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104 - display only
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(*, host: str = "127.0.0.1", port: int = 8000, concurrency: int = 2, out: TextIO | None = None) -> int:
    """Run the portal in this process until SIGINT/SIGTERM; returns the exit code."""
    from celery import signals as celery_signals
    from celery.beat import EmbeddedService
    from celery.worker import state as worker_state
    from django.conf import settings

    from opsportal.celery import app

    out = out or sys.stdout
    log_level = getattr(settings, "LOG_LEVEL", "INFO")

    def say(message: str) -> None:
        out.write(message + "\n")
        out.flush()

    _configure_celery_for_embedding(app)
    _quiet_chatty_loggers(log_level)
    celery_signals.setup_logging.connect(_keep_django_logging, weak=False, dispatch_uid="opsportal.serve.logging")

    stopping = threading.Event()
    server = None
    beat = None

    def on_signal(signum, _frame):
        if stopping.is_set():
            say("opsportal: second signal, exiting now")
            os._exit(1)
        stopping.set()
        say(f"opsportal: {signal.Signals(signum).name} received, stopping (again to force)")
        if server is not None:
            server.should_exit = True
        if beat is not None:
            beat.service.stop()
        # The worker's loop checks this flag between polls and shuts down warm, exit code 0.
        worker_state.should_stop = 0

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    http_thread = None
    worker = None
    try:
        server, http_thread = _start_http(host, port, log_level)
        if stopping.is_set():
            server.should_exit = True
        beat = EmbeddedService(
            app,
            thread=True,
            max_interval=BEAT_MAX_INTERVAL_SECONDS,
            scheduler_cls="django_celery_beat.schedulers:DatabaseScheduler",
        )
        beat.start()
        url = display_url(host, port)
        mode = "in-memory broker and channel layer" if str(app.conf.broker_url).startswith("memory://") else "Redis"
        say(f"opsportal serving on {url}  (admin {url}admin/, dashboard {url}ops/; {mode}; Ctrl-C stops)")
        worker = _embedded_worker_class(app)(
            app=app,
            hostname=f"embedded.{os.getpid()}@{socket.gethostname()}",
            pool_cls="threads",
            concurrency=concurrency,
            loglevel=log_level,
            quiet=True,
            redirect_stdouts=False,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        worker.start()  # blocks until on_signal sets should_stop
    finally:
        if server is not None:
            server.should_exit = True
        if beat is not None:
            if not stopping.is_set():
                beat.service.stop()
            beat.join(SHUTDOWN_TIMEOUT_SECONDS)
        if http_thread is not None:
            http_thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = worker.exitcode if worker is not None else 0
    code = 0 if code in (None, 0) else int(code) if isinstance(code, int) else 1
    say("opsportal: stopped" if code == 0 else f"opsportal: stopped with exit code {code}")
    return code

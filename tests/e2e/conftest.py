"""Browser-test infrastructure: a real ASGI server, Chromium through Playwright, login.

Use it from any feature's browser tests (mark them ``@pytest.mark.browser``)::

    from tests.e2e.conftest import in_thread, login

    @pytest.mark.browser
    def test_something_live(asgi_live_server, operator, page):
        login(page, asgi_live_server, operator, "pw-Opsportal-1")
        page.goto(f"{asgi_live_server}/ops/")
        in_thread(my_service, ..., actor=Actor.for_system("e2e"))  # see in_thread()

Keep browser tests synchronous: Playwright's sync API refuses to start inside
a running event loop (pytest-asyncio runs in auto mode, so never make these
tests ``async``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from django.db import DEFAULT_DB_ALIAS, connections
from playwright.sync_api import expect

# expect(...) waits up to 15 s unless told otherwise: conditions, not tight windows, on a loaded CI box.
expect.set_options(timeout=15_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AsgiLiveServer(str):
    """The base URL (``http://127.0.0.1:<port>``) of a uvicorn serving opsportal.asgi.

    It is a ``str``, so ``f"{asgi_live_server}/ops/"`` works; ``stop()`` and
    ``start()`` take the server down and bring it back on the same port (to
    drop every websocket, as a deploy would).
    """

    host: str
    port: int

    def __new__(cls, host: str, port: int) -> AsgiLiveServer:
        obj = super().__new__(cls, f"http://{host}:{port}")
        obj.host, obj.port = host, port
        obj._server, obj._thread = None, None
        return obj

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        from opsportal.asgi import application

        config = uvicorn.Config(
            application,
            host=self.host,
            port=self.port,
            loop="asyncio",
            lifespan="off",
            log_config=None,  # keep Django's logging configuration
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"uvicorn did not start on {self}")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._server, self._thread = None, None


@pytest.fixture
def asgi_live_server(transactional_db) -> Iterator[AsgiLiveServer]:
    """A uvicorn serving ``opsportal.asgi:application`` (HTTP, websockets, static files).

    Runs in a background thread of the test process on a free 127.0.0.1 port,
    against the test database (hence ``transactional_db``: the server's
    threads must see what the test commits) and the test Redis (channel
    layer). Yields an :class:`AsgiLiveServer`, i.e. the base URL string with
    ``stop()``/``start()`` to restart it; stops it at teardown.
    """
    # The server's request threads come and go: close their connections after
    # each request so none outlives the test (TRUNCATE/DROP DATABASE would wait).
    db_settings = connections.settings[DEFAULT_DB_ALIAS]
    saved_max_age = db_settings.get("CONN_MAX_AGE", 0)
    db_settings["CONN_MAX_AGE"] = 0
    server = AsgiLiveServer("127.0.0.1", _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        db_settings["CONN_MAX_AGE"] = saved_max_age


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (``/usr/bin/chromium``) via Playwright's SYNC API.

    Function-scoped: a session-wide Playwright loop would sit "running" in the
    main thread and break pytest-asyncio's async tests that follow.

    While Playwright is active its event loop counts as running in the test's
    thread, so Django refuses ORM calls there (SynchronousOnlyOperation) and
    the outbox relay's ``async_to_sync`` cannot run. Create data in fixtures
    listed *before* ``page``/``browser`` in the test's arguments, and do any
    later database work (reads, service calls) through :func:`in_thread`.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageProblems:
    """What went wrong while a page was open: console errors, failed or 4xx/5xx requests."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.console_errors.clear()
        self.failed_requests.clear()
        self.responses.clear()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    """A fresh browser context and page (own cookies), 15 s default timeout (a loaded CI box).

    ``page.problems`` is a :class:`PageProblems` recording console errors,
    failed requests and every response's ``(status, url)`` from the start.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    problems = PageProblems()
    pg.on("console", lambda msg: msg.type == "error" and problems.console_errors.append(msg.text))
    pg.on("pageerror", lambda exc: problems.console_errors.append(str(exc)))
    pg.on("requestfailed", lambda req: problems.failed_requests.append(f"{req.url} {req.failure}"))
    pg.on("response", lambda resp: problems.responses.append((resp.status, resp.url)))
    pg.problems = problems
    try:
        yield pg
    finally:
        context.close()


def login(page: Any, base_url: str, user: Any, password: str) -> None:
    """Sign in through the admin login form (/admin/login/); ``user`` is a User or a username."""
    username = user if isinstance(user, str) else user.get_username()
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    if "/admin/login/" in page.url:
        raise AssertionError(f"login as {username} failed")


def in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a fresh thread and return its result.

    For service calls while a Playwright page is open: there the outbox relay
    (``async_to_sync``) would fail beside Playwright's running loop. The
    thread's DB connection is closed afterwards.
    """

    def call() -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()

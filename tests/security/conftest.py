"""Fixtures for the security tests: a recording HTTP server on 127.0.0.1, an injected resolver,
and an egress guard that makes sure no test ever opens a connection anywhere but loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import pytest

from reliability import http, netpolicy
from tests.e2e.conftest import asgi_live_server, browser, page  # noqa: F401 - browser fixtures


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers 200 "secret-body" and records requests."""

    def __init__(self, ssl_context=None) -> None:
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                receiver.requests.append({"path": self.path, "host": self.headers.get("Host")})
                body = b"secret-body from the far side"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def hits(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def strict_policy(settings):
    """Staging's policy with nothing allow-listed (the test settings allow-list loopback)."""
    settings.OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = False
    settings.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = []
    http.close_clients()
    yield settings
    http.close_clients()


@pytest.fixture
def resolver():
    """``resolver.answers["name"] = [...]``: a list of answers per call (the last repeats)."""

    class Fake:
        def __init__(self) -> None:
            self.answers: dict[str, list[list[str]]] = {}
            self.calls: list[str] = []

        def __call__(self, host: str, port: int) -> list[str]:
            self.calls.append(host)
            script = self.answers.get(host)
            if not script:
                import socket

                raise socket.gaierror(socket.EAI_NONAME, "unknown test name")
            return script.pop(0) if len(script) > 1 else script[0]

    fake = Fake()
    previous = netpolicy.set_resolver(fake)
    yield fake
    netpolicy.set_resolver(previous)


@pytest.fixture(autouse=True)
def egress_guard(monkeypatch):
    """Record every TCP connect the transports attempt; refuse (without touching the network)
    any that is not to loopback. ``egress_guard`` is the list of (host, port) attempted."""
    attempts: list[tuple[str, int]] = []
    real_sync = httpcore.SyncBackend.connect_tcp
    real_async = httpcore.AnyIOBackend.connect_tcp

    def allowed(host: str) -> bool:
        return host in {"127.0.0.1", "::1"}

    def sync_connect(self, host, port, *args, **kwargs):
        attempts.append((host, port))
        if not allowed(host):
            raise httpcore.ConnectError(f"egress guard: no connect to {host}")
        return real_sync(self, host, port, *args, **kwargs)

    async def async_connect(self, host, port, *args, **kwargs):
        attempts.append((host, port))
        if not allowed(host):
            raise httpcore.ConnectError(f"egress guard: no connect to {host}")
        return await real_async(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", sync_connect)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", async_connect)
    yield attempts


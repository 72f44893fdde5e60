"""A real webhook receiver on 127.0.0.1 for delivery tests.

Every request is recorded with its ``webhook-id``, whether its signature
verifies with the ``standardwebhooks`` package, and the status it was given.
Tests switch its behaviour: a default response, a script of next responses,
or "hang" (hold the request until released).

    with Receiver.running(secret=DEST_SECRET) as receiver:
        receiver.respond(500)
        receiver.script(Reply(429, {"Retry-After": "120"}), Reply(200))
        receiver.hang_next()
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks

DEST_SECRET = "whsec_" + base64.b64encode(b"destination-signing-key-0123456").decode()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False  # hold the request until released (or 30 s), then answer
    delay: float = 0.0  # answer after this many seconds (a slow receiver)


@dataclass(frozen=True)
class Seen:
    webhook_id: str
    timestamp: str
    verified: bool
    status: int | None  # None: hung, and the client was gone before an answer
    body: bytes
    headers: dict
    path: str


class Receiver:
    def __init__(self, secret: str = DEST_SECRET) -> None:
        self.secret = secret
        self.default = Reply(200)
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self.hanging = threading.Event()  # set when a request starts hanging
        self.request_seen = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.reject_unverified = False  # answer 401 to a request whose signature does not verify
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []  # time.monotonic() of each request's arrival

    # --- behaviour -------------------------------------------------------------------------
    def respond(self, status: int = 200, headers: dict | None = None, body: bytes = b"", delay: float = 0.0) -> None:
        with self._lock:
            self.default = Reply(status, headers or {}, body, delay=delay)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def hang_next(self) -> None:
        self.script(Reply(200, hang=True))

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    # --- what it saw -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def ids(self) -> Counter:
        with self._lock:
            return Counter(s.webhook_id for s in self.seen)

    def for_id(self, webhook_id: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.webhook_id == webhook_id]

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)
        self.request_seen.set()

    # --- server ----------------------------------------------------------------------------
    def max_per_window(self, window: float = 1.0) -> int:
        """The most requests that arrived within any ``window`` seconds (sliding)."""
        with self._lock:
            times = sorted(self.arrivals)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a production receiver

            def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
                pass

            def do_POST(self):
                with receiver._lock:
                    receiver.arrivals.append(time.monotonic())
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    self._post()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def _post(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    standardwebhooks.Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                reply = receiver._next()
                if receiver.reject_unverified and not verified:
                    reply = Reply(401, body=b'{"error": "invalid signature"}')
                status: int | None = reply.status
                if reply.hang:
                    receiver.hanging.set()
                    receiver.release.wait(30)
                    status = None  # whoever sent it is gone (killed) or timed out
                elif reply.delay:
                    time.sleep(reply.delay)
                receiver._record(Seen(headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), verified,
                                      status, body, headers, self.path))
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="test-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @classmethod
    @contextlib.contextmanager
    def running(cls, secret: str = DEST_SECRET, port: int = 0):
        receiver = cls(secret).start(port)
        try:
            yield receiver
        finally:
            receiver.stop()

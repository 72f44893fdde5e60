"""The chaos TCP fault proxy in each of its modes, against a real echo server on 127.0.0.1.

The redis-hang drill (tests/chaos/test_end_to_end.py) runs the proxy in ``hang`` mode; the
other modes a drill can ask for (``latency_ms``, ``reset``, ``connect`` = down) and the heal
when the fault goes are shown here.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from chaos.scenarios.proxy import FaultProxy
from reliability import faults

NAME = "redis:test-proxy"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy(no_faults):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fp = FaultProxy(name=NAME, upstream_host="127.0.0.1", upstream_port=server.server_address[1]).start()
    yield fp
    fp.stop()
    server.shutdown()
    server.server_close()


def _roundtrip(port: int, payload: bytes = b"ping", timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def _set(**spec):
    faults.fault_set(NAME, expires_at=time.time() + 120, **spec)


def test_without_a_fault_it_is_a_plain_pipe(proxy):
    assert _roundtrip(proxy.port) == b"ping"


def test_latency_delays_every_chunk(proxy):
    _set(latency_ms=300)
    started = time.monotonic()
    assert _roundtrip(proxy.port) == b"ping"
    assert time.monotonic() - started >= 0.3 * 2  # there and back: one delay per direction


@pytest.mark.parametrize("mode", ["reset", "connect"])
def test_reset_and_down_drop_new_connections_and_it_heals_when_the_fault_goes(proxy, mode):
    _set(error=mode)
    try:
        answer = _roundtrip(proxy.port)
    except (ConnectionResetError, BrokenPipeError):
        answer = b""
    assert answer == b""  # closed or reset: nothing comes back
    faults.fault_clear(NAME)
    assert _roundtrip(proxy.port) == b"ping"


def test_hang_holds_the_bytes_until_the_fault_goes(proxy):
    _set(error="hang")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"held")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(16)
        faults.fault_clear(NAME)
        sock.settimeout(10)
        assert sock.recv(16) == b"held"

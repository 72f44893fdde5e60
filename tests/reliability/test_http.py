"""The outbound seam against a real HTTP server on 127.0.0.1 that fails, hangs, throttles and recovers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client import REGISTRY

from reliability import faults, http, retry
from reliability.breakers import BreakerConfig, CircuitOpenError, breaker
from reliability.http import OutboundConnectError, OutboundError, OutboundTimeout
from reliability.retry import RetryPolicy

STATUS = {"ok": 200, "fail": 500, "unavailable": 503, "throttle": 429, "missing": 404}


class Upstream:
    """A real HTTP server whose behaviour the test switches (mode, or a script of modes)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.script: deque[str] = deque()
        self.retry_after: str | None = None
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends "hang"
        self.barrier: threading.Barrier | None = None
        self.inflight = 0
        self.max_inflight = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.serve(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def hits(self) -> int:
        return len(self.requests)

    def serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.requests.append({"method": handler.command, "path": handler.path, "body": body,
                                  "headers": dict(handler.headers)})
            mode = self.script.popleft() if self.script else self.mode
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if mode == "hang":
                self.release.wait(30)
                mode = "ok"
            if mode == "barrier":  # answers 200 only once N requests are in flight together
                try:
                    self.barrier.wait(timeout=5)
                    mode = "ok"
                except threading.BrokenBarrierError:
                    mode = "fail"
            status = STATUS[mode]
            payload = f'{{"mode": "{mode}"}}'.encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            if self.retry_after is not None and status in (429, 503):
                handler.send_header("Retry-After", self.retry_after)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): that is the point of the test
        finally:
            with self.lock:
                self.inflight -= 1


@pytest.fixture
def upstream():
    server = Upstream()
    server.thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()
    http.close_clients()


@pytest.fixture
def target():
    return f"test-upstream-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _no_faults(no_faults):
    """Every test here starts and ends without an injected fault (tests/conftest.py)."""


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []

    async def asleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(retry, "_sleep", recorded.append)
    monkeypatch.setattr(retry, "_asleep", asleep)
    return recorded


def policy(name="t-http", *, attempts=3, strategy="exponential", base=0.5, max_delay=10.0) -> RetryPolicy:
    return RetryPolicy(name=name, strategy=strategy, max_attempts=attempts, base=base, max_delay=max_delay,
                       jitter="none")


def outbound(target: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("outbound_requests_total", {"target": target, "outcome": outcome}) or 0.0


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- plain calls -------------------------------------------------------------------------------


def test_success_returns_the_response_counts_it_and_logs_without_path_or_query(upstream, target, caplog):
    caplog.set_level("INFO", logger="reliability.http")
    resp = http.request("POST", f"{upstream.url}/hooks/SECRETPATH?token=SECRETQUERY", target=target,
                        json={"a": 1}, headers={"Authorization": "Bearer SECRETHEADER"})
    assert resp.status_code == 200
    assert resp.json() == {"mode": "ok"}
    assert upstream.hits == 1
    assert upstream.requests[0]["body"] == b'{"a":1}'
    assert upstream.requests[0]["headers"]["Authorization"] == "Bearer SECRETHEADER"
    assert outbound(target, "success") == 1
    hist = REGISTRY.get_sample_value("outbound_request_duration_seconds_count", {"target": target})
    assert hist == 1

    lines = [r.msg for r in caplog.records if r.name == "reliability.http"]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "outbound_request"
    assert line["target"] == target
    assert line["method"] == "POST"
    assert line["host"] == upstream.url.removeprefix("http://")
    assert line["status"] == 200
    assert line["attempt"] == 1
    assert line["duration_ms"] >= 0
    assert "SECRET" not in str(line)


def test_non_retriable_4xx_is_returned_after_exactly_one_request(upstream, target, sleeps):
    upstream.mode = "missing"
    resp = http.request("GET", upstream.url, target=target, policy=policy(attempts=5))
    assert resp.status_code == 404
    assert upstream.hits == 1
    assert sleeps == []
    assert outbound(target, "client_error") == 1


def test_5xx_is_retried_up_to_max_attempts_then_returned(upstream, target, sleeps):
    upstream.mode = "fail"
    resp = http.request("GET", upstream.url, target=target, policy=policy(attempts=4))
    assert resp.status_code == 500  # returned, not raised: callers decide by status
    assert upstream.hits == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert outbound(target, "server_error") == 4


def test_policy_none_makes_a_single_attempt(upstream, target, sleeps):
    upstream.mode = "fail"
    assert http.request("GET", upstream.url, target=target).status_code == 500
    assert upstream.hits == 1
    assert sleeps == []


def test_recovering_server_gets_retried_until_it_answers(upstream, target, sleeps):
    upstream.script.extend(["fail", "unavailable"])
    resp = http.request("GET", upstream.url, target=target, policy=policy(strategy="fibonacci", attempts=5))
    assert resp.status_code == 200
    assert upstream.hits == 3
    assert sleeps == [0.5, 0.5]


def test_429_retry_after_seconds_is_honoured(upstream, target, sleeps):
    upstream.script.extend(["throttle"])
    upstream.retry_after = "3"
    resp = http.request("GET", upstream.url, target=target, policy=policy(base=0.1))
    assert resp.status_code == 200
    assert upstream.hits == 2
    assert sleeps == [3.0]
    assert outbound(target, "rate_limited") == 1


def test_retry_after_is_clamped_to_the_policy_max_delay(upstream, target, sleeps):
    upstream.mode = "throttle"
    upstream.retry_after = "86400"
    resp = http.request("GET", upstream.url, target=target, policy=policy(attempts=3, max_delay=4.0))
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "86400"
    assert upstream.hits == 3
    assert sleeps == [4.0, 4.0]


def test_retry_after_http_date_is_honoured(upstream, target, sleeps):
    upstream.script.extend(["unavailable"])
    upstream.retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=6), usegmt=True)
    resp = http.request("GET", upstream.url, target=target, policy=policy(max_delay=30))
    assert resp.status_code == 200
    assert len(sleeps) == 1
    assert 4.0 <= sleeps[0] <= 6.0  # whole-second dates, minus the time the request took


# --- timeouts and connect errors ---------------------------------------------------------------


def test_read_timeout_is_enforced_and_raised_as_outbound_timeout(upstream, target):
    upstream.mode = "hang"  # the server would answer after 30 s
    started = time.monotonic()
    with pytest.raises(OutboundTimeout) as info:
        http.request("GET", upstream.url, target=target, timeout=0.3)
    assert time.monotonic() - started < 5
    assert info.value.target == target
    assert info.value.attempt == 1
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.injected is False  # a real timeout is never mistaken for a drill's
    assert outbound(target, "timeout") == 1


def test_timeouts_are_retried_then_raised(upstream, target, sleeps):
    upstream.mode = "hang"
    with pytest.raises(OutboundTimeout) as info:
        http.request("GET", upstream.url, target=target, timeout=0.2, policy=policy(attempts=2))
    assert info.value.attempt == 2
    assert upstream.hits == 2
    assert sleeps == [0.5]


def test_hung_then_recovered_server(upstream, target, sleeps):
    upstream.script.extend(["hang"])
    resp = http.request("GET", upstream.url, target=target, timeout=0.3, policy=policy(attempts=3))
    assert resp.status_code == 200
    assert upstream.hits == 2


def test_connect_error_is_retried_and_raised_as_outbound_connect_error(target, sleeps):
    url = f"http://127.0.0.1:{closed_port()}/x"
    with pytest.raises(OutboundConnectError) as info:
        http.request("GET", url, target=target, policy=policy(attempts=3))
    assert isinstance(info.value, OutboundError)
    assert info.value.attempt == 3
    assert sleeps == [0.5, 1.0]
    assert outbound(target, "connect_error") == 3


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/relative/path", "file:///etc/passwd"])
def test_only_absolute_http_urls_are_accepted(url, target):
    with pytest.raises(ValueError):
        http.request("GET", url, target=target)


def test_durable_policies_are_refused_in_process(upstream, target):
    with pytest.raises(ValueError, match="durable"):
        http.request("POST", upstream.url, target=target, policy="webhook")
    assert upstream.hits == 0


# --- fault injection ---------------------------------------------------------------------------


def in_a_minute() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def test_fault_latency_is_added_before_the_real_call(upstream, target):
    faults.fault_set(target, latency_ms=120, expires_at=in_a_minute())
    started = time.monotonic()
    resp = http.request("GET", upstream.url, target=target)
    assert time.monotonic() - started >= 0.12
    assert resp.status_code == 200
    assert upstream.hits == 1


def test_fault_timeout_is_raised_without_touching_the_server(upstream, target):
    faults.fault_set(target, error="timeout", expires_at=in_a_minute())
    with pytest.raises(OutboundTimeout) as raised:
        http.request("GET", upstream.url, target=target)
    assert raised.value.injected is True and "(injected fault)" in str(raised.value)  # callers flag drills
    assert upstream.hits == 0
    assert outbound(target, "timeout") == 1


def test_fault_connect_error(upstream, target):
    faults.fault_set(target, error="connect", expires_at=in_a_minute())
    with pytest.raises(OutboundConnectError):
        http.request("GET", upstream.url, target=target)
    assert upstream.hits == 0


def test_fault_status_is_returned_as_a_response_and_retried(upstream, target, sleeps):
    faults.fault_set(target, error=503, expires_at=in_a_minute())
    resp = http.request("GET", upstream.url, target=target, policy=policy(attempts=2))
    assert resp.status_code == 503
    assert resp.headers["X-Opsportal-Fault"] == "injected" and http.is_injected(resp)
    assert upstream.hits == 0
    assert sleeps == [0.5]


def test_wildcard_fault_applies_to_targets_without_their_own(upstream, target):
    faults.fault_set("*", error=502, expires_at=in_a_minute())
    faults.fault_set("other-target", latency_ms=1, expires_at=in_a_minute())
    assert http.request("GET", upstream.url, target=target).status_code == 502
    assert upstream.hits == 0


def test_fault_probability_zero_never_fires_and_one_always_fires(upstream, target):
    faults.fault_set(target, error=500, probability=0.0, expires_at=in_a_minute())
    assert [http.request("GET", upstream.url, target=target).status_code for _ in range(5)] == [200] * 5
    faults.fault_set(target, error=500, probability=1.0, expires_at=in_a_minute())
    assert http.request("GET", upstream.url, target=target).status_code == 500
    assert upstream.hits == 5


def test_fault_probability_is_honoured_roughly():
    fault = faults.Fault(target="x", expires_at=time.time() + 60, error=500, probability=0.3)
    import random

    rng = random.Random(3)
    fired = sum(fault.fires(rng) for _ in range(2000))
    assert 450 < fired < 750


def test_faults_expire_on_their_own(upstream, target, monkeypatch):
    faults.fault_set(target, error="timeout", expires_at=time.time() + 60)
    assert [f.target for f in faults.faults_active()] == [target]
    with pytest.raises(OutboundTimeout):
        http.request("GET", upstream.url, target=target)

    later = time.time() + 61
    monkeypatch.setattr(faults, "_clock", lambda: later)
    assert http.request("GET", upstream.url, target=target).status_code == 200
    assert faults.faults_active() == []
    assert faults.fault_for(target) is None


def test_fault_clear_removes_one_or_all(target):
    faults.fault_set(target, latency_ms=5, expires_at=in_a_minute())
    faults.fault_set("*", latency_ms=5, expires_at=in_a_minute())
    faults.fault_clear(target)
    assert [f.target for f in faults.faults_active()] == ["*"]
    faults.fault_clear()
    assert faults.faults_active() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error": "explode"},
        {"error": 200},
        {"error": True},
        {"latency_ms": -1},
        {"probability": 1.5},
        {},  # neither latency nor error
        {"error": 500, "expires_at": datetime.now(UTC) - timedelta(seconds=1)},
        {"error": 500, "expires_at": datetime.now() + timedelta(minutes=1)},  # naive
    ],
)
def test_fault_set_validates(kwargs):
    kwargs.setdefault("expires_at", in_a_minute())
    with pytest.raises(ValueError):
        faults.fault_set("t", **kwargs)
    assert faults.faults_active() == []


def test_no_fault_lookup_is_an_empty_dict_check():
    assert faults._faults == {}
    assert faults.fault_for("anything") is None


# --- async ---------------------------------------------------------------------------------------


@pytest.fixture
async def aclean():
    yield
    await http.aclose_client()


async def test_async_concurrent_calls_run_together(upstream, target, aclean):
    upstream.mode = "barrier"
    upstream.barrier = threading.Barrier(6)  # the server answers 200 only when 6 requests are in flight
    results = await asyncio.gather(
        *(http.arequest("GET", f"{upstream.url}/{i}", target=target) for i in range(6))
    )
    assert [r.status_code for r in results] == [200] * 6
    assert upstream.max_inflight == 6
    assert outbound(target, "success") == 6


async def test_async_retries_5xx_with_async_sleep(upstream, target, sleeps, aclean):
    upstream.script.extend(["fail", "fail"])
    resp = await http.arequest("POST", upstream.url, target=target, policy=policy(attempts=3), content=b"x")
    assert resp.status_code == 200
    assert upstream.hits == 3
    assert sleeps == [0.5, 1.0]


async def test_async_timeout_is_enforced(upstream, target, aclean):
    upstream.mode = "hang"
    started = time.monotonic()
    with pytest.raises(OutboundTimeout):
        await http.arequest("GET", upstream.url, target=target, timeout=0.3)
    assert time.monotonic() - started < 5


async def test_async_fault_latency_and_error(upstream, target, aclean):
    faults.fault_set(target, latency_ms=50, error="connect", expires_at=in_a_minute())
    started = time.monotonic()
    with pytest.raises(OutboundConnectError):
        await http.arequest("GET", upstream.url, target=target)
    assert time.monotonic() - started >= 0.05
    assert upstream.hits == 0


# --- the breaker ---------------------------------------------------------------------------------


def quick_breaker(name: str, **changes):
    """A breaker that trips after 2 calls at 50 % failures and probes again after 0.2 s."""
    config = BreakerConfig(minimum_calls=2, window_size=4, failure_rate_threshold=50, open_duration=0.2,
                           half_open_permitted_calls=1, success_threshold=1).with_changes(**changes)
    return breaker(name, config=config)


def wait_for_state(b, state: str, within: float = 30.0) -> None:  # generous: a loaded 2-core box
    deadline = time.monotonic() + within
    while b.state != state:
        assert time.monotonic() < deadline, f"breaker stayed {b.state}, expected {state}"
        time.sleep(0.01)


def test_breaker_opens_after_5xx_and_then_fails_fast_without_touching_the_server(upstream, target, sleeps):
    b = quick_breaker(target, open_duration=30)
    upstream.mode = "fail"
    assert [http.request("GET", upstream.url, target=target).status_code for _ in range(2)] == [500, 500]
    wait_for_state(b, "open")

    with pytest.raises(CircuitOpenError) as info:
        http.request("GET", upstream.url, target=target, policy=policy(attempts=5))
    assert info.value.name == target
    assert 0 < info.value.retry_after <= 30
    assert upstream.hits == 2  # the open breaker kept the call away from the server
    assert sleeps == []  # and CircuitOpenError was not retried
    assert outbound(target, "circuit_open") == 1


def test_half_open_probe_that_succeeds_closes_the_breaker(upstream, target):
    b = quick_breaker(target)
    upstream.mode = "fail"
    for _ in range(2):
        http.request("GET", upstream.url, target=target)
    wait_for_state(b, "open")
    upstream.mode = "ok"  # the dependency recovers
    wait_for_state(b, "half_open")  # after open_duration

    assert http.request("GET", upstream.url, target=target).status_code == 200
    assert b.state == "closed"
    assert upstream.hits == 3
    assert http.request("GET", upstream.url, target=target).status_code == 200


def test_half_open_probe_that_fails_reopens_the_breaker(upstream, target):
    b = quick_breaker(target)
    upstream.mode = "fail"
    for _ in range(2):
        http.request("GET", upstream.url, target=target)
    wait_for_state(b, "half_open")
    assert http.request("GET", upstream.url, target=target).status_code == 500
    assert b.state == "open"
    with pytest.raises(CircuitOpenError):
        http.request("GET", upstream.url, target=target)
    assert upstream.hits == 3


def test_retry_loop_stops_when_the_breaker_opens_mid_way(upstream, target, sleeps):
    quick_breaker(target, open_duration=30)
    upstream.mode = "fail"
    with pytest.raises(CircuitOpenError):
        http.request("GET", upstream.url, target=target, policy=policy(attempts=5))
    assert upstream.hits == 2  # attempts 1-2 reached the server, attempt 3 met the open breaker
    assert sleeps == [0.5, 1.0]


def test_timeouts_count_as_breaker_failures(upstream, target):
    b = quick_breaker(target, open_duration=30)
    upstream.mode = "hang"
    for _ in range(2):
        with pytest.raises(OutboundTimeout):
            http.request("GET", upstream.url, target=target, timeout=0.15)
    wait_for_state(b, "open")


def test_4xx_responses_do_not_count_as_breaker_failures(upstream, target):
    b = quick_breaker(target)
    upstream.mode = "missing"
    for _ in range(6):
        assert http.request("GET", upstream.url, target=target).status_code == 404
    assert b.state == "closed"


def test_injected_faults_trip_the_breaker_like_a_real_outage(upstream, target):
    b = quick_breaker(target, open_duration=30)
    faults.fault_set(target, error=503, expires_at=in_a_minute())
    for _ in range(2):
        assert http.request("GET", upstream.url, target=target).status_code == 503
    wait_for_state(b, "open")
    assert "503" in b._core.last_error
    assert upstream.hits == 0


async def test_async_breaker_opens_and_fails_fast(upstream, target, aclean):
    b = quick_breaker(target, open_duration=30)
    upstream.mode = "unavailable"
    results = await asyncio.gather(*(http.arequest("GET", upstream.url, target=target) for _ in range(2)))
    assert [r.status_code for r in results] == [503, 503]
    await asyncio.to_thread(wait_for_state, b, "open")
    with pytest.raises(CircuitOpenError):
        await http.arequest("GET", upstream.url, target=target)
    assert upstream.hits == 2


async def test_async_breaker_call_timeout_is_an_outbound_timeout(upstream, target, aclean):
    quick_breaker(target, call_timeout=0.15)
    upstream.mode = "hang"
    with pytest.raises(OutboundTimeout):
        await http.arequest("GET", upstream.url, target=target, timeout=5.0)
    assert outbound(target, "timeout") == 1

"""THE outbound HTTP seam (DESIGN §7.3): every call the portal makes to the outside goes here.

    from reliability import http
    resp = http.request("POST", url, target="webhook-destination:12", policy="default", json=body)
    resp = await http.arequest("GET", url, target="alertmanager")

Per attempt: the fault-injection hook is consulted, then the call runs inside
``breaker(target)`` on a shared pooled httpx client with connect/read timeouts.

- 2xx-4xx responses (except 429) are returned as they are; callers decide by status.
- 429 and 5xx count as breaker failures and are retried under ``policy``; once
  retries are exhausted the last response is returned, not raised.
- Timeouts and connect errors count as failures, are retried, and finally raise
  ``OutboundTimeout`` / ``OutboundConnectError`` (both ``OutboundError``).
- ``CircuitOpenError`` propagates at once: never retried, the server is not touched.
- Destinations the outbound address policy refuses (``reliability.netpolicy``: loopback,
  private, link-local, … on the *resolved* address, checked at connect time; URLs with
  user-info) raise ``OutboundRefused`` at once: never retried, not a breaker failure,
  nothing sent. The pooled clients' transports resolve the host themselves, check every
  address and connect to the checked one, so DNS rebinding cannot get round the check.

Each attempt records ``outbound_requests_total{target,outcome}`` and
``outbound_request_duration_seconds{target}`` and one structured log line
(target, method, host, status, duration_ms, attempt, outcome). The URL's path and
query are never logged: webhook and Slack URLs carry secrets in both.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import httpx
import structlog
from prometheus_client import Counter, Histogram

from reliability import faults, netpolicy
from reliability.breakers import CircuitOpenError, breaker
from reliability.retry import RetryPolicy, get_policy, is_retriable_status

CONNECT_TIMEOUT = 5.0  # seconds; never more than the call's own timeout
USER_AGENT = "opsportal (+https://github.com/opsportal)"
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)

OUTBOUND_REQUESTS = Counter(
    "outbound_requests_total",
    "Outbound HTTP attempts by target and outcome.",
    ["target", "outcome"],
)
# Attempts a chaos fault hit, tagged chaos="true" so SLOs and reports tell drills from real failures.
OUTBOUND_INJECTED = Counter(
    "outbound_injected_faults_total",
    "Outbound HTTP attempts hit by an injected (chaos) fault.",
    ["target", "outcome", "chaos"],
)
OUTBOUND_DURATION = Histogram(
    "outbound_request_duration_seconds",
    "Duration of outbound HTTP attempts (including injected latency).",
    ["target"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

log = structlog.stdlib.get_logger("reliability.http")


FAULT_HEADER = "X-Opsportal-Fault"  # on a response an injected fault made up: value "injected"


class OutboundError(Exception):
    """An outbound call failed without a response (after the policy's retries).

    ``injected`` is True when a chaos fault raised it, not the far side: callers that
    record outcomes (delivery attempts) flag those so drills never count as real failures.
    """

    retriable = False

    def __init__(self, message: str, *, target: str, method: str, host: str, attempt: int,
                 injected: bool = False) -> None:
        super().__init__(message)
        self.target = target
        self.method = method
        self.host = host
        self.attempt = attempt
        self.injected = injected


class OutboundTimeout(OutboundError):
    """Connect, read, write or pool timeout."""

    retriable = True


class OutboundConnectError(OutboundError):
    """The connection could not be established (refused, DNS, unreachable)."""

    retriable = True


class OutboundRefused(OutboundError):
    """The outbound address policy refused the destination; nothing was sent. Never retried.

    The message names the policy and the kind of address, never anything the far side said.
    """

    retriable = False


class OutboundStatusError(Exception):
    """Raised inside the breaker so a 429/5xx counts as a failure (and names it in the breaker's
    last error); caught right outside it, callers never see it."""

    def __init__(self, response: httpx.Response, host: str) -> None:
        super().__init__(f"HTTP {response.status_code} from {host}")
        self.response = response


# --- Pooled clients ----------------------------------------------------------------------

_client_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_sync_pid: int | None = None
# An AsyncClient's pool belongs to one event loop; keep one per live loop.
_async_clients: dict[int, tuple[weakref.ref, httpx.AsyncClient]] = {}


def _client_kwargs() -> dict[str, Any]:
    # trust_env=False: no proxy or netrc picked up from the environment by surprise.
    return {"headers": {"User-Agent": USER_AGENT}, "follow_redirects": False, "trust_env": False}


def guarded_transport(*, verify: Any = True) -> httpx.HTTPTransport:
    """An httpx transport whose connections go through the outbound address policy.

    httpx does not take a network backend, so the pool's is swapped after construction
    (httpcore's ConnectionPool hands it to every connection it opens);
    tests/security/test_outbound_policy.py fails if an upgrade moves it.
    """
    transport = httpx.HTTPTransport(verify=verify, limits=POOL_LIMITS, trust_env=False)
    transport._pool._network_backend = netpolicy.GuardedBackend()
    return transport


def async_guarded_transport(*, verify: Any = True) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=POOL_LIMITS, trust_env=False)
    transport._pool._network_backend = netpolicy.AsyncGuardedBackend()
    return transport


def _client() -> httpx.Client:
    global _sync_client, _sync_pid
    client, pid = _sync_client, os.getpid()
    if client is not None and _sync_pid == pid:
        return client
    with _client_lock:
        if _sync_client is None or _sync_pid != pid:  # new, or inherited across fork (Celery prefork)
            _sync_client, _sync_pid = httpx.Client(transport=guarded_transport(), **_client_kwargs()), pid
        return _sync_client


def _aclient() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    entry = _async_clients.get(id(loop))
    if entry is not None and entry[0]() is loop:
        return entry[1]
    for key, (ref, _) in list(_async_clients.items()):  # forget clients of dead loops
        dead = ref()
        if dead is None or dead.is_closed():
            _async_clients.pop(key, None)
    client = httpx.AsyncClient(transport=async_guarded_transport(), **_client_kwargs())
    _async_clients[id(loop)] = (weakref.ref(loop), client)
    return client


def close_clients() -> None:
    """Close the pooled sync client (process shutdown, tests)."""
    global _sync_client
    with _client_lock:
        if _sync_client is not None:
            _sync_client.close()
            _sync_client = None


async def aclose_client() -> None:
    """Close the current event loop's pooled async client."""
    entry = _async_clients.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].aclose()


# --- Helpers -----------------------------------------------------------------------------


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout <= 0:
        raise ValueError("timeout must be > 0")
    return httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))


def _prepare(method: str, url: str | httpx.URL, policy: str | RetryPolicy,
             timeout: float | httpx.Timeout) -> tuple[str, httpx.URL, str, RetryPolicy, httpx.Timeout]:
    pol = get_policy(policy)
    if pol.durable:
        raise ValueError(f"retry policy {pol.name!r} is a durable schedule; store next_attempt_at instead")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("only absolute http(s) URLs can be called")
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    return method.upper(), parsed, host, pol, _timeout(timeout)


def _refuse_userinfo(parsed: httpx.URL, method: str, host: str, target: str) -> None:
    try:
        netpolicy.check_userinfo(parsed.userinfo)
    except netpolicy.AddressRefused as exc:
        _Attempt(target, method, host, 1).done("refused", touched=False)
        raise OutboundRefused(f"{method} {host} [{target}] {exc}", target=target, method=method, host=host,
                              attempt=1) from None


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "success"


def _fault_response(fault: faults.Fault, method: str, url: httpx.URL) -> httpx.Response | None:
    """Raise the fault's transport error, or build its error response; None when latency only."""
    if fault.error in ("timeout", "hang"):  # a hung peer looks like a read timeout to the caller
        raise httpx.ReadTimeout(f"injected fault: {fault.error}")
    if fault.error in ("connect", "reset"):
        raise httpx.ConnectError(f"injected fault: {fault.error}")
    if isinstance(fault.error, int):
        return httpx.Response(fault.error, headers={FAULT_HEADER: "injected"},
                              request=httpx.Request(method, url))
    return None


def is_injected(response: httpx.Response) -> bool:
    """Whether ``response`` was made up by an injected (chaos) fault rather than sent by the far side."""
    return response.headers.get(FAULT_HEADER) == "injected"


class _Attempt:
    """Bookkeeping for one attempt: metrics and the log line, whatever happens."""

    __slots__ = ("target", "method", "host", "attempt", "started", "injected")

    def __init__(self, target: str, method: str, host: str, attempt: int) -> None:
        self.target, self.method, self.host, self.attempt = target, method, host, attempt
        self.started = time.perf_counter()
        self.injected = False

    def done(self, outcome: str, status: int | None = None, *, touched: bool = True) -> None:
        elapsed = time.perf_counter() - self.started
        OUTBOUND_REQUESTS.labels(target=self.target, outcome=outcome).inc()
        if touched:
            OUTBOUND_DURATION.labels(target=self.target).observe(elapsed)
        fields = {"target": self.target, "method": self.method, "host": self.host, "status": status,
                  "duration_ms": round(elapsed * 1000, 2), "attempt": self.attempt, "outcome": outcome}
        if self.injected:
            fields["fault"] = True
            fields["chaos"] = True
            OUTBOUND_INJECTED.labels(target=self.target, outcome=outcome, chaos="true").inc()
        if outcome == "success" or outcome == "client_error":
            log.info("outbound_request", **fields)
        else:
            log.warning("outbound_request", **fields)

    def refused(self, exc: netpolicy.AddressRefused) -> OutboundRefused:
        self.done("refused", touched=False)
        return OutboundRefused(f"{self.method} {self.host} [{self.target}] {exc}", target=self.target,
                               method=self.method, host=self.host, attempt=self.attempt)

    def transport_error(self, exc: Exception) -> OutboundError:
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            cls, outcome, what = OutboundTimeout, "timeout", "timed out"
        elif isinstance(exc, httpx.ConnectError):
            cls, outcome, what = OutboundConnectError, "connect_error", "could not connect"
        else:
            cls, outcome, what = OutboundError, "transport_error", f"failed ({type(exc).__name__})"
        self.done(outcome)
        # self.injected alone is not enough: a latency-only fault lets a real failure through
        injected = self.injected and "injected fault" in str(exc)
        return cls(f"{self.method} {self.host} [{self.target}] {what} on attempt {self.attempt}"
                   + (" (injected fault)" if injected else ""),
                   target=self.target, method=self.method, host=self.host, attempt=self.attempt, injected=injected)


# --- Sync --------------------------------------------------------------------------------


def request(
    method: str,
    url: str | httpx.URL,
    *,
    target: str,
    policy: str | RetryPolicy = "none",
    timeout: float | httpx.Timeout = 10.0,
    headers: Mapping[str, str] | None = None,
    content: bytes | str | None = None,
    json: Any = None,
    **kw: Any,
) -> httpx.Response:
    """Call out through breaker ``target`` under retry ``policy``. See the module docstring."""
    method, parsed, host, pol, to = _prepare(method, url, policy, timeout)
    _refuse_userinfo(parsed, method, host, target)
    b = breaker(target, exclude=(netpolicy.AddressRefused,))  # a refusal says nothing of the far side
    client = _client()
    attempts = 0

    def once() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        rec = _Attempt(target, method, host, attempts)
        fault = faults.fault_for(target)
        try:
            with b:
                response = None
                if fault is not None and fault.fires():
                    rec.injected = True
                    if fault.latency_ms:
                        time.sleep(fault.latency_ms / 1000)
                    response = _fault_response(fault, method, parsed)
                if response is None:
                    response = client.request(method, parsed, headers=headers, content=content, json=json,
                                              timeout=to, **kw)
                if is_retriable_status(response.status_code):
                    raise OutboundStatusError(response, host)
        except OutboundStatusError as failed:
            response = failed.response
        except CircuitOpenError:
            rec.done("circuit_open", touched=False)
            raise
        except netpolicy.AddressRefused as exc:
            raise rec.refused(exc) from None
        except httpx.TransportError as exc:
            raise rec.transport_error(exc) from exc
        rec.done(_outcome(response.status_code), response.status_code)
        return response

    if pol.max_attempts == 1:
        return once()
    return pol.retrying()(once)


# --- Async -------------------------------------------------------------------------------


async def arequest(
    method: str,
    url: str | httpx.URL,
    *,
    target: str,
    policy: str | RetryPolicy = "none",
    timeout: float | httpx.Timeout = 10.0,
    headers: Mapping[str, str] | None = None,
    content: bytes | str | None = None,
    json: Any = None,
    **kw: Any,
) -> httpx.Response:
    """Async twin of ``request``: same breaker, policy, metrics and faults; no lock held across the call."""
    method, parsed, host, pol, to = _prepare(method, url, policy, timeout)
    _refuse_userinfo(parsed, method, host, target)
    b = breaker(target, exclude=(netpolicy.AddressRefused,))  # a refusal says nothing of the far side
    client = _aclient()
    attempts = 0

    async def once() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        rec = _Attempt(target, method, host, attempts)
        fault = faults.fault_for(target)
        try:
            async with b:
                response = None
                if fault is not None and fault.fires():
                    rec.injected = True
                    if fault.latency_ms:
                        await asyncio.sleep(fault.latency_ms / 1000)
                    response = _fault_response(fault, method, parsed)
                if response is None:
                    response = await client.request(method, parsed, headers=headers, content=content,
                                                    json=json, timeout=to, **kw)
                if is_retriable_status(response.status_code):
                    raise OutboundStatusError(response, host)
        except OutboundStatusError as failed:
            response = failed.response
        except CircuitOpenError:
            rec.done("circuit_open", touched=False)
            raise
        except netpolicy.AddressRefused as exc:
            raise rec.refused(exc) from None
        except (httpx.TransportError, TimeoutError) as exc:  # TimeoutError: the breaker's call_timeout
            raise rec.transport_error(exc) from exc
        rec.done(_outcome(response.status_code), response.status_code)
        return response

    if pol.max_attempts == 1:
        return await once()
    return await pol.aretrying()(once)

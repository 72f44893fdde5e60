"""Sending: one signed HTTP attempt per job, on a small thread pool, never touching the database.

Requests go through the pooled keep-alive client of ``reliability.http``
(breaker per destination, policy ``none``: the retry schedule is the
engine's, in the database). Each request is signed with the destination's
Standard Webhooks secret; ``webhook-id`` is the event's public id
(``evt_<id>``) on every attempt and replay, so receivers dedupe on it. The
stored body is posted byte for byte.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import standardwebhooks
from django.utils import timezone

from opsportal import observability
from reliability import http
from reliability.breakers import CircuitOpenError
from reliability.retry import parse_retry_after
from reliability.webhooks.engine.jobs import DEFERRED, PACED, REFUSED, Job, Outcome, Result
from reliability.webhooks.engine.pace import admit, release
from reliability.webhooks.engine.policy import ERROR_EXCERPT_CHARS, excerpt, thread_count
from reliability.webhooks.signatures import sign_standard

_signers: dict[str, standardwebhooks.Webhook] = {}
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def _signer(secret: str) -> standardwebhooks.Webhook:
    signer = _signers.get(secret)
    if signer is None:
        if len(_signers) > 1000:
            _signers.clear()
        signer = _signers[secret] = standardwebhooks.Webhook(secret)
    return signer


def sign(*, secret: str, msg_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` of ``body``, made by the standardwebhooks package.

    The package signs text; a body that is not UTF-8 (possible from the
    generic HMAC or GitHub schemes) is signed over its raw bytes with the same
    HMAC construction, so the receiver's check still holds.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return sign_standard(secret, msg_id=msg_id, timestamp=int(at.timestamp()), body=body)
    return _signer(secret).sign(msg_id=msg_id, timestamp=at, data=text)


def executor() -> ThreadPoolExecutor:
    """The process's send pool (re-created in a forked child: threads do not survive a fork)."""
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is not None and _pool_pid == pid:
        return _pool
    with _pool_lock:
        if _pool is None or _pool_pid != pid:
            _pool = ThreadPoolExecutor(max_workers=thread_count(), thread_name_prefix="webhook-delivery")
            _pool_pid = pid
        return _pool


def send(job: Job) -> Outcome:
    """One HTTP attempt, paced by the destination's limits (``engine.pace``). Never raises: every failure is an outcome."""
    if job.rate_limit or job.concurrency_limit:
        defer = admit(job)
        if defer is not None:
            return Outcome(job, PACED, timezone.now(), error=f"destination {job.destination_name!r} is at its "
                           "rate or concurrency limit", retry_after=defer)
        try:
            return _send(job)
        finally:
            release(job)
    return _send(job)


def _send(job: Job) -> Outcome:
    at = timezone.now()
    headers = {
        "content-type": job.content_type,
        "webhook-id": job.public_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secret=job.secret, msg_id=job.public_id, at=at, body=job.body),
    }
    started = time.perf_counter()
    try:
        # in the event's trace: the httpx span nests under it and sends its traceparent
        with observability.continued(job.traceparent, "webhook.deliver", **{
                "webhook.id": job.public_id, "webhook.destination": job.destination_name,
                "webhook.attempt": job.attempts + 1}):
            response = http.request(
                "POST", job.url, target=job.breaker_name, policy="none", timeout=job.timeout,
                headers=headers, content=job.body,
            )
    except CircuitOpenError as exc:
        return Outcome(job, DEFERRED, at, error=str(exc), retry_after=exc.retry_after)
    except http.OutboundRefused as exc:  # a policy decision, not a network error: never retried
        return Outcome(job, REFUSED, at, error=excerpt(f"not sent, not retried (OutboundRefused): {exc}"))
    except http.OutboundTimeout as exc:
        kind, error, chaos = Result.TIMEOUT, f"timed out after {job.timeout:g} s: {exc}", exc.injected
    except http.OutboundError as exc:
        kind, error, chaos = Result.NETWORK_ERROR, str(exc), exc.injected
    except Exception as exc:  # a broken URL or an unexpected client error must not sink the batch
        kind, error, chaos = Result.NETWORK_ERROR, f"{type(exc).__name__}: {exc}", False
    else:
        latency_ms = round((time.perf_counter() - started) * 1000)
        status = response.status_code
        chaos = http.is_injected(response)  # a drill's made-up answer: flagged on the attempt
        if 200 <= status < 300:
            return Outcome(job, Result.SUCCESS, at, status_code=status, latency_ms=latency_ms, chaos=chaos)
        text = response.content[:ERROR_EXCERPT_CHARS * 4].decode("utf-8", "replace")
        error = excerpt(f"HTTP {status}: {text}" if text else f"HTTP {status}")
        if chaos:
            error = excerpt(f"{error} (injected fault)")
        if status == 410:
            return Outcome(job, Result.GONE, at, status_code=status, latency_ms=latency_ms, error=error, chaos=chaos)
        return Outcome(
            job, Result.HTTP_ERROR, at, status_code=status, latency_ms=latency_ms, error=error,
            retry_after=parse_retry_after(response.headers.get("retry-after")), chaos=chaos,
        )
    latency_ms = round((time.perf_counter() - started) * 1000)
    return Outcome(job, kind, at, latency_ms=latency_ms, error=excerpt(error), chaos=chaos)

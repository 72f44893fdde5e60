"""The probe cycle (beat, every HEALTH_PROBE_INTERVAL_SECONDS): measure, grade, hand to the service.

Each probe returns one or more ``ProbeResult`` (a value, a status from its warn/fail bounds
in ``HEALTH_THRESHOLDS``, a detail). Probes run concurrently with a timeout each
(``HEALTH_PROBE_TIMEOUT_SECONDS``); one still running from the last cycle is joined, not
started twice. Probes only read; ``services.health_results_record`` persists the results.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from reliability.health import checks
from reliability.health.models import HealthCheck, Status, WorkerHeartbeat


@dataclass
class ProbeResult:
    check: str
    status: str
    value: float | None = None
    latency_ms: float = 0.0
    detail: str = ""
    alarm: bool = True  # a "fail" raises a portal incident (False where another alarm already covers it)


def grade(check: str, value: float | None) -> str:
    """ok / warn / fail for ``value`` against ``HEALTH_THRESHOLDS[check]`` (a check without bounds is ok)."""
    bounds = settings.HEALTH_THRESHOLDS.get(check)
    if value is None or not bounds:
        return Status.OK
    warn, fail = bounds
    if value >= fail:
        return Status.FAIL
    if value >= warn:
        return Status.WARN
    return Status.OK


def _latency_probe(check: str, fn: Callable[[], str]) -> list[ProbeResult]:
    start = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:
        ms = (time.perf_counter() - start) * 1000
        return [ProbeResult(check, Status.FAIL, None, ms, f"{type(exc).__name__}: {exc}"[:300])]
    ms = (time.perf_counter() - start) * 1000
    return [ProbeResult(check, grade(check, ms), round(ms, 2), ms, str(detail))]


def probe_database() -> list[ProbeResult]:
    def select_one() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return _latency_probe("database", select_one)


def probe_redis() -> list[ProbeResult]:
    if not settings.REDIS_URL:
        return []
    timeout = float(settings.HEALTH_PROBE_TIMEOUT_SECONDS)
    return _latency_probe("redis", lambda: checks.ping_redis(settings.REDIS_URL, timeout) or "pong")


def probe_broker() -> list[ProbeResult]:
    return _latency_probe("broker", checks.check_broker)


def _fresh_cutoff():
    return timezone.now() - timedelta(seconds=float(settings.HEALTH_HEARTBEAT_STALE_SECONDS))


def probe_workers() -> list[ProbeResult]:
    """Heartbeat freshness: fail with none alive, warn with any stale (each stale worker has its own incident)."""
    rows = list(WorkerHeartbeat.objects.values_list("state", "last_seen"))
    cutoff = _fresh_cutoff()
    alive = sum(1 for state, seen in rows if state == WorkerHeartbeat.State.ALIVE and seen >= cutoff)
    stale = len(rows) - alive
    detail = f"{alive} alive, {stale} stale"
    if not rows:
        return [ProbeResult("workers", Status.WARN, 0, detail="no worker has sent a heartbeat yet", alarm=False)]
    status = Status.FAIL if alive == 0 else Status.WARN if stale else Status.OK
    return [ProbeResult("workers", status, stale, detail=detail)]


def _queue_keys(name: str) -> list[str]:
    # kombu's Redis transport keeps one list per priority step: "name", "name\x06\x163", ...
    sep = "\x06\x16"
    return [name] + [f"{name}{sep}{step}" for step in (1, 2, 3, 4, 5, 6, 7, 8, 9)]


def queue_depths() -> dict[str, int] | None:
    """Messages waiting per configured queue (Redis broker: LLEN of its lists); None if not measurable."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    timeout = float(settings.HEALTH_PROBE_TIMEOUT_SECONDS)
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in settings.HEALTH_QUEUES:
            for key in _queue_keys(queue):
                pipe.llen(key)
        counts = pipe.execute()
    finally:
        client.close()
    per = len(_queue_keys("x"))
    return {queue: sum(counts[i * per:(i + 1) * per]) for i, queue in enumerate(settings.HEALTH_QUEUES)}


def probe_queues() -> list[ProbeResult]:
    """Depth per queue; a queue is stalled when it grew since the last cycle and no live worker consumes it."""
    start = time.perf_counter()
    try:
        depths = queue_depths()
    except Exception as exc:
        return [ProbeResult("queue_depth", Status.FAIL, None, (time.perf_counter() - start) * 1000,
                            f"{type(exc).__name__}: {exc}"[:300], alarm=False)]  # the broker probe pages
    ms = (time.perf_counter() - start) * 1000
    if depths is None:
        return [ProbeResult("queue_depth", Status.OK, None, ms, "n/a (the broker is not Redis: depth not measured)",
                            alarm=False)]
    previous = dict(HealthCheck.objects.filter(name__in=[f"queue.{q}" for q in depths]).values_list("name", "value"))
    consumers: dict[str, int] = {}
    for queues in WorkerHeartbeat.objects.filter(state=WorkerHeartbeat.State.ALIVE, last_seen__gte=_fresh_cutoff()
                                                 ).values_list("queues", flat=True):
        for queue in queues or []:
            consumers[queue] = consumers.get(queue, 0) + 1
    results = []
    for queue, depth in depths.items():
        check = f"queue.{queue}"
        status = grade("queue_depth", depth)
        before = previous.get(check)
        detail = f"{depth} waiting, {consumers.get(queue, 0)} live consumer(s)"
        if depth > 0 and before is not None and depth > before and not consumers.get(queue):
            status, detail = Status.FAIL, f"stalled: {depth} waiting (was {before:g}), no live consumer"
        elif status == Status.FAIL:
            detail = f"{depth} waiting, over the threshold {settings.HEALTH_QUEUE_DEPTH_THRESHOLD}"
        results.append(ProbeResult(check, status, depth, ms, detail))
    return results


def probe_dlq() -> list[ProbeResult]:
    from reliability.webhooks.selectors.dlq import dlq_open

    depth = dlq_open().count()
    # The DLQ has its own alarm (dlq.threshold_exceeded): this result is for the dashboard only.
    return [ProbeResult("dlq_backlog", grade("dlq_backlog", depth), depth, detail=f"{depth} open", alarm=False)]


def probe_outbox() -> list[ProbeResult]:
    from opsportal.events.models import OutboxEvent

    seconds = settings.HEALTH_OUTBOX_BACKLOG_SECONDS
    backlog = OutboxEvent.objects.filter(published_at__isnull=True,
                                         created_at__lt=timezone.now() - timedelta(seconds=seconds)).count()
    return [ProbeResult("outbox_backlog", grade("outbox_backlog", backlog), backlog,
                        detail=f"{backlog} unpublished for over {seconds}s")]


_cpu_sample: tuple[float, float] | None = None  # (busy, total) jiffies of the last /proc/stat reading


def _cpu_percent() -> float | None:
    global _cpu_sample
    try:
        import psutil

        return float(psutil.cpu_percent(interval=None))  # since the previous call: the last cycle
    except ImportError:
        pass
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle, total = fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)
    last, _cpu_sample = _cpu_sample, (total - idle, total)
    if last is None or total <= last[1]:
        return None
    return round(100.0 * ((total - idle) - last[0]) / (total - last[1]), 1)


def _memory_percent() -> float | None:
    try:
        import psutil

        return float(psutil.virtual_memory().percent)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: float(line.split()[1]) for line in f if ":" in line}
        return round(100.0 * (1 - info["MemAvailable"] / info["MemTotal"]), 1)
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return None


def _disk_percent(path: str) -> float:
    if not os.path.exists(path):
        path = os.path.dirname(path) or "/"
    usage = shutil.disk_usage(path)  # os.statvfs underneath
    return round(100.0 * usage.used / usage.total, 1) if usage.total else 0.0


def probe_host() -> list[ProbeResult]:
    """CPU, memory and disk of the host that runs the probe (the worker's; docs/health.md)."""
    results = []
    for check, fn, unit in (("cpu", _cpu_percent, "% busy"), ("memory", _memory_percent, "% used"),
                            ("disk", lambda: _disk_percent(settings.HEALTH_DISK_PATH), "% used")):
        start = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:
            results.append(ProbeResult(check, Status.WARN, None, 0.0, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        ms = (time.perf_counter() - start) * 1000
        detail = "not measurable here" if value is None else f"{value:g}{unit}"
        results.append(ProbeResult(check, grade(check, value), value, ms, detail))
    return results


def external_targets() -> list[tuple[str, str]]:
    """``HEALTH_EXTERNAL_URLS`` as (name, url): "name=url" items, or bare URLs named by their host."""
    from urllib.parse import urlsplit

    targets = []
    for item in settings.HEALTH_EXTERNAL_URLS:
        name, sep, url = item.partition("=")
        if not sep or "://" in name:
            name, url = (urlsplit(item).hostname or "external"), item
        targets.append((name.strip(), url.strip()))
    return targets


def probe_external() -> list[ProbeResult]:
    from reliability import http

    results = []
    timeout = float(settings.HEALTH_PROBE_TIMEOUT_SECONDS)
    for name, url in external_targets():
        check = f"external.{name}"
        start = time.perf_counter()
        try:
            response = http.request("GET", url, target=f"health:{name}", policy="none", timeout=timeout)
        except Exception as exc:  # timeouts, refusals, an open breaker: all "the dependency is not there"
            ms = (time.perf_counter() - start) * 1000
            results.append(ProbeResult(check, Status.FAIL, None, ms, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        ms = (time.perf_counter() - start) * 1000
        if response.status_code >= 400:
            results.append(ProbeResult(check, Status.FAIL, round(ms, 2), ms, f"HTTP {response.status_code}"))
        else:
            results.append(ProbeResult(check, grade("external", ms), round(ms, 2), ms, f"HTTP {response.status_code}"))
    return results


PROBES: dict[str, Callable[[], list[ProbeResult]]] = {
    "database": probe_database,
    "redis": probe_redis,
    "broker": probe_broker,
    "workers": probe_workers,
    "queues": probe_queues,
    "dlq_backlog": probe_dlq,
    "outbox_backlog": probe_outbox,
    "host": probe_host,
    "external": probe_external,
}

_pool = ThreadPoolExecutor(max_workers=len(PROBES) + 2, thread_name_prefix="health-probe")
_lock = threading.Lock()
_inflight: dict[str, Future] = {}


@dataclass
class Cycle:
    results: list[ProbeResult] = field(default_factory=list)
    duration_ms: float = 0.0


def _run_one(fn: Callable[[], list[ProbeResult]]) -> list[ProbeResult]:
    close_old_connections()
    try:
        return fn()
    finally:
        connection.close()  # pool threads are reused at random: never keep a connection here


def probe_cycle(probes: dict[str, Callable[[], list[ProbeResult]]] | None = None) -> Cycle:
    """Run every probe concurrently, each bounded by HEALTH_PROBE_TIMEOUT_SECONDS; nothing is written."""
    probes = PROBES if probes is None else probes
    timeout = float(settings.HEALTH_PROBE_TIMEOUT_SECONDS)
    start = time.perf_counter()
    futures = {}
    with _lock:
        for name, fn in probes.items():
            running = _inflight.get(name)
            if running is None or running.done():
                running = _inflight[name] = _pool.submit(_run_one, fn)
            futures[name] = running
    deadline = time.monotonic() + timeout
    cycle = Cycle()
    for name, future in futures.items():
        try:
            cycle.results.extend(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            cycle.results.append(ProbeResult(name, Status.FAIL, None, timeout * 1000, f"no answer within {timeout:g}s"))
        except Exception as exc:  # a probe's own bug is a failed result, never a failed cycle
            cycle.results.append(ProbeResult(name, Status.FAIL, None, 0.0, f"{type(exc).__name__}: {exc}"[:300]))
    cycle.duration_ms = (time.perf_counter() - start) * 1000
    return cycle

"""Prometheus metrics for breakers, read from the runtime at scrape time.

The runtime keeps plain integer counters and histogram buckets per breaker
(updated under the breaker's own lock it already holds), and this collector
turns them into samples when /metrics is scraped: the call path pays nothing
for Prometheus. Per process, like every prometheus_client metric.

Under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` the /metrics view reads only
the per-process files, which a scrape-time collector cannot feed; there a
``MultiprocessExporter`` thread copies the runtime's counters into real
prometheus_client metrics (pre-bound children, deltas) once a second.
"""

from __future__ import annotations

import logging
import os
import threading

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from reliability.breakers.config import STATES
from reliability.breakers.runtime import DURATION_BUCKETS, RESULTS, BreakerRegistry, default_registry

STATE_VALUES = {state: index for index, state in enumerate(STATES)}  # closed 0, open 1, half_open 2, forced_open 3, disabled 4


class BreakerCollector:
    def __init__(self, registry: BreakerRegistry) -> None:
        self.registry = registry

    def describe(self):
        return []  # names are fixed; no need to collect at registration time

    def collect(self):
        state = GaugeMetricFamily(
            "circuit_breaker_state",
            "Breaker state: 0 closed, 1 open, 2 half_open, 3 forced_open, 4 disabled.",
            labels=["breaker"],
        )
        requests = CounterMetricFamily(
            "circuit_breaker_requests", "Calls through a breaker by result.", labels=["breaker", "result"]
        )
        failures = CounterMetricFamily(
            "circuit_breaker_failures", "Calls that counted as failures (errors and timeouts).", labels=["breaker"]
        )
        transitions = CounterMetricFamily(
            "circuit_breaker_transitions", "Transitions this process decided, by target state.", labels=["breaker", "to"]
        )
        durations = HistogramMetricFamily(
            "circuit_breaker_call_duration_seconds", "Duration of calls through a breaker.", labels=["breaker"]
        )
        for core in self.registry.cores():
            with core.lock:
                counts = list(core.counts)
                hist = list(core.hist)
                total = core.duration_sum
                moved = dict(core.transitions)
                current = core.state
            name = core.name
            state.add_metric([name], STATE_VALUES.get(current, 0))
            for result, value in zip(RESULTS, counts, strict=True):
                requests.add_metric([name, result], value)
            failures.add_metric([name], counts[1] + counts[2])
            for to in STATES:
                transitions.add_metric([name, to], moved.get(to, 0))
            buckets, running = [], 0
            for bound, count in zip((*DURATION_BUCKETS, float("inf")), hist, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            durations.add_metric([name], buckets, total)
        yield from (state, requests, failures, transitions, durations)


log = logging.getLogger("reliability.breakers")


class MultiprocessExporter:
    """Copies runtime counters into prometheus_client metrics (for multi-process exposition)."""

    def __init__(self, registry: BreakerRegistry, *, prometheus_registry=REGISTRY, interval: float = 1.0) -> None:
        self.registry = registry
        self.interval = interval
        kw = {"registry": prometheus_registry}
        self.state = Gauge("circuit_breaker_state", "Breaker state: 0 closed, 1 open, 2 half_open, 3 forced_open, "
                           "4 disabled.", ["breaker"], multiprocess_mode="livemax", **kw)
        self.requests = Counter("circuit_breaker_requests", "Calls through a breaker by result.",
                                ["breaker", "result"], **kw)
        self.failures = Counter("circuit_breaker_failures", "Calls that counted as failures.", ["breaker"], **kw)
        self.transitions = Counter("circuit_breaker_transitions", "Transitions this process decided.",
                                   ["breaker", "to"], **kw)
        self.durations = Histogram("circuit_breaker_call_duration_seconds", "Duration of calls through a breaker.",
                                   ["breaker"], buckets=DURATION_BUCKETS, **kw)
        self._seen: dict[str, tuple] = {}  # name → (counts, hist, sum, transitions) already exported
        self._thread: threading.Thread | None = None

    def push(self) -> None:
        for core in self.registry.cores():
            with core.lock:
                counts, hist, total = list(core.counts), list(core.hist), core.duration_sum
                moved, current = dict(core.transitions), core.state
            name = core.name
            old_counts, old_hist, old_total, old_moved = self._seen.get(
                name, ([0] * len(counts), [0] * len(hist), 0.0, {}))
            self.state.labels(name).set(STATE_VALUES.get(current, 0))
            for result, new, old in zip(RESULTS, counts, old_counts, strict=True):
                if new > old:
                    self.requests.labels(name, result).inc(new - old)
            failed = (counts[1] + counts[2]) - (old_counts[1] + old_counts[2])
            if failed > 0:
                self.failures.labels(name).inc(failed)
            for to, n in moved.items():
                if n > old_moved.get(to, 0):
                    self.transitions.labels(name, to).inc(n - old_moved.get(to, 0))
            child = self.durations.labels(name)
            for i, (new, old) in enumerate(zip(hist, old_hist, strict=True)):
                if new > old:
                    child._buckets[i].inc(new - old)  # non-cumulative per-bucket values, as observe() keeps them
            if total > old_total:
                child._sum.inc(total - old_total)
            self._seen[name] = (counts, hist, total, moved)

    def start(self) -> None:
        def loop() -> None:
            while True:
                threading.Event().wait(self.interval)
                try:
                    self.push()
                except Exception:
                    log.exception("exporting breaker metrics failed")

        self._thread = threading.Thread(target=loop, name="breaker-metrics", daemon=True)
        self._thread.start()


_registered = False
_exporter: MultiprocessExporter | None = None


def register() -> None:
    global _registered, _exporter
    if _registered:
        return
    _registered = True
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
        _exporter = MultiprocessExporter(default_registry)
        _exporter.start()
        os.register_at_fork(after_in_child=_exporter.start)
    else:
        REGISTRY.register(BreakerCollector(default_registry))

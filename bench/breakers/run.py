#!/usr/bin/env python3
"""breakers: per-call overhead of a breaker in the closed state, ours vs pybreaker, side by side.

Four ways to call the same trivial function, each minus a plain call of it:

  ours (in-memory)        reliability.breakers, local state (the embedded default)
  pybreaker (in-memory)   pybreaker.CircuitBreaker with its default memory storage
  ours (shared, Redis)    reliability.breakers with the Redis store and its 250 ms flusher running
  pybreaker (Redis)       pybreaker.CircuitBreaker with CircuitRedisStorage

Every round runs all of them in a random order (one thread, sequential calls);
the figure is the median over rounds. Redis is real (bench.common.redis_url()).
Prints a markdown section; exits 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import BenchError, check_redis, loadavg, md_table, redis_url  # noqa: E402

NAME = "breakers"
ROUNDS = int(os.environ.get("BENCH_BREAKERS_ROUNDS", "15"))
FAST_CALLS = int(os.environ.get("BENCH_BREAKERS_CALLS", "50000"))  # per round, in-memory and ours-shared
SLOW_CALLS = int(os.environ.get("BENCH_BREAKERS_REDIS_CALLS", "400"))  # per round, pybreaker-redis
TARGET_MEMORY = 1.0
TARGET_SHARED = 0.2


def protected() -> int:
    return 1


def direct(fn):
    return fn()


def per_call_ns(call, n: int) -> float:
    fn = protected
    start = time.perf_counter()
    for _ in range(n):
        call(fn)
    return (time.perf_counter() - start) / n * 1e9


def main() -> int:
    import pybreaker
    import redis

    from reliability.breakers.runtime import BreakerRegistry

    url = redis_url()
    check_redis(url)
    client = redis.Redis.from_url(url)
    for key in client.scan_iter("pybreaker:bench-breakers*"):
        client.delete(key)
    client.delete("opsportal:breaker:{bench-shared}", "opsportal:breaker:{bench-shared}:w")

    ours_memory = BreakerRegistry(background=False).get("bench-memory")
    shared_registry = BreakerRegistry(redis_url=url, background=True)
    ours_shared = shared_registry.get("bench-shared")
    pyb_memory = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis.Redis.from_url(url),
                                            namespace="bench-breakers")
    pyb_redis = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, state_storage=storage)

    impls = {
        "plain call": (direct, FAST_CALLS),
        "ours (in-memory)": (ours_memory.call, FAST_CALLS),
        "pybreaker (in-memory)": (pyb_memory.call, FAST_CALLS),
        "ours (shared, Redis)": (ours_shared.call, FAST_CALLS),
        "pybreaker (Redis)": (pyb_redis.call, SLOW_CALLS),
    }
    for call, n in impls.values():  # warm-up (and check every call really returns)
        for _ in range(min(n, 2000)):
            if call(protected) != 1:
                raise BenchError("a protected call did not return the function's result")
    time.sleep(0.3)  # the shared breaker has flushed once
    if shared_registry.store_status()[0] != "shared":
        raise BenchError(f"shared mode is not active: {shared_registry.store_status()}")

    load_start = loadavg()
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for r in range(ROUNDS):
        order = list(impls)
        random.shuffle(order)
        for name in order:
            call, n = impls[name]
            samples[name].append(per_call_ns(call, n))
        print(f"round {r + 1}/{ROUNDS}", file=sys.stderr)
    if ours_shared.state != "closed" or ours_shared._core.remote_calls == 0:
        raise BenchError("the shared breaker never flushed its outcomes to Redis")
    shared_registry.close()

    base = statistics.median(samples["plain call"])
    med = {name: statistics.median(v) for name, v in samples.items()}
    overhead = {name: med[name] - base for name in impls}
    ratio_memory = overhead["ours (in-memory)"] / overhead["pybreaker (in-memory)"]
    ratio_shared = overhead["ours (shared, Redis)"] / overhead["pybreaker (Redis)"]

    rows = []
    for name in impls:
        lo, hi = min(samples[name]), max(samples[name])
        rows.append([
            name,
            f"{impls[name][1]:,}",
            f"{med[name] / 1000:.3f}",
            f"{lo / 1000:.3f} – {hi / 1000:.3f}",
            "—" if name == "plain call" else f"{overhead[name] / 1000:.3f}",
        ])

    print(f"### {NAME}\n")
    print("Per-call cost of a breaker in the **closed** state around a function that returns at once; one")
    print(f"thread, sequential calls, {ROUNDS} rounds, all five variants in a random order each round; figures")
    print("are medians over rounds. Overhead = variant − plain call. Shared mode runs with its background")
    print(f"flusher (250 ms) against real Redis at `{url.rsplit('@', 1)[-1]}`; pybreaker "
          f"{metadata.version('pybreaker')} uses `CircuitRedisStorage` there.")
    print(f"Load average at start: {load_start}.\n")
    print(md_table(["variant", "calls/round", "µs per call (median)", "range over rounds (µs)", "overhead (µs)"], rows))
    print()
    print(f"- in-memory: ours / pybreaker overhead = **{ratio_memory:.2f}×**")
    print(f"- shared: ours (Redis) / pybreaker (Redis) overhead = **{ratio_shared:.4f}×**"
          f" (pybreaker makes Redis round trips on every call; ours makes none on the closed path)\n")
    met_memory = "MET" if ratio_memory <= TARGET_MEMORY else "NOT MET"
    met_shared = "MET" if ratio_shared <= TARGET_SHARED else "NOT MET"
    print(f"**Target in-memory ≤ {TARGET_MEMORY:.1f}× pybreaker: {ratio_memory:.2f}× — {met_memory}**\n")
    print(f"**Target shared ≤ {TARGET_SHARED:.1f}× pybreaker-redis: {ratio_shared:.4f}× — {met_shared}**")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"breakers benchmark broke: {exc}", file=sys.stderr)
        sys.exit(1)

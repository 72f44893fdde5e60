#!/usr/bin/env python3
"""health: the cost of one probe cycle, side by side with its floor (one SELECT 1 and one Redis PING).

Production settings against real PostgreSQL and Redis (a scratch database, migrated), the Redis
broker, no external URLs. Per round, in random order: (a) ``probe_cycle()`` — every probe
concurrently, nothing written; (b) ``probe_cycle_record()`` — the beat task's whole work: the
cycle plus persisting its results (one bulk insert, the per-check state rows, metrics);
(c) the floor: a ``SELECT 1`` on a fresh connection and a PING on a fresh Redis client, which
every health check of a database and a Redis pays anyway. Target: a recorded cycle costs less
than 1 % of the probe interval (600 ms at the default 60 s).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BenchError,
    check_redis,
    database_url,
    django_env,
    ensure_database,
    loadavg,
    manage,
    md_table,
    percentile,
    redis_url,
)

ROUNDS = int(os.environ.get("BENCH_HEALTH_ROUNDS", "60"))
WARMUP = 5
TARGET_MS = 600.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    db, rd = database_url(), redis_url()
    ensure_database(db)
    check_redis(rd)
    env = django_env("opsportal.settings", DATABASE_URL=db, REDIS_URL=rd, ALLOWED_HOSTS="127.0.0.1",
                     HEALTH_EXTERNAL_URLS="", LOG_LEVEL="WARNING")
    manage(["migrate", "--noinput"], env)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from reliability.health import checks
    from reliability.health.engine import probe_cycle_record
    from reliability.health.probes import probe_cycle

    def floor() -> None:
        checks.check_database()
        checks.ping_redis(rd, 1.0)

    cases = {"probe_cycle (measure only)": lambda: probe_cycle(),
             "probe_cycle_record (beat task)": probe_cycle_record,
             "floor: SELECT 1 + PING": floor}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    checks_per_cycle = len(probe_cycle().results)
    for i in range(WARMUP + ROUNDS):
        order = list(cases)
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            cases[name]()
            elapsed = (time.perf_counter() - start) * 1000
            if i >= WARMUP:
                samples[name].append(elapsed)
        connection.close()
    floor_p50 = statistics.median(samples["floor: SELECT 1 + PING"])
    rows = [[name, len(v), f"{percentile(v, 50):.1f}", f"{percentile(v, 90):.1f}", f"{percentile(v, 99):.1f}",
             f"{percentile(v, 50) / floor_p50:.1f}×"] for name, v in samples.items()]
    recorded = percentile(samples["probe_cycle_record (beat task)"], 50)
    from reliability.health.models import SystemHealthEvent

    SystemHealthEvent.objects.all().delete()  # leave the scratch database small for the next run
    print("### health: probe cycle\n")
    print(f"One probe cycle ({checks_per_cycle} checks: database, Redis, broker, workers, queue depth, DLQ, outbox, "
          f"CPU, memory, disk) under production settings, real PostgreSQL and Redis, {ROUNDS} rounds after "
          f"{WARMUP} warm-up, the three cases in random order per round, sequential, in one process. "
          f"Load average at the end: {loadavg()}.\n")
    print(md_table(["case", "n", "p50 ms", "p90 ms", "p99 ms", "p50 vs floor"], rows))
    verdict = "MET" if recorded < TARGET_MS else "NOT MET"
    print(f"\n**Target: a recorded probe cycle under {TARGET_MS:.0f} ms (1 % of the 60 s interval); measured p50 "
          f"{recorded:.1f} ms — {verdict}.**")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        log(f"health probes bench broke: {exc}")
        raise SystemExit(1) from None

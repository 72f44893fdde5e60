#!/usr/bin/env python3
"""health.slow_query: the cost per statement of the slow-query execute wrapper, against no wrapper.

In one Django process (production settings, PostgreSQL), the same connection runs ``SELECT 1``
(cursor.execute + fetchone, Django's cursor wrapper as every ORM query uses) in rounds,
alternating in a random order per round between

  wrapped    the connection's execute_wrappers hold the SlowQueryWrapper (as installed)
  bare       the wrapper removed from the list

Statements are all fast (under SLOW_QUERY_MS), so this is the cost every query pays; the
slow path (log line, counter, buffer) runs only for slow statements. Also the same for an ORM
``filter().first()`` on a real table. On a loaded machine a statement's round trip varies by
far more than the wrapper costs, so the wrapper is also timed in isolation: the wrapper around
a no-op ``execute`` against the no-op called directly (``ISOLATED_CALLS`` each, alternating).
Target: the wrapper adds <= 5 us per statement (isolated figure).

Prints a markdown section; exits 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import BenchError, database_url, django_env, ensure_database, loadavg, manage, md_table  # noqa: E402

NAME = "health.slow_query"
TARGET_US = 5.0
ROUNDS = int(os.environ.get("BENCH_HEALTH_SQ_ROUNDS", "6"))
PER_ROUND = int(os.environ.get("BENCH_HEALTH_SQ_STATEMENTS", "500"))
ISOLATED_CALLS = int(os.environ.get("BENCH_HEALTH_SQ_ISOLATED", "200000"))


def log(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def main() -> int:
    db_url = database_url()
    ensure_database(db_url)
    env = django_env("opsportal.settings", DATABASE_URL=db_url)
    manage(["migrate", "--noinput"], env)
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from opsportal.catalog.models import Service
    from reliability.health.slowqueries.monitor import SlowQueryWrapper

    connection.ensure_connection()
    wrappers = [w for w in connection.execute_wrappers if isinstance(w, SlowQueryWrapper)]
    if len(wrappers) != 1:
        raise BenchError(f"expected the monitor's wrapper on the connection, found {connection.execute_wrappers}")
    wrapper = wrappers[0]

    def raw(n: int) -> None:
        with connection.cursor() as cursor:
            for _ in range(n):
                cursor.execute("SELECT 1")
                cursor.fetchone()

    def orm(n: int) -> None:
        for _ in range(n):
            Service.objects.filter(pk=1).first()

    kinds = {"SELECT 1": raw, "ORM filter().first()": orm}
    results: dict[tuple[str, str], list[float]] = {(k, m): [] for k in kinds for m in ("wrapped", "bare")}
    rng = random.Random(20261202)
    for fn in kinds.values():  # warm-up
        fn(500)
    log(f"{ROUNDS} rounds x {PER_ROUND} statements x {len(results)} variants")
    for _ in range(ROUNDS):
        order = list(results)
        rng.shuffle(order)
        for kind, mode in order:
            if mode == "bare":
                connection.execute_wrappers.remove(wrapper)
            try:
                start = time.perf_counter()
                kinds[kind](PER_ROUND)
                results[(kind, mode)].append((time.perf_counter() - start) / PER_ROUND * 1e6)
            finally:
                if mode == "bare":
                    connection.execute_wrappers.append(wrapper)

    def noop(sql, params, many, context):
        return None

    isolated = {"wrapped": [], "bare": []}
    chunk = max(1, ISOLATED_CALLS // 10)
    for _ in range(10):
        for mode in rng.sample(["wrapped", "bare"], 2):
            start = time.perf_counter()
            if mode == "wrapped":
                for _ in range(chunk):
                    wrapper(noop, "SELECT 1", None, False, None)
            else:
                for _ in range(chunk):
                    noop("SELECT 1", None, False, None)
            isolated[mode].append((time.perf_counter() - start) / chunk * 1e6)
    iso_wrapped, iso_bare = statistics.median(isolated["wrapped"]), statistics.median(isolated["bare"])
    iso_added = iso_wrapped - iso_bare

    rows, overheads = [], {}
    for kind in kinds:
        wrapped = statistics.median(results[(kind, "wrapped")])
        bare = statistics.median(results[(kind, "bare")])
        overheads[kind] = wrapped - bare
        rows.append([kind, f"{bare:.1f}", f"{wrapped:.1f}", f"{wrapped - bare:+.2f}", f"{(wrapped / bare - 1) * 100:+.1f} %"])
    rows.append(["wrapper alone (no-op execute)", f"{iso_bare:.2f}", f"{iso_wrapped:.2f}", f"{iso_added:+.2f}", "—"])
    out = [
        f"### {NAME}", "",
        f"One process, production settings (SLOW_QUERY_MS={settings.SLOW_QUERY_MS}), PostgreSQL on 127.0.0.1, "
        f"one connection; {ROUNDS} rounds x {PER_ROUND} statements per variant, variants in random order per "
        "round; the median of the per-round means. Load average at the end: " + loadavg() + ".", "",
        md_table(["statement", "no wrapper (us)", "wrapper (us)", "added (us)", "relative"], rows), "",
        "The database rows are side by side in one run but a loaded machine's noise (the load average above) "
        "is larger than the difference; the last row is the wrapper's own cost.", "",
        f"**Target: the wrapper adds <= {TARGET_US:g} us per statement; measured {iso_added:+.2f} us in isolation — "
        f"{'MET' if iso_added <= TARGET_US else 'NOT MET'}.**",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        sys.exit(1)

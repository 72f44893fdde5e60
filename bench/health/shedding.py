#!/usr/bin/env python3
"""health.shedding: signed webhook ingestion throughput at NORMAL against SEVERE (shedding active).

One gunicorn (-k gthread, 2 workers x 8 threads, production settings on PostgreSQL and Redis,
the production WSGI app with its lean ingestion chain, which includes the shedding
middleware) serves POST /api/v1/webhooks/in/bench-ingest/ (bench/webhooks' source and
pre-signed Standard Webhooks requests, each with its own id). wrk (-t1, 16 connections) drives
it for a few seconds per round at each level, the two levels in a random order per round. The
level is set through the override service (bench/health/_shedding_helper.py); before each run
the bench waits until the audit CSV export answers 503 (SEVERE: shedding active) or not 503
(NORMAL) several times in a row, so both workers have the new level. Every 2xx is looked up in
the database afterwards. Also, in one process: the middleware's own cost per ingest request at
NORMAL (a call through it against calling the view directly).

Target: ingestion at SEVERE >= 0.9x its throughput at NORMAL (shedding must not slow the
path it protects), 0 non-2xx, every 2xx stored.

Prints a markdown section; exits 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (  # noqa: E402
    ROOT,
    WORK_DIR,
    BenchError,
    check_redis,
    database_url,
    django_env,
    ensure_database,
    gunicorn,
    loadavg,
    manage,
    md_table,
    python,
    redis_url,
)
from bench.webhooks.run import fixtures, purge_broker, reset_traffic, run_wrk, sql, write_requests  # noqa: E402

NAME = "health.shedding"
HERE = Path(__file__).resolve().parent
ROUNDS = int(os.environ.get("BENCH_HEALTH_SHED_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_HEALTH_SHED_SECONDS", "6"))
MICRO_CALLS = int(os.environ.get("BENCH_HEALTH_SHED_MICRO", "50000"))
RATIO_TARGET = 0.9
EXPORT = "/api/v1/audit/export.csv"


def log(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def helper(env: dict, *args: str) -> dict:
    proc = subprocess.run([python(), str(HERE / "_shedding_helper.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise BenchError(f"_shedding_helper {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wait_for_level(base: str, level: str, timeout: float = 60) -> None:
    import httpx

    want_shed = level != "NORMAL"
    streak, deadline = 0, time.monotonic() + timeout
    while streak < 8:
        status = httpx.get(base + EXPORT, headers={"X-Forwarded-Proto": "https"}, timeout=10).status_code
        streak = streak + 1 if (status == 503) == want_shed else 0
        if time.monotonic() > deadline:
            raise BenchError(f"the export never answered {'503' if want_shed else 'non-503'} at {level} (last {status})")
        time.sleep(0.1)


def main() -> int:
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("wrk is not installed (Debian package wrk)")
    db_url = database_url()
    ensure_database(db_url)
    broker = redis_url()
    check_redis(broker)
    env = django_env("bench.webhooks.settings", DATABASE_URL=db_url, REDIS_URL=broker,
                     DEGRADATION_CACHE_SECONDS="1", RATE_LIMIT_ENABLED="true",
                     OPSPORTAL_OUTBOUND_ALLOWED_CIDRS="127.0.0.0/8")  # the sink is a closed local port
    manage(["migrate", "--noinput"], env)
    reset_traffic(db_url)
    source = fixtures(env, "ingest-source")
    helper(env, "level", "NORMAL")
    micro = helper(env, "micro", str(MICRO_CALLS))
    multiproc = WORK_DIR / "health-shedding-prometheus"
    shutil.rmtree(multiproc, ignore_errors=True)
    multiproc.mkdir(parents=True)
    server_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    path = f"/api/v1/webhooks/in/{source['slug']}/"
    rng = random.Random(20261202)
    files = WORK_DIR / "health-shedding"
    files.mkdir(parents=True, exist_ok=True)
    per_run = max(2000, SECONDS * 4000)
    runs: dict[str, list[dict]] = {"NORMAL": [], "SEVERE": []}
    counter = 0

    def one(level: str, base: str, seconds: int) -> dict:
        nonlocal counter
        counter += 1
        request_file = files / f"{level}.tsv"
        write_requests(request_file, secret=source["secret"], prefix=f"shed_{os.getpid()}_{counter}", count=per_run,
                       rng=rng)
        return run_wrk(wrk, base + path, request_file, path, seconds)

    load_start = loadavg()
    with gunicorn("bench.webhooks.wsgi:application", server_env, workers=2, threads=8, ready_path="/bench/info/",
                  log_name=f"{NAME}-gunicorn") as base:
        log(f"serving at {base}; warm-up, then {ROUNDS} rounds x 2 levels x {SECONDS} s")
        warm = [one("NORMAL", base, 2)]
        for r in range(ROUNDS):
            order = ["NORMAL", "SEVERE"]
            rng.shuffle(order)
            for level in order:
                helper(env, "level", level)
                wait_for_level(base, level)
                result = one(level, base, SECONDS)
                runs[level].append(result)
                log(f"round {r + 1} {level}: {result['rps']:.0f} req/s, p50 {result['p50_us'] / 1000:.1f} ms, "
                    f"p99 {result['p99_us'] / 1000:.1f} ms, non-2xx {result['s5xx'] + result['sother']}")
        helper(env, "level", "NORMAL")
    purge_broker(broker)
    every = [*warm, *runs["NORMAL"], *runs["SEVERE"]]
    answered = sorted({i for r in every for i in r["ids"]})
    found = sql(db_url, "SELECT count(*) FROM webhooks_webhookevent WHERE id = ANY(%s)", [answered], fetch="one")[0]
    non2xx = sum(r["s5xx"] + r["sother"] for r in every)
    rps = {level: statistics.median(r["rps"] for r in rs) for level, rs in runs.items()}
    p99 = {level: statistics.median(r["p99_us"] for r in rs) / 1000 for level, rs in runs.items()}
    ratio = rps["SEVERE"] / rps["NORMAL"] if rps["NORMAL"] else 0.0
    met = ratio >= RATIO_TARGET and non2xx == 0 and found == len(answered)
    out = [
        f"### {NAME}", "",
        f"gunicorn gthread 2x8 (production settings, PostgreSQL, Redis), the production WSGI app (lean ingest chain "
        f"with the shedding middleware); wrk -t1 -c16, {ROUNDS} rounds x {SECONDS} s per level, levels in random "
        f"order per round, set by the override service; median of rounds. Load average {load_start} at the start, "
        f"{loadavg()} at the end.", "",
        md_table(["level", "ingest req/s", "p99 (ms)", "rounds (req/s)"],
                 [[lv, f"{rps[lv]:.0f}", f"{p99[lv]:.1f}", ", ".join(f"{r['rps']:.0f}" for r in runs[lv])] for lv in runs]),
        "",
        f"SEVERE / NORMAL: {ratio:.2f}x. 2xx answers: {len(answered)}, found in the database: {found}; "
        f"non-2xx: {non2xx}. At SEVERE the audit export answered 503 before every SEVERE run (shedding active).", "",
        f"Middleware alone on the ingest path at NORMAL (one process, {MICRO_CALLS} calls each way): "
        f"{micro['middleware'] - micro['bare']:+.2f} us per request "
        f"({micro['bare']:.2f} us view alone, {micro['middleware']:.2f} us through the middleware).", "",
        f"**Target: ingestion at SEVERE >= {RATIO_TARGET}x NORMAL, 0 non-2xx, every 2xx stored; measured "
        f"{ratio:.2f}x, {non2xx} non-2xx, {found}/{len(answered)} stored — {'MET' if met else 'NOT MET'}.**",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        sys.exit(1)

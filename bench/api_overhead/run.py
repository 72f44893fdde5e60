#!/usr/bin/env python3
"""api_overhead: what the full stack adds to an authenticated API GET, vs a bare Django view.

One gunicorn (-k gthread, production settings on PostgreSQL, DEBUG off)
serves three targets from one process:

  bare     /bench/bare/<id>/      plain function view, NO middleware, one PK SELECT
  bare+mw  /bench/bare-mw/<id>/   the same view through settings.MIDDLEWARE
  api      /api/v1/services/<id>/ DRF retrieve with a bearer token (read scope)

A sequential keep-alive httpx client requests every target once per round, in
a random order each round, so machine noise lands on all of them alike; wrk
(when installed) cross-checks in alternating rounds. Prints a markdown
section; exits 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (  # noqa: E402
    BenchError,
    check_redis,
    database_url,
    django_env,
    ensure_database,
    gunicorn,
    loadavg,
    manage,
    md_table,
    percentile,
    redis_url,
)

NAME = "api_overhead"
SETTINGS = "bench.api_overhead.settings"
TARGET_MS = 1.0
SERVICE_NAME = "bench-api-overhead"
WORKERS, THREADS = 1, 4

TARGETS = {
    "bare": ("/bench/bare/{id}/", "plain Django function view, no middleware; 1 PK SELECT → JsonResponse"),
    "bare+mw": ("/bench/bare-mw/{id}/", "the same view through settings.MIDDLEWARE"),
    "api": ("/api/v1/services/{id}/", "DRF `ServiceViewSet` retrieve, `Authorization: Bearer` token (read scope)"),
}


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_API_ROUNDS", "3000")),
                        help="measured httpx rounds (each requests every target once)")
    parser.add_argument("--warmup", type=int, default=int(env("BENCH_API_WARMUP", "300")),
                        help="warm-up rounds, not measured")
    parser.add_argument("--blocks", type=int, default=5, help="split the rounds into this many blocks to show spread")
    parser.add_argument("--wrk-rounds", type=int, default=int(env("BENCH_API_WRK_ROUNDS", "4")),
                        help="alternating wrk rounds per target (0 to skip wrk)")
    parser.add_argument("--wrk-seconds", type=int, default=2, help="duration of one wrk round")
    return parser.parse_args(argv)


# --- wrk -------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_WRK_PCT = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_WRK_REQS = re.compile(r"^\s*(\d+) requests in", re.M)
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_WRK_ERRORS = re.compile(r"Socket errors:.*")


def parse_wrk(output: str) -> dict:
    """Percentiles (ms) and counts from ``wrk --latency`` output; BenchError on failed requests."""
    pct = {int(p): float(v) * _UNITS[u] for p, v, u in _WRK_PCT.findall(output)}
    reqs = _WRK_REQS.search(output)
    if not {50, 90, 99} <= pct.keys() or reqs is None:
        raise BenchError(f"could not parse wrk output:\n{output}")
    bad = _WRK_NON2XX.search(output)
    if bad:
        raise BenchError(f"wrk saw {bad.group(1)} non-2xx responses:\n{output}")
    errors = _WRK_ERRORS.search(output)
    if errors:
        raise BenchError(f"wrk saw socket errors ({errors.group(0)}):\n{output}")
    return {"p50": pct[50], "p90": pct[90], "p99": pct[99], "requests": int(reqs.group(1))}


def run_wrk(wrk: str, url: str, headers: dict[str, str], seconds: int) -> dict:
    cmd = [wrk, "-t1", "-c1", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=False)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout)


# --- measurement -----------------------------------------------------------------

def setup(env: dict[str, str]) -> str:
    """Migrate the scratch database and issue a read token; returns the raw token."""
    manage(["migrate", "--noinput"], env)
    out = manage(["issue_token", "--service", SERVICE_NAME, "--scopes", "read", "--name", "bench"], env)
    return out.strip().splitlines()[-1].strip()


def check_targets(client, paths: dict[str, str], service_id: int) -> dict[str, int]:
    """Every target answers 200 with the service's id; returns SQL statements per request."""
    queries = {}
    for name, path in paths.items():
        response = client.get(path, headers={"X-Bench-Count-Queries": "1"})
        if response.status_code != 200 or response.json().get("id") != service_id:
            raise BenchError(f"{name} {path}: {response.status_code} {response.text[:300]}")
        queries[name] = int(response.headers.get("X-Bench-Queries", "-1"))
    return queries


def measure(client, paths: dict[str, str], rounds: int, rng: random.Random) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in paths}
    order = list(paths)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            started = time.perf_counter_ns()
            response = client.get(paths[name])
            elapsed = time.perf_counter_ns() - started
            if response.status_code != 200:
                raise BenchError(f"{name}: HTTP {response.status_code} {response.text[:300]}")
            samples[name].append(elapsed / 1e6)
    return samples


def fmt(ms: float) -> str:
    return f"{ms:.3f}"


def fmt_delta(ms: float) -> str:
    return f"{ms:+.3f}"


def log(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    import httpx

    args = parse_args(argv)
    load_start = loadavg()
    db_url, cache_url = database_url(), redis_url()
    ensure_database(db_url)
    check_redis(cache_url)
    env = django_env(SETTINGS, DATABASE_URL=db_url, REDIS_URL=cache_url)
    log("migrating the scratch database and issuing a read token")
    token = setup(env)
    # Behind nginx every request arrives with X-Forwarded-Proto: https; production
    # settings redirect plain http, so the client says what the proxy would.
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    rng = random.Random(20260522)

    with gunicorn("bench.api_overhead.wsgi:application", env, workers=WORKERS, threads=THREADS,
                  ready_path="/bench/info/", log_name=NAME) as base:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            info = client.get("/bench/info/").json()
            listed = client.get("/api/v1/services/", params={"name": SERVICE_NAME})
            if listed.status_code != 200 or not listed.json().get("results"):
                raise BenchError(f"service lookup failed: {listed.status_code} {listed.text[:300]}")
            service_id = listed.json()["results"][0]["id"]
            paths = {name: pattern.format(id=service_id) for name, (pattern, _) in TARGETS.items()}
            queries = check_targets(client, paths, service_id)
            log(f"serving at {base}; {args.warmup} warm-up rounds, then {args.rounds} measured rounds")
            measure(client, paths, args.warmup, rng)
            t0 = time.monotonic()
            samples = measure(client, paths, args.rounds, rng)
            httpx_seconds = time.monotonic() - t0

        wrk = shutil.which("wrk") if args.wrk_rounds > 0 else None
        wrk_rounds: dict[str, list[dict]] = {name: [] for name in paths}
        if wrk:
            log(f"wrk cross-check: {args.wrk_rounds} rounds x {len(paths)} targets x {args.wrk_seconds} s")
            order = list(paths)
            for _ in range(args.wrk_rounds):
                rng.shuffle(order)
                for name in order:
                    wrk_rounds[name].append(run_wrk(wrk, base + paths[name], headers, args.wrk_seconds))
    load_end = loadavg()

    print(report(args, info, paths, queries, samples, httpx_seconds, wrk, wrk_rounds, load_start, load_end))
    return 0


# --- report ----------------------------------------------------------------------

def report(args, info, paths, queries, samples, httpx_seconds, wrk, wrk_rounds, load_start, load_end) -> str:
    stats = {name: {f"p{p}": percentile(v, p) for p in (50, 90, 99)} for name, v in samples.items()}
    delta = stats["api"]["p50"] - stats["bare"]["p50"]
    met = delta <= TARGET_MS

    # The same p50 difference within consecutive blocks of rounds: how much noise moved it.
    per_block = max(1, args.rounds // args.blocks)
    block_deltas = []
    for start in range(0, per_block * args.blocks, per_block):
        api, bare = samples["api"][start:start + per_block], samples["bare"][start:start + per_block]
        if api and bare:
            block_deltas.append(percentile(api, 50) - percentile(bare, 50))

    out = [f"### {NAME}", ""]
    out.append(
        "Latency of an authenticated API GET through the full stack versus a bare Django view, "
        "served by the same gunicorn process in the same run."
    )
    out.append("")
    out.append(
        f"- Server: gunicorn `-k gthread --workers {WORKERS} --threads {THREADS}` on 127.0.0.1, "
        f"Django {info['django']}, DRF {info['drf']}, OPSPORTAL_ENV={info['env']}, DEBUG={info['debug']}, "
        f"{info['database'].strip()} (CONN_MAX_AGE={info['conn_max_age']}, health checks "
        f"{'on' if info['conn_health_checks'] else 'off'}: one `SELECT 1` per request on every target), "
        f"cache `{info['cache'].rsplit('.', 1)[-1]}`, OpenTelemetry off."
    )
    out.append(
        f"- Client: one keep-alive httpx connection, strictly sequential; {args.warmup} warm-up rounds, then "
        f"{args.rounds} measured rounds ({httpx_seconds:.1f} s), each round requesting every target once in a "
        "random order, so noise hits all targets alike. Latency is client-side wall time (includes the client's "
        "own overhead, equal for every target)."
    )
    out.append(
        f"- Load average (1/5/15 min) at start: {load_start}; at end: {load_end} (the end figure includes "
        "this benchmark's own server and client)."
    )
    out.append("")
    rows = []
    for name, (_, what) in TARGETS.items():
        s = stats[name]
        rows.append([
            f"`{name}`", f"`{paths[name]}`", what, queries[name], len(samples[name]),
            fmt(s["p50"]), fmt(s["p90"]), fmt(s["p99"]), fmt_delta(s["p50"] - stats["bare"]["p50"]),
        ])
    out.append(md_table(
        ["target", "path", "what", "SQL/req", "requests", "p50 ms", "p90 ms", "p99 ms", "Δp50 vs bare ms"], rows
    ))
    out.append("")
    out.append("SQL/req counts statements the request ran (not counting the connection health check).")
    out.append("")

    if wrk:
        out.append(
            f"Cross-check with `wrk -t1 -c1 --latency` (lower client overhead): {args.wrk_rounds} rounds of "
            f"{args.wrk_seconds} s per target, alternating targets in random order; median over rounds of each "
            "round's percentile."
        )
        out.append("")
        med = {
            name: {k: percentile([r[k] for r in rounds], 50) for k in ("p50", "p90", "p99")}
            for name, rounds in wrk_rounds.items()
        }
        out.append(md_table(
            ["target", "requests", "p50 ms", "p90 ms", "p99 ms", "Δp50 vs bare ms"],
            [[f"`{name}`", sum(r["requests"] for r in wrk_rounds[name]), fmt(m["p50"]), fmt(m["p90"]),
              fmt(m["p99"]), fmt_delta(m["p50"] - med["bare"]["p50"])] for name, m in med.items()],
        ))
        out.append("")
    else:
        out.append("wrk is not installed (Debian package `wrk`): no cross-check.")
        out.append("")

    mw = stats["bare+mw"]["p50"] - stats["bare"]["p50"]
    drf = stats["api"]["p50"] - stats["bare+mw"]["p50"]
    out.append(
        f"**Target: ≤ {TARGET_MS:.1f} ms added at p50 (`api` − `bare`). Measured: {delta:+.3f} ms "
        f"(per block of {per_block} rounds: {min(block_deltas):+.3f} … {max(block_deltas):+.3f} ms) — "
        f"{'MET' if met else 'NOT MET'}.** Of that, settings.MIDDLEWARE ≈ {mw:+.3f} ms (`bare+mw` − `bare`) and "
        f"DRF plus token auth ≈ {drf:+.3f} ms (`api` − `bare+mw`)."
    )
    out.append("")
    out.append("What the full stack includes on the `api` request:")
    out.append("")
    out.append(
        f"- settings.MIDDLEWARE ({len(info['middleware'])}, in order): "
        + ", ".join(f"`{m}`" for m in info["middleware"]) + "."
    )
    out.append(
        "- DRF: authentication " + ", ".join(f"`{c.rsplit('.', 1)[-1]}`" for c in info["authentication"])
        + " (the bearer token is found by its SHA-256 in one SELECT joined to its service; `last_used_at` is "
        "updated at most once a minute; session auth is not reached), permission "
        + ", ".join(f"`{c.rsplit('.', 1)[-1]}`" for c in info["permissions"])
        + " (token scope `read`), content negotiation over "
        + ", ".join(f"`{c.rsplit('.', 1)[-1]}`" for c in info["renderers"])
        + ", filter backend " + ", ".join(f"`{c.rsplit('.', 1)[-1]}`" for c in info["filter_backends"])
        + " on the queryset, `get_object()` (the PK SELECT), `ServiceSerializer` (ModelSerializer) and "
        "`JSONRenderer`; the problem+json exception handler is not reached on a 200."
    )
    out.append(
        "- `bare` is served by a second Django WSGI handler in the same process whose middleware chain is "
        "empty (`bench/api_overhead/wsgi.py`): URL resolving, the view and Django's request signals only. "
        "Its view runs one primary-key SELECT of the same row and returns the same fields as JSON."
    )
    out.append("")
    if busy(load_start):
        out.append(
            "Note: the machine was busy at the start (load average above), so the absolute latencies are noisy; "
            "re-run on an idle machine. The differences are measured interleaved and are the sturdier figure."
        )
        out.append("")
    return "\n".join(out)


def busy(load: str) -> bool:
    """More than a quarter of the cores busy on average over the last minute."""
    try:
        return float(load.split()[0]) > 0.25 * (os.cpu_count() or 1)
    except (ValueError, IndexError):
        return False


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{NAME}: benchmark broke: {exc}", file=sys.stderr)
        sys.exit(2)

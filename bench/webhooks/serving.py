"""(c) ASGI vs WSGI serving: uvicorn (Django's connection pool) beside gunicorn gthread (persistent connections).

Both servers run at once from the same production settings on the same scratch
database: uvicorn (``--workers 2``, uvloop + httptools; under ASGI the settings
switch to Django's PostgreSQL pool, ``DATABASE_POOL_MAX_SIZE`` per process) and
gunicorn ``-k gthread`` (2 workers x 8 threads, CONN_MAX_AGE=60). wrk drives,
at 16 and then 64 concurrent connections, two targets on each server in a random
order per round:

  ingest  POST /api/v1/webhooks/in/bench-ingest/  signed Standard Webhooks (post.lua, a fresh id per request)
  api     GET  /api/v1/services/                  DRF list, ``Authorization: Bearer`` read token

While a run lasts a sampler counts each server's connections in
``pg_stat_activity`` (10 times a second, by ``application_name``: each server
gets its own ``PGAPPNAME``). Afterwards every 2xx webhook id is looked up in the
database. Targets: uvicorn's connections stay within workers x pool max,
0 non-2xx answers, every 2xx stored, uvicorn ingestion >= 0.7x gunicorn's.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import threading
from pathlib import Path

from bench.common import WORK_DIR, BenchError, gunicorn, manage, md_table, uvicorn

HERE = Path(__file__).resolve().parent
UVICORN_WORKERS, POOL_MAX, POOL_MIN = 2, 8, 2
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 8
CLIENTS = tuple(int(c) for c in os.environ.get("BENCH_WEBHOOKS_SERVING_CLIENTS", "16,64").split(","))
RATIO_TARGET = 0.7
APP_NAMES = {"uvicorn": "bench-uvicorn", "gunicorn": "bench-gunicorn"}
API_PATH = "/api/v1/services/"
TOKEN_SERVICE = "bench-serving"


class ConnectionSampler:
    """Counts client connections per application_name in pg_stat_activity, 10 times a second."""

    def __init__(self, db_url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(db_url, autocommit=True, connect_timeout=5, application_name="bench-sampler")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.peak: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="pg-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1"
        ).fetchall()
        return dict(rows)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            counts = self._sample()
            with self._lock:
                for name, n in counts.items():
                    self.peak[name] = max(self.peak.get(name, 0), n)

    def reset(self) -> None:
        with self._lock:
            self.peak = {}

    def now(self) -> dict[str, int]:
        return self._sample()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


def _wrk(wrk: str, url: str, *, script: str, script_args: list[str], clients: int, seconds: int,
         headers: dict[str, str], ids_file: Path | None) -> dict:
    cmd = [wrk, "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(HERE / script)]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    cmd += [url]
    if script_args:
        cmd += ["--", *script_args]
    env = {**os.environ, "BENCH_WRK_IDS_FILE": str(ids_file or os.devnull)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False, env=env)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"no result line from wrk:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["ids"] = [int(line) for line in ids_file.read_text().split()] if ids_file else []
    result["non2xx"] = result["s401"] + result["s4xx"] + result["s5xx"] + result["sother"]
    result["socket_errors"] = sum(result[k] for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    return result


def serving_bench(args, env: dict, db_url: str, source: dict, write_requests, sql, log) -> dict:
    import shutil

    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("wrk is not installed (Debian package wrk)")
    out = manage(["issue_token", "--service", TOKEN_SERVICE, "--scopes", "read", "--name", "bench-serving"], env)
    token = out.strip().splitlines()[-1].strip()
    rng = random.Random(20261201)
    files = WORK_DIR / "webhooks-serving"
    files.mkdir(parents=True, exist_ok=True)
    per_run = max(2000, args.serving_seconds * 4000)
    counter = 0
    # One read token drives up to 64 clients at >1,000 req/s: above the per-token rate limit
    # (6,000/min at NORMAL, issue 11), whose 429s would be counted as non-2xx here. This bench
    # measures serving, so the limit is lifted for both servers alike.
    env = {**env, "RATE_LIMIT_TOKEN_PER_MINUTE": os.environ.get("BENCH_WEBHOOKS_TOKEN_RATE_LIMIT", "100000000")}
    uv_env = {**env, "PGAPPNAME": APP_NAMES["uvicorn"], "DATABASE_POOL": "auto",
              "DATABASE_POOL_MAX_SIZE": str(POOL_MAX), "DATABASE_POOL_MIN_SIZE": str(POOL_MIN),
              "DATABASE_POOL_CHECK": os.environ.get("BENCH_WEBHOOKS_POOL_CHECK", "true")}
    gu_env = {**env, "PGAPPNAME": APP_NAMES["gunicorn"]}
    sampler = ConnectionSampler(db_url)
    runs: dict[tuple[str, int, str], list[dict]] = {}
    try:
        with uvicorn("opsportal.asgi:application", uv_env, workers=UVICORN_WORKERS, ready_path="/bench/info/",
                     log_name="webhooks-uvicorn") as uv_base, \
             gunicorn("bench.webhooks.wsgi:application", gu_env, workers=GUNICORN_WORKERS, threads=GUNICORN_THREADS,
                      ready_path="/bench/info/", log_name="webhooks-serving-gunicorn") as gu_base:
            import httpx

            bases = {"uvicorn": uv_base, "gunicorn": gu_base}
            info = {name: httpx.get(base + "/bench/info/", headers={"X-Forwarded-Proto": "https"}, timeout=10).json()
                    for name, base in bases.items()}
            if not info["uvicorn"].get("pool"):
                raise BenchError(f"uvicorn is not using the connection pool: {info['uvicorn']}")
            api_headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
            for name, base in bases.items():
                check = httpx.get(base + API_PATH, headers=api_headers, timeout=10)
                if check.status_code != 200:
                    raise BenchError(f"{name} {API_PATH}: {check.status_code} {check.text[:300]}")

            def one(server: str, target: str, clients: int, seconds: int) -> dict:
                nonlocal counter
                counter += 1
                base = bases[server]
                if target == "api":
                    return _wrk(wrk, base + API_PATH, script="get.lua", script_args=[], clients=clients,
                                seconds=seconds, headers=api_headers, ids_file=None)
                path = f"/api/v1/webhooks/in/{source['slug']}/"
                request_file = files / f"{server}-{counter}.tsv"
                write_requests(request_file, secret=source["secret"], prefix=f"serve_{os.getpid()}_{counter}",
                               count=per_run, rng=rng)
                result = _wrk(wrk, base + path, script="post.lua", script_args=[str(request_file), path, "1"],
                              clients=clients, seconds=seconds, headers={}, ids_file=request_file.with_suffix(".ids"))
                request_file.unlink(missing_ok=True)
                return result

            combos = [(s, t) for s in bases for t in ("ingest", "api")]
            for clients in CLIENTS:
                log(f"serving: {clients} clients, warm-up then {args.rounds} rounds x {len(combos)} x "
                    f"{args.serving_seconds} s")
                for server, target in combos:
                    one(server, target, clients, 2)
                for r in range(args.rounds):
                    rng.shuffle(combos)
                    for server, target in combos:
                        sampler.reset()
                        result = one(server, target, clients, args.serving_seconds)
                        result["peak_connections"] = sampler.peak.get(APP_NAMES[server], 0)
                        runs.setdefault((server, clients, target), []).append(result)
                        log(f"serving round {r + 1} {server} c{clients} {target}: {result['rps']:.0f} req/s, "
                            f"non-2xx {result['non2xx']}, socket errors {result['socket_errors']}, "
                            f"peak connections {result['peak_connections']}")
            idle = sampler.now()
        answered = sorted({i for (server, _, target), rs in runs.items() if target == "ingest" for r in rs for i in r["ids"]})
        found = sql(db_url, "SELECT count(*) FROM webhooks_webhookevent WHERE id = ANY(%s)", [answered], fetch="one")[0]
    finally:
        sampler.close()
    return {"runs": runs, "info": info, "answered": len(answered), "found": found, "idle": idle,
            "accepted": sum(r["s202"] for (_, _, t), rs in runs.items() if t == "ingest" for r in rs)}


def serving_report(args, result: dict) -> list[str]:
    runs = result["runs"]
    bound = UVICORN_WORKERS * POOL_MAX
    # each thread's persistent connection, plus the breaker recorder thread's brief one per worker
    gu_bound = GUNICORN_WORKERS * (GUNICORN_THREADS + 1)
    out = [
        f"- (c) ASGI vs WSGI, both serving at once from the same production settings and database: uvicorn "
        f"`--workers {UVICORN_WORKERS} --loop uvloop --http httptools` with Django's connection pool "
        f"(`DATABASE_POOL_MAX_SIZE={POOL_MAX}`, min {POOL_MIN}, CONN_MAX_AGE=0, chosen because the settings "
        f"load under `opsportal.asgi`; bound {UVICORN_WORKERS} x {POOL_MAX} = {bound} connections) and gunicorn "
        f"`-k gthread --workers {GUNICORN_WORKERS} --threads {GUNICORN_THREADS}` (CONN_MAX_AGE="
        f"{result['info']['gunicorn']['conn_max_age']}, at most {GUNICORN_WORKERS} x ({GUNICORN_THREADS} threads + the "
        f"breaker recorder) = {gu_bound} connections); the per-token rate limit is lifted on both (one token drives "
        f"every client). wrk -t1 at "
        f"{' and '.join(str(c) for c in CLIENTS)} connections, {args.rounds} rounds x {args.serving_seconds} s per "
        f"server x target after a 2 s warm-up each, random order per round. Connections: the peak of "
        f"`pg_stat_activity` per server (`application_name`), sampled every 100 ms during each run.",
        "",
    ]
    rows = []
    med: dict[tuple[str, int, str], float] = {}
    all_ok = True
    for clients in CLIENTS:
        for target in ("ingest", "api"):
            for server in ("uvicorn", "gunicorn"):
                rs = runs[(server, clients, target)]
                rps = [r["rps"] for r in rs]
                med[(server, clients, target)] = statistics.median(rps)
                bad = sum(r["non2xx"] + r["socket_errors"] for r in rs)
                peak = max(r["peak_connections"] for r in rs)
                limit = bound if server == "uvicorn" else gu_bound
                all_ok &= bad == 0 and (peak <= limit or server == "gunicorn")  # the bound under test is uvicorn's
                rows.append([server, clients, f"`{target}`", f"{statistics.median(rps):.0f}",
                             f"{min(rps):.0f} … {max(rps):.0f}",
                             f"{statistics.median(r['p50_us'] for r in rs) / 1000:.1f}",
                             f"{statistics.median(r['p99_us'] for r in rs) / 1000:.1f}",
                             sum(r["requests"] for r in rs), bad, f"{peak} (≤ {limit})"])
    out.append(md_table(["server", "clients", "target", "req/s (median)", "req/s (range)", "p50 ms", "p99 ms",
                         "requests", "non-2xx + socket errors", "peak connections"], rows))
    out.append("")
    stored = result["found"] == result["answered"] == result["accepted"]
    ratios = {c: med[("uvicorn", c, "ingest")] / med[("gunicorn", c, "ingest")] for c in CLIENTS}
    api_ratios = {c: med[("uvicorn", c, "api")] / med[("gunicorn", c, "api")] for c in CLIENTS}
    out.append(
        f"Every 2xx webhook stored: uvicorn and gunicorn answered 202 {result['accepted']} times (measured rounds), "
        f"{result['answered']} distinct ids, {result['found']} found in `webhooks_webhookevent` — "
        f"{'all there' if stored else 'MISSING ROWS'}. Idle connections after the runs: "
        f"{ {k: v for k, v in result['idle'].items() if k in APP_NAMES.values()} }. API list uvicorn/gunicorn: "
        + ", ".join(f"{api_ratios[c]:.2f}x at {c}" for c in CLIENTS) + "."
    )
    out.append("")
    met = all_ok and stored and all(r >= RATIO_TARGET for r in ratios.values())
    out.append(
        f"**Target (c): under uvicorn the connections stay within {bound}, 0 non-2xx on both servers, every 2xx webhook stored, "
        f"ingestion ≥ {RATIO_TARGET:.1f}x gunicorn's. Measured: ingest "
        + ", ".join(f"{ratios[c]:.2f}x at {c} clients" for c in CLIENTS)
        + f", bounds and answers {'all clean' if all_ok else 'NOT clean'}, stored {'yes' if stored else 'NO'} — "
        f"{'MET' if met else 'NOT MET'}.**"
    )
    out.append("")
    return out

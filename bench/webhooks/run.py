#!/usr/bin/env python3
"""webhooks: (a) ingest throughput vs a bare insert view; (b) DLQ replay of 10,000 items through Celery.

(a) One gunicorn (-k gthread, 2 workers x 8 threads, production settings on
PostgreSQL, DEBUG off, PROMETHEUS_MULTIPROC_DIR set as in production) serves

  ingest  POST /api/v1/webhooks/in/bench-ingest/  the real endpoint through the production app (opsportal.handlers: lean chain):
          Standard Webhooks signature check, dedupe insert of the event + its delivery,
          202 after commit, the after-commit dispatch to the broker
  bare    POST /bench/bare/insert/                 a bare Django view (no middleware) inserting one row

wrk (-t1, 16 connections, a Lua script rotating through pre-signed requests,
each with its own event id) drives each target for a few seconds per round,
alternating in a random order per round. Afterwards every 2xx is looked up in
the database (rows counted). Target: ingest >= 0.7x the bare view's throughput.

(b) 10,000 open DLQ items for a destination pointing at a local receiver
(uvicorn, counting webhook-ids); real Celery worker and beat processes; the
replay is `manage.py webhooks_retry --since 1d --source bench-replay`.
Target: >= 300 deliveries/s (from the replay's commit to the last delivery),
0 duplicates, 0 lost; with dlq-heal's targets beside it: unpaced ≤ 10 s for
10,000 items, and (b2) the same replay to a destination paced at 500/s
(``rate_limit_per_second``): the receiver's rate within 5 % of 500/s and no
one-second window above 500 + the burst allowance.

(c) ASGI vs WSGI serving (bench/webhooks/serving.py): uvicorn with Django's
connection pool beside gunicorn gthread, signed ingestion and an authenticated
API list at 16 and 64 clients, each server's PostgreSQL connections counted.
Target: connections within the pool bound, 0 non-2xx, every 2xx stored,
uvicorn ingestion >= 0.7x gunicorn's.

Run it against a disposable PostgreSQL (BENCH_DATABASE_URL), never a shared
server: (c) deliberately loads the database with dozens of connections.

Prints a markdown section; exits 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
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
    free_port,
    gunicorn,
    loadavg,
    manage,
    md_table,
    python,
    redis_url,
    tail,
)
from bench.webhooks.serving import serving_bench, serving_report  # noqa: E402

NAME = "webhooks"
HERE = Path(__file__).resolve().parent
SETTINGS = "bench.webhooks.settings"
WORKERS, THREADS, CONNECTIONS = 2, 8, 16
INGEST_RATIO_TARGET = 0.7
REPLAY_RATE_TARGET = 300.0
REPLAY_SECONDS_TARGET = 10.0  # dlq-heal: 10,000 items unpaced
PACED_RATE = 500.0  # dlq-heal: (b2)
PACED_TOLERANCE = 0.05
TRAFFIC_TABLES = ("webhooks_deliveryattempt", "webhooks_webhookfailure", "webhooks_delivery", "webhooks_webhookevent",
                  "webhooks_webhookrejection")
BARE_TABLE = "bench_webhooks_bare"
CELERY_KEYS = ("celery", "unacked", "unacked_index", "unacked_mutex")


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_WEBHOOKS_ROUNDS", "3")))
    parser.add_argument("--seconds", type=int, default=int(env("BENCH_WEBHOOKS_SECONDS", "8")), help="wrk duration per target per round")
    parser.add_argument("--replay-items", type=int, default=int(env("BENCH_WEBHOOKS_REPLAY_ITEMS", "10000")))
    parser.add_argument("--worker-concurrency", type=int, default=int(env("BENCH_WEBHOOKS_WORKER_CONCURRENCY", "2")))
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--skip-paced", action="store_true", help="skip (b2), the replay paced at 500/s")
    parser.add_argument("--paced-rate", type=float, default=float(env("BENCH_WEBHOOKS_PACED_RATE", str(PACED_RATE))))
    parser.add_argument("--paced-items", type=int, default=None, help="items of the paced run (default: --replay-items)")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--serving-seconds", type=int, default=int(env("BENCH_WEBHOOKS_SERVING_SECONDS", "5")),
                        help="wrk duration per server x target per round in (c)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


# --- database helpers (psycopg, no Django in this process) ---------------------------------


def sql(db_url: str, statement: str, params=None, *, fetch: str = "none"):
    import psycopg

    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params)
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        return None


def reset_traffic(db_url: str) -> None:
    sql(db_url, f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} (id bigserial PRIMARY KEY, body bytea NOT NULL, "
                "received_at timestamptz NOT NULL)")
    sql(db_url, f"TRUNCATE {', '.join((*TRAFFIC_TABLES, BARE_TABLE))} RESTART IDENTITY")


def purge_broker(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.delete(*CELERY_KEYS)
    pace_keys = list(client.scan_iter("opsportal:webhooks:pace:*"))  # dlq-heal's pacing buckets
    if pace_keys:
        client.delete(*pace_keys)
    client.close()


def fixtures(env: dict, *args: str) -> dict:
    proc = subprocess.run([python(), str(HERE / "fixtures.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise BenchError(f"fixtures {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- (a) ingest ------------------------------------------------------------------------------


def _body(event_id: str, rng: random.Random) -> str:
    # A Stripe-shaped event (~700 bytes), one line (the request file is TSV).
    return json.dumps({
        "id": event_id, "object": "event", "api_version": "2024-06-20", "created": int(time.time()),
        "type": rng.choice(["invoice.paid", "charge.succeeded", "customer.updated", "payment_intent.succeeded"]),
        "livemode": False, "pending_webhooks": 1,
        "request": {"id": f"req_{rng.getrandbits(48):012x}", "idempotency_key": None},
        "data": {"object": {
            "id": f"pi_{rng.getrandbits(64):016x}", "object": "payment_intent", "amount": rng.randint(100, 99_999),
            "currency": "eur", "customer": f"cus_{rng.getrandbits(40):010x}", "status": "succeeded",
            "description": f"Order #{rng.randint(1, 10**6)} for a realistic amount of padding text in the payload",
            "metadata": {"order_id": str(rng.randint(1, 10**8)), "channel": "web", "region": "eu-west-1"},
        }},
    }, separators=(",", ":"))


def write_requests(path: Path, *, secret: str, prefix: str, count: int, rng: random.Random) -> None:
    """Pre-signed Standard Webhooks requests, one per line: id, timestamp, signature, body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = str(int(time.time()))
    with open(path, "w") as out:
        for i in range(count):
            event_id = f"{prefix}_{i}"
            body = _body(event_id, rng)
            mac = hmac.new(key, f"{event_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
            out.write(f"{event_id}\t{ts}\tv1,{base64.b64encode(mac).decode()}\t{body}\n")


def run_wrk(wrk: str, url: str, request_file: Path, path: str, seconds: int) -> dict:
    ids_file = request_file.with_suffix(".ids")
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(HERE / "post.lua"),
           url, "--", str(request_file), path, "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False,
                          env={**os.environ, "BENCH_WRK_IDS_FILE": str(ids_file)})
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"no result line from wrk:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["ids"] = [int(line) for line in ids_file.read_text().split()]
    if result["s401"] or result["s4xx"]:
        raise BenchError(f"{path}: {result['s401']} x 401 and {result['s4xx']} other 4xx — the benchmark is broken: {result}")
    return result


def ingest_bench(args, env: dict, db_url: str, broker_url: str) -> dict:
    import httpx

    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("wrk is not installed (Debian package wrk)")
    source = fixtures(env, "ingest-source")
    purge_broker(broker_url)
    multiproc = WORK_DIR / "webhooks-prometheus"
    shutil.rmtree(multiproc, ignore_errors=True)
    multiproc.mkdir(parents=True)
    server_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    targets = {"ingest": f"/api/v1/webhooks/in/{source['slug']}/", "bare": "/bench/bare/insert/"}
    rng = random.Random(20261122)
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    warm: dict[str, dict] = {}
    files = WORK_DIR / "webhooks-requests"
    files.mkdir(parents=True, exist_ok=True)
    # More lines than a run can send (a wrap-around would resend ids: duplicates, answered 200).
    per_run = max(2000, args.seconds * 4000)
    counter = 0

    def one(name: str, base: str, seconds: int) -> dict:
        nonlocal counter
        counter += 1
        request_file = files / f"{name}.tsv"
        write_requests(request_file, secret=source["secret"], prefix=f"bench_{os.getpid()}_{counter}", count=per_run, rng=rng)
        return run_wrk(wrk, base + targets[name], request_file, targets[name], seconds)

    with gunicorn("bench.webhooks.wsgi:application", server_env, workers=WORKERS, threads=THREADS,
                  ready_path="/bench/info/", log_name=f"{NAME}-gunicorn") as base:
        info = httpx.get(base + "/bench/info/", headers={"X-Forwarded-Proto": "https"}, timeout=10).json()
        log(f"serving at {base}; warm-up, then {args.rounds} rounds x {len(targets)} targets x {args.seconds} s")
        for name in targets:
            warm[name] = one(name, base, 2)
        order = list(targets)
        for r in range(args.rounds):
            rng.shuffle(order)
            for name in order:
                result = one(name, base, args.seconds)
                runs[name].append(result)
                log(f"round {r + 1} {name}: {result['rps']:.0f} req/s, p50 {result['p50_us'] / 1000:.1f} ms, "
                    f"p99 {result['p99_us'] / 1000:.1f} ms")
        # Every 2xx must be in the database: look up the id each one answered.
        answered = {name: sorted({i for r in [warm[name], *runs[name]] for i in r["ids"]}) for name in targets}
        found = {
            "ingest": sql(db_url, "SELECT count(*) FROM webhooks_webhookevent WHERE id = ANY(%s)", [answered["ingest"]], fetch="one")[0],
            "bare": sql(db_url, f"SELECT count(*) FROM {BARE_TABLE} WHERE id = ANY(%s)", [answered["bare"]], fetch="one")[0],  # noqa: S608
        }
        events = sql(db_url, "SELECT count(*) FROM webhooks_webhookevent WHERE source_id = %s", [source["source_id"]], fetch="one")[0]
        deliveries = sql(db_url, "SELECT count(*) FROM webhooks_delivery d JOIN webhooks_webhookevent e ON e.id = d.event_id "
                                 "WHERE e.source_id = %s", [source["source_id"]], fetch="one")[0]
        bare_rows = sql(db_url, f"SELECT count(*) FROM {BARE_TABLE}", fetch="one")[0]  # noqa: S608
    purge_broker(broker_url)  # the after-commit nudges nobody consumed
    every = {name: [warm[name], *runs[name]] for name in targets}
    accepted = {name: sum(r["s202"] for r in every[name]) for name in targets}
    return {"info": info, "runs": runs, "accepted": accepted, "events": events, "deliveries": deliveries,
            "answered": {k: len(v) for k, v in answered.items()}, "found": found,
            "bare_rows": bare_rows, "every": every, "targets": targets, "per_run": per_run}


# --- (b) replay ------------------------------------------------------------------------------


def _spawn(cmd: list[str], env: dict, log_name: str) -> tuple[subprocess.Popen, Path]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"{log_name}.log"
    with open(path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, path


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _wait_for(predicate, timeout: float, what: str, logs: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not ready after {timeout:.0f} s" + (f":\n{tail(logs)}" if logs else ""))
        time.sleep(0.2)


def replay_bench(args, env: dict, db_url: str, broker_url: str, *, rate_limit: float | None = None) -> dict:
    import httpx

    reset_traffic(db_url)
    purge_broker(broker_url)
    procs: list[subprocess.Popen] = []
    try:
        port = free_port()
        receiver, receiver_log = _spawn(
            [python(), "-m", "uvicorn", "bench.webhooks.receiver:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning", "--no-access-log", "--http", "httptools"], env, f"{NAME}-receiver")
        procs.append(receiver)
        receiver_url = f"http://127.0.0.1:{port}"

        def receiver_up() -> bool:
            try:
                return httpx.get(receiver_url + "/stats", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(receiver_up, 20, "receiver", receiver_log)
        log(f"creating {args.replay_items} DLQ items")
        items = fixtures(env, "replay-items", str(args.replay_items), receiver_url + "/hook")
        expected = set(items["public_ids"])
        # Always set (NULL = unpaced): the scratch database keeps the destination between runs,
        # and an earlier paced run's 500/s once made the next "unpaced" replay a paced one
        # (bench/RESULTS.md, 2026-12-02 07:40 run: "unpaced" at 501/s).
        sql(db_url, "UPDATE webhooks_webhookdestination SET rate_limit_per_second = %s, concurrency_limit = NULL "
                    "WHERE id = %s", [rate_limit or None, items["destination_id"]])

        celery_env = {**env, "DJANGO_SETTINGS_MODULE": "opsportal.settings"}
        worker, worker_log = _spawn(
            [python(), "-m", "celery", "-A", "opsportal", "worker", "-l", "info", "-P", "prefork",
             "--concurrency", str(args.worker_concurrency), "-n", f"bench-webhooks-{os.getpid()}@%h",
             "--without-gossip", "--without-mingle"], celery_env, f"{NAME}-worker")
        procs.append(worker)
        beat, beat_log = _spawn(
            [python(), "-m", "celery", "-A", "opsportal", "beat", "-S", "django", "-l", "warning",
             "--pidfile", str(WORK_DIR / f"{NAME}-beat.pid")], celery_env, f"{NAME}-beat")
        procs.append(beat)
        _wait_for(lambda: "ready." in worker_log.read_text(errors="replace"), 90, "celery worker", worker_log)
        time.sleep(2)  # let beat start its 1 s sweeps
        if beat.poll() is not None:
            raise BenchError(f"celery beat exited:\n{tail(beat_log)}")

        log("replaying: manage.py webhooks_retry --since 1d --source bench-replay")
        cli_started = time.time()
        cli_out = manage(["webhooks_retry", "--since", "1d", "--source", "bench-replay"], env, timeout=600)
        cli_done = time.time()
        summary = [line for line in cli_out.splitlines() if "DLQ item(s)" in line]
        if not summary or f"retried {args.replay_items} " not in summary[-1]:
            raise BenchError(f"the replay did not retry {args.replay_items} items: {summary[-1:] or cli_out[-500:]}")

        delivered, last_progress, last_count = 0, time.monotonic(), -1
        while delivered < args.replay_items:
            delivered = sql(db_url, "SELECT count(*) FROM webhooks_delivery WHERE destination_id = %s AND status = 'delivered'",
                            [items["destination_id"]], fetch="one")[0]
            if delivered != last_count:
                last_count, last_progress = delivered, time.monotonic()
            elif time.monotonic() - last_progress > 60:
                log(f"no progress for 60 s at {delivered} delivered")
                break
            time.sleep(0.25)
        all_done = time.time()
        time.sleep(3)  # anything sent twice would arrive now
        stats = httpx.get(receiver_url + "/stats", timeout=10).json()
        received = set(httpx.get(receiver_url + "/ids", timeout=30).json())
        replay_at, retried_count = sql(
            db_url, "SELECT extract(epoch FROM created_at), (data->>'count')::int FROM events_outboxevent "
                    "WHERE type = 'dlq.retried' ORDER BY id DESC LIMIT 1", fetch="one")
        first_delivered, last_delivered, attempts = sql(
            db_url, "SELECT extract(epoch FROM min(d.delivered_at)), extract(epoch FROM max(d.delivered_at)), "
                    "(SELECT count(*) FROM webhooks_deliveryattempt a JOIN webhooks_delivery x ON x.id = a.delivery_id "
                    " WHERE x.destination_id = %s) FROM webhooks_delivery d WHERE d.destination_id = %s",
            [items["destination_id"], items["destination_id"]], fetch="one")
        statuses = dict(sql(db_url, "SELECT status, count(*) FROM webhooks_delivery WHERE destination_id = %s GROUP BY status",
                            [items["destination_id"]], fetch="all"))
        open_failures = sql(db_url, "SELECT count(*) FROM webhooks_webhookfailure WHERE resolution = 'open'", fetch="one")[0]
        task_lines = worker_log.read_text(errors="replace").count("webhooks.deliver_batch")
    finally:
        for proc in reversed(procs):
            _stop(proc)
        purge_broker(broker_url)
    return {
        "items": args.replay_items, "cli_started": cli_started, "cli_done": cli_done, "all_done": all_done,
        "replay_at": float(replay_at), "retried": retried_count, "first_delivered": float(first_delivered or 0),
        "last_delivered": float(last_delivered or 0), "attempts": attempts, "statuses": statuses,
        "open_failures": open_failures, "receiver": stats, "lost": len(expected - received),
        "unexpected": len(received - expected), "task_lines": task_lines, "concurrency": args.worker_concurrency,
        "rate_limit": rate_limit,
    }


# --- report ----------------------------------------------------------------------------------


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def paced_report(unpaced: dict | None, paced: dict) -> list[str]:
    """(b2) dlq-heal: the same replay to a destination paced at PACED_RATE, beside the unpaced one."""
    out = []
    limit = paced["rate_limit"]
    burst = max(1.0, limit * 0.2)  # engine.pace.burst_for with WEBHOOK_PACING_BURST_SECONDS = 0.2
    rows = []
    verdicts = {}
    for name, r in (("unpaced", unpaced), (f"paced {limit:.0f}/s", paced)):
        if not r:
            continue
        st = r["receiver"]
        recv_window = (st["last_at"] or 0) - (st["first_at"] or 0)
        recv_rate = r["items"] / recv_window if recv_window > 0 else 0.0
        window = r["last_delivered"] - r["replay_at"]
        rows.append([name, r["items"], f"{window:.1f} s", f"{recv_window:.1f} s", f"{recv_rate:.0f}",
                     st.get("max_per_second", "-"), st["duplicates"], r["lost"]])
        verdicts[name] = (window, recv_rate, st, r)
    out.append(
        f"- (b2, dlq-heal) The same replay ({paced['items']:,} items paced), unpaced and to a destination with `rate_limit_per_second` "
        f"= {limit:.0f} (token bucket in Redis shared by the worker's processes; burst allowance "
        f"max(1, rate × 0.2 s) = {burst:.0f}). Receiver rate = items / (first → last request); max/s = the most "
        "requests in any sliding one-second window at the receiver."
    )
    out.append("")
    out.append(md_table(["run", "items", "commit → last delivery", "receiver first → last", "receiver rate/s",
                         "max in any 1 s", "duplicates", "lost"], rows))
    out.append("")
    if unpaced:
        window, _, st, r = verdicts["unpaced"]
        ok = window <= REPLAY_SECONDS_TARGET and st["duplicates"] == 0 and r["lost"] == 0
        out.append(f"**Target (b2 unpaced): {r['items']:,} items in ≤ {REPLAY_SECONDS_TARGET:.0f} s, 0 duplicates, "
                   f"0 lost. Measured: {window:.1f} s, {st['duplicates']} duplicates, {r['lost']} lost — "
                   f"{'MET' if ok else 'NOT MET'}.**")
    _, recv_rate, st, r = verdicts[f"paced {limit:.0f}/s"]
    within = abs(recv_rate - limit) <= limit * PACED_TOLERANCE
    allowance = burst + 0.1 * limit  # docs/webhooks.md "Pacing": the burst + 10 % for host jitter, at the receiver
    capped = (st.get("max_per_second") or 0) <= limit + allowance
    ok = within and capped and st["duplicates"] == 0 and r["lost"] == 0
    out.append(f"**Target (b2 paced): rate within {PACED_TOLERANCE:.0%} of {limit:.0f}/s, no 1-s window above "
               f"{limit + allowance:.0f}, 0 duplicates, 0 lost. Measured: {recv_rate:.0f}/s "
               f"({(recv_rate - limit) / limit:+.1%}), max {st.get('max_per_second')} in 1 s, {st['duplicates']} "
               f"duplicates, {r['lost']} lost — {'MET' if ok else 'NOT MET'}.**")
    out.append("")
    return out


def report(args, ingest: dict | None, replay: dict | None, load_start: str, load_end: str,
           serving: dict | None = None, paced: dict | None = None) -> str:
    out = [f"### {NAME}", ""]
    out.append(f"- Load average (1/5/15 min) at start: {load_start}; at end: {load_end} (2 cores, shared).")
    if ingest:
        info = ingest["info"]
        out.append(
            f"- (a) Server: gunicorn `-k gthread --workers {WORKERS} --threads {THREADS}` on 127.0.0.1, Django "
            f"{info['django']}, OPSPORTAL_ENV={info['env']}, DEBUG={info['debug']}, {info['database']} "
            f"(CONN_MAX_AGE={info['conn_max_age']}), LOG_LEVEL={info['log_level']}, access log "
            f"{'on (one JSON line per request)' if info.get('access_log', True) else 'off (the proxy logs access)'}, "
            f"PROMETHEUS_MULTIPROC_DIR {'set' if info['multiproc'] else 'unset'}. Client: wrk -t1 "
            f"-c{CONNECTIONS} with `bench/webhooks/post.lua`, pre-signed Standard Webhooks requests (~700-byte "
            f"Stripe-shaped JSON), a fresh event id per request; {args.rounds} rounds x {args.seconds} s per "
            "target after a 2 s warm-up each, targets in random order per round."
        )
        out.append("")
        rows = []
        med = {}
        for name in ("ingest", "bare"):
            runs = ingest["runs"][name]
            rps = [r["rps"] for r in runs]
            med[name] = statistics.median(rps)
            rows.append([
                f"`{name}`", f"`{ingest['targets'][name]}`", f"{med[name]:.0f}", f"{min(rps):.0f} … {max(rps):.0f}",
                _ms(statistics.median(r["p50_us"] for r in runs)), _ms(statistics.median(r["p99_us"] for r in runs)),
                sum(r["requests"] for r in runs), sum(r["s5xx"] for r in ingest["every"][name]),
            ])
        out.append(md_table(["target", "path", "req/s (median)", "req/s (range)", "p50 ms", "p99 ms", "requests",
                             "5xx"], rows))
        out.append("")
        ratio = med["ingest"] / med["bare"] if med["bare"] else 0.0
        paired = [i["rps"] / b["rps"] for i, b in zip(ingest["runs"]["ingest"], ingest["runs"]["bare"], strict=True)]
        acc, answered, found = ingest["accepted"], ingest["answered"], ingest["found"]
        unparsed = sum(r["unparsed"] for name in ("ingest", "bare") for r in ingest["every"][name])
        stored_ok = all(found[k] == answered[k] == acc[k] for k in ("ingest", "bare")) and unparsed == 0
        dup = sum(r["s200"] for r in ingest["every"]["ingest"])
        out.append(
            f"Every 2xx in the database (warm-up included): ingest answered 202 {acc['ingest']} times, naming "
            f"{answered['ingest']} distinct event ids, of which {found['ingest']} are in `webhooks_webhookevent`; the "
            f"bare view answered 202 {acc['bare']} times, {answered['bare']} ids, {found['bare']} found — "
            f"{'all there' if stored_ok else 'MISSING ROWS'}. The tables hold a few more rows than counted answers "
            f"({ingest['events']} events with {ingest['deliveries']} deliveries; {ingest['bare_rows']} bare rows): "
            f"requests in flight when wrk stopped, stored but not counted. Duplicates answered 200: {dup} (expected 0)."
        )
        out.append("")
        out.append(
            f"**Target (a): ingest ≥ {INGEST_RATIO_TARGET:.1f}x the bare view's throughput. Measured: "
            f"{ratio:.2f}x ({med['ingest']:.0f} vs {med['bare']:.0f} req/s; per round "
            f"{min(paired):.2f} … {max(paired):.2f}x), every 2xx stored: {'yes' if stored_ok else 'NO'} — "
            f"{'MET' if ratio >= INGEST_RATIO_TARGET and stored_ok else 'NOT MET'}.**"
        )
        out.append("")
    if replay:
        window = replay["last_delivered"] - replay["replay_at"]
        rate = replay["items"] / window if window > 0 else 0.0
        rstats = replay["receiver"]
        recv_window = (rstats["last_at"] or 0) - (rstats["first_at"] or 0)
        dups = rstats["duplicates"]
        ok = rate >= REPLAY_RATE_TARGET and dups == 0 and replay["lost"] == 0
        out.append(
            f"- (b) {replay['items']:,} open DLQ items (bulk-inserted in the delivery engine's dead-letter shape) for "
            f"a destination at a local receiver (uvicorn + httptools, counting `webhook-id`s); a real Celery worker "
            f"(`-P prefork --concurrency {replay['concurrency']}`) and beat (`-S django`, the 1 s delivery sweep); "
            "the replay is `manage.py webhooks_retry --since 1d --source bench-replay` (one transaction claims all "
            "items, then batched `webhooks.deliver_batch` tasks after commit)."
        )
        out.append("")
        out.append(md_table(
            ["figure", "value"],
            [
                ["items retried (one audit entry)", replay["retried"]],
                ["CLI wall time (process start → exit, includes Django start-up)", f"{replay['cli_done'] - replay['cli_started']:.1f} s"],
                ["replay commit → last delivery", f"{window:.1f} s"],
                ["deliveries/s (replay commit → last delivery)", f"{rate:.0f}"],
                ["deliveries/s at the receiver (first → last request)", f"{replay['items'] / recv_window:.0f}" if recv_window > 0 else "-"],
                ["receiver requests / unique ids", f"{rstats['requests']} / {rstats['unique']}"],
                ["duplicates (same id twice)", dups],
                ["lost (expected id never received)", replay["lost"]],
                ["delivery attempts recorded", replay["attempts"]],
                ["delivery statuses", ", ".join(f"{k} {v}" for k, v in sorted(replay["statuses"].items()))],
                ["open DLQ items left", replay["open_failures"]],
            ],
        ))
        out.append("")
        out.append(
            f"**Target (b): ≥ {REPLAY_RATE_TARGET:.0f} deliveries/s, 0 duplicates, 0 lost. Measured: {rate:.0f}/s, "
            f"{dups} duplicates, {replay['lost']} lost — {'MET' if ok else 'NOT MET'}.**"
        )
        out.append("")
    if paced:
        out += paced_report(replay, paced)
    if serving:
        out += serving_report(args, serving)
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    load_start = loadavg()
    db_url, broker_url = database_url("opsportal_bench_webhooks"), redis_url()
    ensure_database(db_url)
    check_redis(broker_url)
    env = django_env(SETTINGS, DATABASE_URL=db_url, REDIS_URL=broker_url, LOG_FORMAT="json",
                     LOG_LEVEL=os.environ.get("BENCH_WEBHOOKS_LOG_LEVEL", "INFO"),
                     # the receivers are on loopback: the production outbound policy refuses it unless listed
                     OPSPORTAL_OUTBOUND_ALLOWED_CIDRS="127.0.0.0/8")
    log("migrating the scratch database")
    manage(["migrate", "--noinput"], env)
    reset_traffic(db_url)
    ingest = None if args.skip_ingest else ingest_bench(args, env, db_url, broker_url)
    replay = None if args.skip_replay else replay_bench(args, env, db_url, broker_url)
    paced = None
    if not args.skip_paced:
        paced_args = argparse.Namespace(**{**vars(args), "replay_items": args.paced_items or args.replay_items})
        paced = replay_bench(paced_args, env, db_url, broker_url, rate_limit=args.paced_rate)
    serving = None
    if not args.skip_serving:
        reset_traffic(db_url)
        serving = serving_bench(args, env, db_url, fixtures(env, "ingest-source"), write_requests, sql, log)
        purge_broker(broker_url)  # the after-commit nudges nobody consumed
    print(report(args, ingest, replay, load_start, loadavg(), serving, paced))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{NAME}: benchmark broke: {exc}", file=sys.stderr)
        sys.exit(2)

#!/usr/bin/env python3
"""incidents: Alertmanager v4 batches of 100 alerts into committed incidents, side by side with a real Alertmanager.

(a) portal: one gunicorn (-k gthread, 2 workers x 8 threads, production settings,
    real PostgreSQL and Redis) serving POST /api/v1/alerts/alertmanager/ with a
    bearer token (alerts:write). Each batch is one group of 100 firing alerts,
    so each batch upserts 100 alert rows and opens one incident (audit entry,
    outbox event, timeline rows). The portal answers only after the commit, so
    a request's latency bounds receipt → committed; the view's own figure
    (first line → after commit, ``took_ms``) is reported too.
(b) alertmanager: the same alerts, as v2 alert lists, posted with the same
    concurrency to a real Alertmanager's /api/v2/alerts (a receiver without
    integrations), same run, same machine.

Afterwards every batch is looked up: its incident and all its 100 alerts must be in
the database. Prints a markdown section; exits 0 unless the benchmark broke.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (  # noqa: E402
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
    percentile,
    redis_url,
)
from bench.incidents import open_load  # noqa: E402
from bench.incidents.open_load import OPEN_ALERTS  # noqa: E402

NAME = "incidents"
BATCHES = int(os.environ.get("BENCH_INCIDENTS_BATCHES", "300"))
BATCH_SIZE = int(os.environ.get("BENCH_INCIDENTS_BATCH_SIZE", "100"))
CONCURRENCY = int(os.environ.get("BENCH_INCIDENTS_CONCURRENCY", "8"))
WARMUP = int(os.environ.get("BENCH_INCIDENTS_WARMUP", "20"))
TARGET = 5000.0
AM_BINARY = "/usr/bin/prometheus-alertmanager"


def log(msg: str) -> None:
    print(f"[{NAME}] {msg}", file=sys.stderr, flush=True)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_batches(run: str, n: int) -> list[tuple[list[dict], dict]]:
    """(v2 alerts for Alertmanager, the v4 notification for the portal) per group."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        group = f"Bench{run}x{i}"
        v2, v4 = [], []
        for j in range(BATCH_SIZE):
            labels = {"alertname": group, "service": "bench", "instance": f"node-{j}", "severity": "warning"}
            annotations = {"summary": f"{group} on node-{j}"}
            v2.append({"labels": labels, "annotations": annotations, "startsAt": iso(now),
                       "endsAt": iso(now + timedelta(hours=1)), "generatorURL": "http://prometheus/graph"})
            v4.append({"status": "firing", "labels": labels, "annotations": annotations, "startsAt": iso(now),
                       "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph",
                       "fingerprint": f"{run}-{i}-{j}"})
        out.append((v2, {
            "receiver": "portal", "status": "firing", "alerts": v4,
            "groupLabels": {"alertname": group, "service": "bench"},
            "commonLabels": {"alertname": group, "service": "bench", "severity": "warning"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
            "groupKey": f'{{}}:{{alertname="{group}", service="bench"}}', "truncatedAlerts": 0,
        }))
    return out


def drive(url: str, bodies: list[bytes], headers: dict, *, expect: int, want_took: bool = False) -> dict:
    """Post ``bodies`` with CONCURRENCY keep-alive clients; returns wall time and per-request latencies."""
    import httpx

    work: queue.Queue = queue.Queue()
    for i, body in enumerate(bodies):
        work.put((i, body))
    latencies: list[float] = []
    took: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker():
        with httpx.Client(timeout=60, headers=headers) as client:
            while True:
                try:
                    _, body = work.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                resp = client.post(url, content=body)
                elapsed = time.perf_counter() - start
                with lock:
                    if resp.status_code != expect:
                        errors.append(f"{resp.status_code}: {resp.text[:200]}")
                    latencies.append(elapsed)
                    if want_took and resp.status_code == expect:
                        took.append(resp.json().get("took_ms", 0.0))

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise BenchError(f"{len(errors)} requests failed, first: {errors[0]}")
    return {"wall": wall, "latencies": latencies, "took": took}


def _cpu(pids) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class CpuMeter:
    """CPU seconds spent by the portal's gunicorn workers and by the PostgreSQL backends of the
    bench database: on a machine shared with other work, CPU per batch is the figure that
    does not depend on how much of the machine the run got."""

    def __init__(self, db_url: str, port: int) -> None:
        import psycopg

        self._conn = psycopg.connect(db_url, autocommit=True)
        self._port = port

    def _portal(self) -> list[int]:
        import psutil

        out = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "gunicorn" in cmd and f"127.0.0.1:{self._port}" in cmd:
                out += [proc.pid, *(c.pid for c in proc.children(recursive=True))]
        return out

    def _backends(self) -> list[int]:
        return [r[0] for r in self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        return ({p: _cpu([p]) for p in self._portal()}, {p: _cpu([p]) for p in self._backends()})

    @staticmethod
    def spent(before, after) -> tuple[float, float]:
        # processes that started during the phase count from 0; ones that ended are lost (rare: persistent connections)
        return tuple(sum(v - b.get(p, 0.0) for p, v in a.items()) for b, a in zip(before, after, strict=True))

    def close(self) -> None:
        self._conn.close()


AM_CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"


def alertmanager(workdir: Path):
    import httpx

    port = free_port()
    (workdir / "am.yml").write_text(AM_CONFIG)
    proc = subprocess.Popen(
        [AM_BINARY, f"--config.file={workdir / 'am.yml'}", f"--storage.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/-/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise BenchError("alertmanager did not start")
        time.sleep(0.2)


def verify(db_url: str, run: str, n: int) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        alerts = conn.execute("SELECT count(*) FROM incidents_alert WHERE fingerprint LIKE %s AND incident_id IS NOT NULL",
                              [f"{run}-%"]).fetchone()[0]
        incidents = conn.execute("SELECT count(*) FROM incidents_incident WHERE group_key LIKE %s",
                                 [f'{{}}:{{alertname="Bench{run}x%']).fetchone()[0]
    return alerts, incidents


def row(name: str, result: dict, alerts_per_request: int) -> list:
    lat = [x * 1000 for x in result["latencies"]]
    rate = len(lat) * alerts_per_request / result["wall"]
    return [name, len(lat), len(lat) * alerts_per_request, f"{result['wall']:.2f}", f"{rate:,.0f}",
            f"{percentile(lat, 50):.1f}", f"{percentile(lat, 99):.1f}"]


def main() -> int:
    load_start = loadavg()
    db_url, broker = database_url("opsportal_bench_incidents"), redis_url()
    ensure_database(db_url)
    check_redis(broker)
    env = django_env("opsportal.settings", DATABASE_URL=db_url, REDIS_URL=broker, LOG_LEVEL="WARNING",
                     SECURE_SSL_REDIRECT="false", ACCESS_LOG="false")
    log("migrating the scratch database")
    manage(["migrate", "--noinput"], env)
    token = manage(["issue_token", "--service", f"bench-{uuid.uuid4().hex[:6]}", "--scopes", "alerts:write"],
                   env).strip().splitlines()[-1]
    ack_token = manage(["issue_token", "--service", f"bench-{uuid.uuid4().hex[:6]}", "--scopes",
                        "incidents:write,read"], env).strip().splitlines()[-1]
    run = uuid.uuid4().hex[:8]
    batches = make_batches(run, WARMUP + BATCHES)
    v4 = [json.dumps(b[1]).encode() for b in batches]
    v2 = [json.dumps(b[0]).encode() for b in batches]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "X-Forwarded-Proto": "https"}
    with gunicorn("opsportal.wsgi:application", env, workers=2, threads=8, ready_path="/health/live",
                  log_name="incidents-gunicorn") as base:
        url = base + "/api/v1/alerts/alertmanager/"
        log(f"warm-up: {WARMUP} batches")
        drive(url, v4[:WARMUP], headers, expect=200)
        meter = CpuMeter(db_url, int(base.rsplit(":", 1)[1]))
        log(f"portal: {BATCHES} batches of {BATCH_SIZE}")
        c0 = meter.sample()
        portal = drive(url, v4[WARMUP:], headers, expect=200, want_took=True)
        c1 = meter.sample()
        log("portal: the same batches again (Alertmanager's repeat notifications: upsert only)")
        repeat = drive(url, v4[WARMUP:], headers, expect=200, want_took=True)
        c2 = meter.sample()
        meter.close()
        cpu_open, cpu_repeat = CpuMeter.spent(c0, c1), CpuMeter.spent(c1, c2)
        open_lines = []
        if OPEN_ALERTS:
            log(f"(c) seeding {OPEN_ALERTS} open alerts, then the list page and acknowledge")
            open_lines = open_load.measure(base, env, ack_token)
    alerts, incidents = verify(db_url, run, BATCHES)
    if alerts != (WARMUP + BATCHES) * BATCH_SIZE or incidents != WARMUP + BATCHES:
        raise BenchError(f"lost work: {alerts} alerts and {incidents} incidents in the database")
    am = None
    if shutil.which(AM_BINARY):
        workdir = Path(tempfile.mkdtemp(prefix="bench-am-"))
        proc, am_base = alertmanager(workdir)
        try:
            drive(am_base + "/api/v2/alerts", v2[:WARMUP], {"Content-Type": "application/json"}, expect=200)
            am = drive(am_base + "/api/v2/alerts", v2[WARMUP:], {"Content-Type": "application/json"}, expect=200)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            shutil.rmtree(workdir, ignore_errors=True)
    rate = BATCHES * BATCH_SIZE / portal["wall"]
    rows = [row("portal `/api/v1/alerts/alertmanager/` (v4, each batch opens an incident)", portal, BATCH_SIZE),
            row("portal, the same batches repeated (upsert only, nothing opens)", repeat, BATCH_SIZE)]
    if am is not None:
        rows.append(row("Alertmanager `/api/v2/alerts` (same alerts, ingest only)", am, BATCH_SIZE))
    took = portal["took"]
    lines = [
        f"### {NAME}",
        "",
        f"Alertmanager v4 notifications of {BATCH_SIZE} firing alerts (one new group each, so each request "
        f"upserts {BATCH_SIZE} alerts and opens one incident with its audit entry, outbox event and timeline), "
        f"posted by {CONCURRENCY} keep-alive httpx clients after {WARMUP} warm-up batches.",
        "",
        "- Server: gunicorn `-k gthread --workers 2 --threads 8`, OPSPORTAL_ENV=production, real PostgreSQL and "
        "Redis (outbox relay to the channel layer on commit), bearer token with `alerts:write`.",
        f"- Every batch verified afterwards: {alerts} alerts attached to {incidents} incidents (incl. warm-up).",
        "- Latency is client-side, request sent → response read; the response is written after the commit, so it "
        "bounds receipt → committed.",
        f"- View-side, first line → committed (`took_ms`): p50 {percentile(took, 50):.1f} ms, "
        f"p99 {percentile(took, 99):.1f} ms when opening; repeats p50 {percentile(repeat['took'], 50):.1f} ms, "
        f"p99 {percentile(repeat['took'], 99):.1f} ms.",
        f"- CPU per batch of {BATCH_SIZE} (gunicorn workers + the database's PostgreSQL backends, psutil): opening "
        f"{cpu_open[0] / BATCHES * 1000:.1f} + {cpu_open[1] / BATCHES * 1000:.1f} ms, repeats "
        f"{cpu_repeat[0] / BATCHES * 1000:.1f} + {cpu_repeat[1] / BATCHES * 1000:.1f} ms; what 2 otherwise idle "
        f"cores could sustain at that cost: ~{2 * BATCHES * BATCH_SIZE / sum(cpu_open):,.0f} alerts/s opening, "
        f"~{2 * BATCHES * BATCH_SIZE / sum(cpu_repeat):,.0f} alerts/s repeats (the load generator's own CPU aside).",
        f"- Load average (1/5/15 min) at start: {load_start}; at end: {loadavg()}.",
        "",
        md_table(["target", "requests", "alerts", "seconds", "alerts/s", "p50 ms", "p99 ms"], rows),
        "",
        f"**Target ≥ {TARGET:,.0f} alerts/s into committed incidents: measured {rate:,.0f} alerts/s, "
        f"p99 receipt→committed {percentile([x * 1000 for x in portal['latencies']], 99):.1f} ms — "
        f"{'MET' if rate >= TARGET else 'NOT MET'}.**",
        "",
        *open_lines,
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"[{NAME}] broke: {exc}", file=sys.stderr)
        sys.exit(1)

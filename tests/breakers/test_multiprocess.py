"""Real OS processes sharing breakers through real Redis (and recording in the test database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from reliability.breakers import BreakerConfig
from reliability.breakers.models import BreakerTransition
from reliability.breakers.store import RedisStore

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("mp_worker.py")


def _test_database_url() -> str:
    db = connection.settings_dict  # the test database pytest-django created
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _start(mode: str, name: str, config: BreakerConfig) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings_test",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, name, json.dumps(asdict(config))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )


def _run(procs: list[subprocess.Popen]) -> list[dict]:
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            assert line == "ready", (line, p.stderr.read() if p.poll() is not None else "")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_two_processes_trip_once_and_everyone_fails_fast_within_a_second():
    cfg = BreakerConfig(failure_rate_threshold=50, minimum_calls=20, window_size=100, open_duration=60)
    procs = [_start("watch", "mp-trip", cfg), _start("drive", "mp-trip", cfg), _start("drive", "mp-trip", cfg)]
    watcher, *drivers = _run(procs)

    opened = list(BreakerTransition.objects.filter(breaker__name="mp-trip", to_state="open"))
    assert len(opened) == 1, [(t.cause, t.scope) for t in opened]
    assert (opened[0].cause, opened[0].scope) == ("failure_rate", "shared")
    tripped_at = opened[0].at.timestamp()
    # both drivers pushed failures; neither ran calls long after the trip
    assert sum(d["executed"] for d in drivers) >= cfg.minimum_calls
    for d in drivers:
        assert d["first_rejection"] is not None
        assert d["first_rejection"] - tripped_at < 1.0
    # the process that made no call at all learnt it from Redis within a second, and fails fast
    assert watcher["seen_open"] is not None
    assert watcher["seen_open"] - tripped_at < 1.0
    assert watcher["fast_fail"] is True


def test_processes_in_half_open_run_no_more_than_the_permitted_probes(redis_url):
    name = "mp-probe"
    cfg = BreakerConfig(minimum_calls=5, open_duration=30, half_open_permitted_calls=2, success_threshold=2)
    store = RedisStore(redis_url)
    store.set_state(name, state="open", open_ms=1)  # open, and its open duration already over
    store.client.delete(f"probes:{name}")
    procs = [_start("probe", name, cfg) for _ in range(3)]  # 3 processes × 3 threads keep trying
    results = _run(procs)

    probes = int(store.client.get(f"probes:{name}") or 0)
    assert 1 <= probes <= cfg.half_open_permitted_calls
    assert sum(r["rejected"] for r in results) > 0
    moves = list(BreakerTransition.objects.filter(breaker__name=name).values_list("to_state", "cause"))
    assert sorted(moves) == [("half_open", "open_duration_elapsed"), ("open", "probe_failure")]

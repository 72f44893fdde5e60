"""Item 9 of issue 11: a process that trips a breaker and exits at once still records the trip.

Three real OS processes against real Redis; the transition lands in the test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from django.conf import settings

from reliability.breakers import BreakerConfig
from reliability.breakers.models import BreakerTransition
from reliability.breakers.runtime import BreakerRegistry, RuntimeHooks
from reliability.breakers.store import RedisStore
from tests.breakers.test_multiprocess import _test_database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("exit_worker.py")
CFG = BreakerConfig(failure_rate_threshold=50, minimum_calls=20, window_size=100, open_duration=60)


def _start(mode: str, name: str, failures: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "REDIS_URL": settings.REDIS_URL,
           "DJANGO_SETTINGS_MODULE": "opsportal.settings_test", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, name, json.dumps(asdict(CFG)), str(failures)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )


def _finish(p: subprocess.Popen, stdin: str = "") -> dict:
    out, err = p.communicate(stdin, timeout=60)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_the_process_whose_last_failures_trip_the_breaker_records_it_although_it_exits_at_once():
    name = "exit-trip"
    store = RedisStore(settings.REDIS_URL)
    store.client.delete(*store.keys(name))
    feeders = [_start("feed", name, 7), _start("feed", name, 7)]  # 14 failures in Redis, below 20 calls
    try:
        for p in feeders:
            line = p.stdout.readline().strip()
            assert line == "fed", (line, p.stderr.read() if p.poll() is not None else "")
        # its 6 failures make 20 fleet-wide; it exits before any periodic flush could send them
        tripper = _finish(_start("trip", name, 6))
        assert tripper["state"] == "closed"  # it never learnt of the trip itself: the exit flush decided it
        for p in feeders:
            _finish(p, "exit\n")
    finally:
        for p in feeders:
            if p.poll() is None:
                p.kill()

    opened = list(BreakerTransition.objects.filter(breaker__name=name, to_state="open"))
    assert len(opened) == 1, [(t.cause, t.scope) for t in opened]
    assert (opened[0].cause, opened[0].scope) == ("failure_rate", "shared")
    assert opened[0].calls_in_window == 20
    assert store.read_many([name])[0].state == "open"


class _Hooks(RuntimeHooks):
    def __init__(self) -> None:
        self.transitions = []
        self.released = 0

    def record_transition(self, event) -> None:
        self.transitions.append(event)

    def register(self, name, config) -> None:
        pass

    def load_configs(self) -> dict:
        return {}

    def release_connections(self) -> None:
        self.released += 1


def test_shutdown_writes_a_queued_transition_and_releases_the_hooks():
    hooks = _Hooks()
    reg = BreakerRegistry(hooks=hooks, background=False)
    b = reg.get("local-exit", config=BreakerConfig(minimum_calls=2, failure_rate_threshold=50))
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            b.call(lambda: 1 / 0)
    assert hooks.transitions == []  # queued for the recorder, not yet written
    reg.shutdown()
    assert [(e.name, e.to_state) for e in hooks.transitions] == [("local-exit", "open")]
    assert hooks.released >= 1

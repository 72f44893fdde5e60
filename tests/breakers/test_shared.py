"""Shared state through Redis, with registries standing in for processes (real Redis, db of the test run).

The true multi-process checks are in test_multiprocess.py; these pin the
protocol: no round trip on the closed path, one decision for the fleet, probe
permits counted in Redis, manual states propagated, and the fallback to
per-process state when Redis is unreachable.
"""

from __future__ import annotations

import threading
import time

import pytest

from reliability.breakers import BreakerConfig, CircuitOpenError
from reliability.breakers.store import RedisStore

CFG = BreakerConfig(failure_rate_threshold=50, minimum_calls=6, window_size=50, open_duration=30,
                    half_open_permitted_calls=2, success_threshold=2)
CLOSED_PORT = "redis://127.0.0.1:1/0"


def ok():
    return "ok"


def fail():
    raise ConnectionError("upstream refused")


def fails(b, n):
    for _ in range(n):
        try:
            b.call(fail)
        except (ConnectionError, CircuitOpenError):
            pass


class CountingStore:
    """Counts round trips made through a RedisStore."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if callable(attr) and name in {"sync", "acquire", "probe_result", "set_state", "read_many", "ping"}:
            def counted(*a, **kw):
                self.calls.append(name)
                return attr(*a, **kw)
            return counted
        return attr


def test_closed_fast_path_makes_no_round_trip_and_one_flush_carries_the_counts(shared_registry_factory):
    reg = shared_registry_factory()
    reg.store = counting = CountingStore(reg.store)
    b = reg.get("fast", config=CFG)
    for _ in range(1000):
        b.call(ok)
    assert counting.calls == []
    reg.sync_once()
    assert counting.calls == ["sync"]  # one pipelined round trip for every breaker
    assert b._core.remote_calls >= 50  # the window holds (at least) the last 50 calls


def test_trip_is_decided_once_for_all_processes(shared_registry_factory):
    a_reg, b_reg = shared_registry_factory(), shared_registry_factory()
    a, b = a_reg.get("once", config=CFG), b_reg.get("once", config=CFG)
    fails(a, 3)  # each process alone is under minimum_calls: nothing trips locally
    fails(b, 3)
    assert a.state == b.state == "closed"
    a_reg.sync_once()
    b_reg.sync_once()  # 6 failures in Redis: this flush trips it
    a_reg.sync_once()
    assert a.state == b.state == "open"
    a_reg.drain()
    b_reg.drain()
    decided = a_reg.hooks.transitions + b_reg.hooks.transitions
    assert [(e.to_state, e.cause, e.scope) for e in decided] == [("open", "failure_rate", "shared")]
    assert decided[0].failure_rate == pytest.approx(100.0)
    assert "upstream refused" in decided[0].last_error


def test_crossing_the_threshold_flushes_at_once(shared_registry_factory):
    reg = shared_registry_factory()
    b = reg.get("eager", config=CFG)
    fails(b, 6)  # the failure that makes 6/6 asks Redis right away instead of waiting for the flusher
    assert b.state == "open"
    with pytest.raises(CircuitOpenError):
        b.call(ok)


def test_racing_processes_record_exactly_one_open(shared_registry_factory):
    regs = [shared_registry_factory(background=True) for _ in range(3)]
    handles = [r.get("race", config=CFG) for r in regs]
    start = threading.Barrier(6)

    def hammer(b):
        start.wait()
        fails(b, 40)

    threads = [threading.Thread(target=hammer, args=(h,)) for h in handles for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in regs:
        r.sync_once()
        r.drain()
    opened = [e for r in regs for e in r.hooks.transitions if e.to_state == "open"]
    assert len(opened) == 1
    assert all(h.state == "open" for h in handles)


def test_half_open_probes_are_limited_across_processes(shared_registry_factory):
    regs = [shared_registry_factory() for _ in range(3)]
    handles = [r.get("probe", config=CFG.with_changes(open_duration=0.05)) for r in regs]
    fails(handles[0], 6)
    time.sleep(0.06)  # Redis' own clock decides when open ends
    for r in regs:
        r.sync_once()
    admitted, refused = [], 0
    for h in handles * 2:  # six callers try to probe, holding their probe open
        try:
            admitted.append(h.__enter__())
        except CircuitOpenError:
            refused += 1
    assert len(admitted) == 2
    assert refused == 4
    for h in admitted:
        h.__exit__(None, None, None)  # both succeed: success_threshold 2 closes it
    for r in regs:
        r.sync_once()
    assert [h.state for h in handles] == ["closed"] * 3
    for r in regs:
        r.drain()
    moves = sorted((e.to_state, e.cause) for r in regs for e in r.hooks.transitions)
    assert moves == [("closed", "probe_success"), ("half_open", "open_duration_elapsed"), ("open", "failure_rate")]


def test_a_failed_probe_reopens_for_everyone(shared_registry_factory):
    a_reg, b_reg = shared_registry_factory(), shared_registry_factory()
    cfg = CFG.with_changes(open_duration=0.05)
    a, b = a_reg.get("reopen", config=cfg), b_reg.get("reopen", config=cfg)
    fails(a, 6)
    time.sleep(0.06)
    fails(a, 1)  # the probe fails
    b_reg.sync_once()
    assert a.state == b.state == "open"
    a_reg.drain()
    assert a_reg.hooks.transitions[-1].cause == "probe_failure"


def test_manual_state_reaches_other_processes(shared_registry_factory):
    a_reg, b_reg = shared_registry_factory(), shared_registry_factory()
    b = b_reg.get("manual", config=CFG)
    a_reg.apply_manual("manual", "forced_open")
    b_reg.sync_once()
    assert b.state == "forced_open"
    with pytest.raises(CircuitOpenError):
        b.call(ok)
    a_reg.apply_manual("manual", "disabled")
    b_reg.sync_once()
    fails(b, 20)
    b_reg.sync_once()
    assert b.state == "disabled"
    a_reg.apply_manual("manual", "closed")
    b_reg.sync_once()
    assert b.call(ok) == "ok"


def test_a_sync_that_read_before_a_manual_change_does_not_undo_it(shared_registry_factory):
    """The flusher's round trip can straddle an operator's change; its stale answer must not win."""
    reg = shared_registry_factory()
    b = reg.get("straddled", config=CFG)
    read_done = threading.Event()
    real_sync = reg.store.sync

    def slow_sync(items):
        results = real_sync(items)  # reads "closed"
        read_done.set()
        time.sleep(0.2)  # the operator acts while this answer is in flight
        return results

    reg.store.sync = slow_sync
    flusher = threading.Thread(target=reg.sync_once)
    flusher.start()
    assert read_done.wait(5)
    reg.apply_manual("straddled", "forced_open")
    flusher.join(5)
    assert b.state == "forced_open"


def test_a_transition_is_seen_by_another_process_within_a_second(shared_registry_factory):
    a_reg = shared_registry_factory()
    b_reg = shared_registry_factory(background=True)  # its flusher polls every 250 ms
    a, b = a_reg.get("seen", config=CFG), b_reg.get("seen", config=CFG)
    time.sleep(0.3)
    fails(a, 6)
    tripped = time.monotonic()
    while b.state != "open" and time.monotonic() - tripped < 1.0:
        time.sleep(0.01)
    assert b.state == "open"


def test_unreachable_redis_falls_back_to_per_process_state(shared_registry_factory):
    reg = shared_registry_factory(url=CLOSED_PORT)
    b = reg.get("fallback", config=CFG)
    for _ in range(5):
        assert b.call(ok) == "ok"  # no redis error reaches the caller
    reg.sync_once()
    assert reg.store_status()[0] == "degraded"
    assert "per process" in reg.store_status()[1]
    fails(b, 10)
    assert b.state == "open"  # still protected, decided locally
    with pytest.raises(CircuitOpenError):
        b.call(ok)
    reg.drain()
    assert [(e.to_state, e.scope) for e in reg.hooks.transitions] == [("open", "local")]


def test_redis_lost_mid_half_open_still_answers(shared_registry_factory):
    reg = shared_registry_factory()
    b = reg.get("lost", config=CFG.with_changes(open_duration=0.05))
    fails(b, 6)
    time.sleep(0.06)
    reg.store.client.connection_pool.reset()
    reg.store.client.connection_pool.connection_kwargs["port"] = 1  # Redis "goes away"
    assert b.call(ok) == "ok"  # the probe runs on local state
    assert reg.store_status()[0] == "degraded"


def test_store_recovers_when_redis_answers_again(shared_registry_factory, redis_url):
    reg = shared_registry_factory()
    b = reg.get("recovers", config=CFG)
    reg.degrade(ConnectionError("simulated"))
    assert reg.store_status()[0] == "degraded"
    reg._next_reconnect = 0
    reg.sync_once()
    assert reg.store_status()[0] == "shared"
    fails(b, 6)
    assert b.state == "open"
    assert reg.store.client.hget("opsportal:breaker:{recovers}", "state") == b"open"

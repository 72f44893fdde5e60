"""Async breakers under asyncio: concurrent calls, no lock held across the await, call timeout."""

from __future__ import annotations

import asyncio

import pytest

from reliability.breakers import BreakerConfig, CircuitOpenError

CFG = BreakerConfig(minimum_calls=4, window_size=20, open_duration=30, half_open_permitted_calls=2, success_threshold=2)


async def test_many_concurrent_calls_are_in_flight_at_once(registry):
    b = registry.get("async-many", config=CFG)
    release = asyncio.Event()
    in_flight = 0
    peak = 0

    async def slow_ok(i):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return i

    tasks = [asyncio.create_task(b.acall(slow_ok, i)) for i in range(50)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert peak == 50  # every call entered: nothing serialises them across the await
    release.set()
    assert await asyncio.gather(*tasks) == list(range(50))
    assert b._core.counts[0] == 50


async def test_concurrent_failures_trip_and_later_calls_fail_fast(registry):
    b = registry.get("async-trip", config=CFG)

    async def boom():
        await asyncio.sleep(0)
        raise ConnectionError("refused")

    results = await asyncio.gather(*(b.acall(boom) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)  # all admitted while closed
    assert b.state == "open"
    ran = []

    async def never():
        ran.append(1)

    with pytest.raises(CircuitOpenError):
        await b.acall(never)
    assert ran == []


async def test_call_timeout_cancels_and_counts_as_failure(registry):
    b = registry.get("async-timeout", config=CFG.with_changes(call_timeout=0.01))

    async def hang():
        await asyncio.sleep(10)

    for _ in range(4):
        with pytest.raises(TimeoutError):
            await b.acall(hang)
    assert b.state == "open"
    assert b._core.counts[2] == 4  # result="timeout"


async def test_async_context_manager_applies_the_timeout(registry):
    b = registry.get("async-cm", config=CFG.with_changes(call_timeout=0.01))
    with pytest.raises(TimeoutError):
        async with b:
            await asyncio.sleep(10)
    async with b:
        await asyncio.sleep(0)
    assert b._core.counts[:3] == [1, 0, 1]


async def test_async_decorator_and_async_fallback(registry):
    async def cached(*args):
        return "cached"

    b = registry.get("async-deco", config=CFG, fallback=cached)

    @b
    async def fetch(fail: bool):
        if fail:
            raise ConnectionError("down")
        return "fresh"

    assert await fetch(False) == "fresh"
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await fetch(True)
    assert await fetch(False) == "cached"


async def test_half_open_limits_concurrent_async_probes(registry, clock):
    b = registry.get("async-probes", config=CFG)

    async def boom():
        raise ConnectionError("x")

    for _ in range(4):
        with pytest.raises(ConnectionError):
            await b.acall(boom)
    clock.advance(30)
    gate = asyncio.Event()
    ran = 0

    async def probe():
        nonlocal ran
        ran += 1
        await gate.wait()
        return "ok"

    tasks = [asyncio.create_task(b.acall(probe)) for _ in range(10)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert ran == 2
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 8
    assert b.state == "closed"


async def test_cancellation_is_not_a_failure(registry):
    b = registry.get("async-cancel", config=CFG)

    async def forever():
        await asyncio.sleep(10)

    for _ in range(6):
        task = asyncio.create_task(b.acall(forever))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert b.state == "closed"
    assert b._core.counts[4] == 6  # ignored

"""Breaker fixtures: a controllable clock, private registries, the process-wide one emptied."""

from __future__ import annotations

import pytest

from reliability.breakers.runtime import BreakerRegistry, RuntimeHooks, default_registry


class FakeClock:
    """A monotonic clock tests move by hand (no sleeping)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingHooks(RuntimeHooks):
    def __init__(self) -> None:
        self.transitions = []
        self.registered = []

    def record_transition(self, event) -> None:
        self.transitions.append(event)

    def register(self, name, config) -> None:
        self.registered.append((name, config))

    def load_configs(self) -> dict:
        return {}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hooks() -> RecordingHooks:
    return RecordingHooks()


@pytest.fixture
def registry(clock, hooks):
    """A local (in-process) registry on the fake clock; hook calls run on drain()."""
    reg = BreakerRegistry(clock=clock, hooks=hooks, background=False)
    yield reg
    reg.close()


@pytest.fixture
def redis_url(settings) -> str:
    return settings.REDIS_URL


@pytest.fixture
def shared_registry_factory(redis_url):
    """Registries sharing Redis as separate processes would (each its own state and store client)."""
    made = []

    def make(*, background: bool = False, clock=None, hooks=None, url: str | None = None) -> BreakerRegistry:
        kwargs = {"clock": clock} if clock is not None else {}
        reg = BreakerRegistry(redis_url=url or redis_url, hooks=hooks or RecordingHooks(), background=background, **kwargs)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.close()


@pytest.fixture
def process_registry(settings):
    """The process-wide registry (what ``breaker()`` uses), emptied around the test."""
    default_registry.reset()
    yield default_registry
    default_registry.reset()

"""Where the rules' inputs come from; injectable so tests (and drills) can drive them.

``gather()`` reads the latest probe statuses and the breakers' recorded states. Tests replace
either source with ``use_sources(probes=lambda: {...})``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from reliability.health.degradation.rules import Inputs

Source = Callable[[], dict[str, str]]
# Checks that rehearse rather than serve: a failed restore drill raises its own incident, but it
# says nothing about whether the portal can accept and deliver traffic now.
NOT_SERVING_CHECKS = frozenset({"restore_drill"})


def probe_statuses() -> dict[str, str]:
    """check name → ok/warn/fail from the latest persisted probe results (the HealthCheck rows)."""
    from reliability.health.selectors import latest_statuses

    return {name: status for name, status in latest_statuses().items() if name not in NOT_SERVING_CHECKS}


def breaker_states() -> dict[str, str]:
    """breaker name → state as recorded for the fleet (CircuitBreaker rows)."""
    from reliability.breakers.models import CircuitBreaker

    return dict(CircuitBreaker.objects.values_list("name", "state"))


_sources: dict[str, Source] = {"probes": probe_statuses, "breakers": breaker_states}


def gather() -> Inputs:
    return Inputs(probes=_sources["probes"](), breakers=_sources["breakers"]())


@contextlib.contextmanager
def use_sources(*, probes: Source | None = None, breakers: Source | None = None) -> Iterator[None]:
    """Replace the probe and/or breaker source for the duration of the block."""
    saved = dict(_sources)
    if probes is not None:
        _sources["probes"] = probes
    if breakers is not None:
        _sources["breakers"] = breakers
    try:
        yield
    finally:
        _sources.clear()
        _sources.update(saved)

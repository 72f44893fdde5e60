"""The level computed from probes and breakers, overrides with expiry, and the record of changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.breakers.config import BreakerConfig
from reliability.breakers.services import breaker_force_open, breaker_register
from reliability.health.degradation import Level, current_level, state
from reliability.health.degradation.inputs import gather, use_sources
from reliability.health.degradation.models import DegradationTransition
from reliability.health.degradation.services import degradation_evaluate, degradation_override_set
from reliability.health.degradation.tasks import evaluate_degradation
from tests.health.degrade.helpers import SYSTEM, sample

pytestmark = pytest.mark.django_db

HEALTHY = {"database": "ok", "redis": "ok", "broker": "ok", "workers": "ok"}


def _open_breaker(name: str = "payments") -> None:
    breaker_register(name=name, config=BreakerConfig())
    breaker_force_open(name=name, actor=SYSTEM, reason="test", source="test")


def _evaluate(captured, probes=None):
    with use_sources(probes=lambda: dict(probes or HEALTHY)), captured(execute=True):
        return degradation_evaluate(inputs=gather())


def test_an_open_breaker_row_is_minor_and_a_failing_probe_moderate(django_capture_on_commit_callbacks):
    assert _evaluate(django_capture_on_commit_callbacks) is None  # NORMAL → NORMAL: nothing to record
    assert current_level() == Level.NORMAL

    _open_breaker()
    t1 = _evaluate(django_capture_on_commit_callbacks)
    assert (t1.from_level, t1.to_level, t1.cause) == (Level.NORMAL, Level.MINOR, "computed")
    assert any("payments" in r for r in t1.reasons)
    assert current_level() == Level.MINOR

    t2 = _evaluate(django_capture_on_commit_callbacks, {**HEALTHY, "workers": "fail"})
    assert (t2.from_level, t2.to_level) == (Level.MINOR, Level.MODERATE)
    assert any("workers" in r for r in t2.reasons)
    state.forget_local()  # another process: reads the shared snapshot from the cache
    assert current_level() == Level.MODERATE

    events = OutboxEvent.objects.filter(type="degradation.changed").order_by("id")
    assert [(e.data["from"], e.data["to"]) for e in events] == [("NORMAL", "MINOR"), ("MINOR", "MODERATE")]
    assert AuditEntry.objects.filter(action="degradation.changed").count() == 2
    assert _evaluate(django_capture_on_commit_callbacks, {**HEALTHY, "workers": "fail"}) is None  # no change, no row
    assert DegradationTransition.objects.count() == 2


def test_a_failing_database_probe_is_critical(django_capture_on_commit_callbacks):
    t = _evaluate(django_capture_on_commit_callbacks, {**HEALTHY, "database": "fail"})
    assert t.to_level == Level.CRITICAL
    assert sample("system_degradation_level") == Level.CRITICAL


def test_an_override_returns_to_the_computed_level_after_its_expiry(django_capture_on_commit_callbacks):
    _open_breaker()
    _evaluate(django_capture_on_commit_callbacks)
    assert current_level() == Level.MINOR
    with time_machine.travel(timezone.now(), tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            degradation_override_set(level=Level.SEVERE, reason="incident 42: shed exports",
                                     expires_at=timezone.now() + timedelta(minutes=10), actor=SYSTEM, source="test")
        assert current_level() == Level.SEVERE
        _evaluate(django_capture_on_commit_callbacks)  # the rules still say MINOR; the override holds
        state.forget_local()
        assert current_level() == Level.SEVERE

        clock.shift(timedelta(minutes=10, seconds=1))
        assert current_level() == Level.MINOR  # the snapshot knows the expiry: no wait for the TTL
        before = sample("degradation_events_total", {"to": "MINOR", "cause": "override_expired"})
        t = _evaluate(django_capture_on_commit_callbacks)
        assert (t.from_level, t.to_level, t.cause) == (Level.SEVERE, Level.MINOR, "override_expired")
        assert sample("degradation_events_total", {"to": "MINOR", "cause": "override_expired"}) == before + 1
        state.forget_local()
        assert current_level() == Level.MINOR


def test_current_level_reads_the_database_when_the_cache_is_empty(django_capture_on_commit_callbacks):
    from django.core.cache import cache

    _evaluate(django_capture_on_commit_callbacks, {**HEALTHY, "redis": "fail"})
    cache.clear()
    state.forget_local()
    assert current_level() == Level.SEVERE
    assert cache.get(state.CACHE_KEY)["computed"] == Level.SEVERE  # and shared it again


def test_current_level_is_served_locally_within_the_ttl(django_capture_on_commit_callbacks, django_assert_num_queries):
    _evaluate(django_capture_on_commit_callbacks, {**HEALTHY, "broker": "fail"})
    with django_assert_num_queries(0):
        assert all(current_level() == Level.SEVERE for _ in range(100))


def test_the_beat_task_evaluates_with_the_real_sources(django_capture_on_commit_callbacks):
    _open_breaker()
    with use_sources(probes=lambda: HEALTHY), django_capture_on_commit_callbacks(execute=True):
        evaluate_degradation.apply()
    assert current_level() == Level.MINOR

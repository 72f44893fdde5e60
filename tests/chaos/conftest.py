"""Chaos fixtures: two chaos operators, a drill factory through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actors import Actor
from chaos import services


@pytest.fixture(autouse=True)
def _no_faults(no_faults):
    """Every test here starts and ends without an injected fault (tests/conftest.py)."""


@pytest.fixture
def processes(settings, tmp_path):
    """Real ``celery worker``/``celery beat`` processes on this test's database (tests/chaos/processes.py)."""
    from tests.chaos.processes import Processes

    procs = Processes(settings, tmp_path)
    yield procs
    procs.stop()


@pytest.fixture
def chaos_settings(settings):
    settings.OPSPORTAL_ENV = "staging"
    settings.OPSPORTAL_CHAOS_ENABLED = True
    settings.CHAOS_GUARD_INTERVAL_SECONDS = 0.5
    settings.CHAOS_SETTLE_SECONDS = 5
    settings.CHAOS_FAULT_TTL_MARGIN_SECONDS = 30
    settings.CHAOS_BLACKOUT_WINDOWS = []
    return settings


@pytest.fixture
def creator(make_user):
    return make_user("cora", "chaos_operator")


@pytest.fixture
def approver(make_user):
    return make_user("abe", "chaos_operator")


@pytest.fixture
def make_drill(db, chaos_settings, creator):
    def make(scenario: str = "dependency-failure", *, targets=("webhook-destination-1",), parameters=None, by=None,
             **fields):
        return services.drill_create(
            scenario=scenario, name=fields.pop("name", f"{scenario} drill"), parameters=parameters or {},
            targets=list(targets), actor=Actor(user=by or creator), source="test", **fields,
        )

    return make


@pytest.fixture
def scheduled_drill(make_drill, creator, approver):
    """make a drill, submit, approve by another, schedule (one-off at ``at``, default now)."""

    def make(scenario="dependency-failure", *, at=None, **fields):
        at = at or timezone.now().replace(microsecond=0)
        drill = make_drill(scenario, schedule=fields.pop("schedule", {"at": at.isoformat()}), **fields)
        services.drill_submit(drill_id=drill.pk, actor=Actor(user=creator), source="test")
        services.drill_approve(drill_id=drill.pk, actor=Actor(user=approver), source="test")
        return services.drill_schedule(drill_id=drill.pk, actor=Actor(user=creator), source="test")

    return make


def soon(seconds: int = 60):
    return timezone.now() + timedelta(seconds=seconds)

"""The workers' dead-man switch, service level, with a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.events.models import OutboxEvent
from reliability.health.models import WorkerHeartbeat
from reliability.health.probes import probe_workers
from reliability.health.services import Beat, worker_heartbeat_record, worker_heartbeat_retire, workers_sweep
from reliability.incidents.models import Alert

pytestmark = pytest.mark.django_db


def types():
    return list(OutboxEvent.objects.filter(type__startswith="worker.").order_by("id").values_list("type", flat=True))


def test_stale_after_the_threshold_then_recovered_by_the_next_beat(settings):
    settings.HEALTH_HEARTBEAT_STALE_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        worker_heartbeat_record(beat=Beat(worker_id="w1@host", pid=10, queues=("celery",), active_tasks=2))
        clock.shift(59)
        assert workers_sweep() == []  # within the threshold
        clock.shift(2)
        assert workers_sweep() == ["w1@host"]
        assert workers_sweep() == []  # marked once
        row = WorkerHeartbeat.objects.get()
        assert row.state == "stale"
        assert types() == ["worker.stale"]
        alert = Alert.objects.get(fingerprint="worker:w1@host")
        assert alert.status == "firing" and alert.labels["alertname"] == "WorkerHeartbeatStale"
        assert alert.incident.status == "triggered"
        [result] = probe_workers()
        assert result.status == "fail" and result.detail == "0 alive, 1 stale"

        clock.shift(30)
        worker_heartbeat_record(beat=Beat(worker_id="w1@host", pid=11, queues=("celery",)))
        row.refresh_from_db()
        assert row.state == "alive" and row.pid == 11
        assert types() == ["worker.stale", "worker.recovered"]
        alert.refresh_from_db()
        assert alert.status == "resolved" and alert.incident.status == "resolved"
        assert probe_workers()[0].status == "ok"


def test_a_fresh_worker_beating_is_not_an_event(settings):
    for _ in range(3):
        worker_heartbeat_record(beat=Beat(worker_id="w2@host"))
    assert WorkerHeartbeat.objects.count() == 1 and types() == []


def test_a_clean_shutdown_retires_the_row_and_resolves_its_alarm(settings):
    settings.HEALTH_HEARTBEAT_STALE_SECONDS = 1
    worker_heartbeat_record(beat=Beat(worker_id="w3@host"))
    workers_sweep(now=timezone.now() + timedelta(seconds=5))
    assert Alert.objects.get(fingerprint="worker:w3@host").status == "firing"
    assert worker_heartbeat_retire(worker_id="w3@host") is True
    assert not WorkerHeartbeat.objects.exists()
    assert Alert.objects.get(fingerprint="worker:w3@host").status == "resolved"
    assert types() == ["worker.stale", "worker.stopped"]


def test_worker_events_reach_the_health_group():
    from opsportal.events.groups import group_for

    assert group_for("worker.stale") == "ops.health" and group_for("health.check_changed") == "ops.health"

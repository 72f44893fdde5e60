"""A real Celery worker process: it beats, is SIGKILLed → stale and an incident; restarted → recovered and resolved.

Also a task sleeping past a small slow-job threshold is recorded by the worker's signals. The
worker runs with a 0.5 s heartbeat; the sweep is run here with ``now`` past the stale threshold
(a controlled clock), so nothing waits on a minute of wall time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from opsportal.events.models import OutboxEvent
from reliability.health.models import SlowJob, WorkerHeartbeat
from reliability.health.services import workers_sweep
from reliability.incidents.models import Alert
from tests.health.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(django_settings.BASE_DIR)


@pytest.fixture
def worker(settings, tmp_path):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "WARNING",
        "HEALTH_HEARTBEAT_SECONDS": "0.5",
        "SLOW_JOB_SECONDS": "0.5",
    }
    name = f"health-test-{uuid.uuid4().hex[:8]}@localhost"
    log = (tmp_path / "worker.log").open("wb")
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "opsportal", "worker", "-l", "WARNING", "-c", "1", "-n", name,
             "--include", "tests.health.worker_tasks", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started.append(proc)
        return proc

    start.name = name
    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    log.close()


def beating(name: str, pid: int):
    return WorkerHeartbeat.objects.filter(worker_id=name, pid=pid, state="alive").first()


def test_a_killed_worker_goes_stale_with_an_incident_and_a_restart_resolves_it(worker, settings):
    settings.HEALTH_HEARTBEAT_STALE_SECONDS = 5
    first = worker()
    row = wait_for(lambda: beating(worker.name, first.pid), 90, "the first heartbeat")
    assert row.queues == ["celery"] and row.hostname
    seen = row.last_seen
    wait_for(lambda: WorkerHeartbeat.objects.get(pk=row.pk).last_seen > seen, 30, "a second heartbeat")
    assert workers_sweep() == []  # beating: not stale

    os.killpg(first.pid, signal.SIGKILL)  # no shutdown signal, no chance to retire the row
    first.wait(10)
    last = WorkerHeartbeat.objects.get(pk=row.pk).last_seen
    assert workers_sweep(now=last + timedelta(seconds=6)) == [worker.name]
    assert WorkerHeartbeat.objects.get(pk=row.pk).state == "stale"
    assert OutboxEvent.objects.filter(type="worker.stale", data__worker_id=worker.name).count() == 1
    alert = Alert.objects.get(fingerprint=f"worker:{worker.name}")
    assert alert.status == "firing" and alert.incident.status == "triggered"

    second = worker()  # the same node name, as a supervisor restarts it
    wait_for(lambda: beating(worker.name, second.pid), 90, "the restarted worker's heartbeat")
    assert OutboxEvent.objects.filter(type="worker.recovered", data__worker_id=worker.name).count() == 1
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.incident.status == "resolved"


def test_a_task_sleeping_past_the_slow_job_threshold_is_recorded_without_its_secrets(worker):
    from celery import current_app

    proc = worker()
    wait_for(lambda: beating(worker.name, proc.pid), 90, "the worker")
    current_app.send_task("health_test.sleep", args=[0.05], kwargs={"label": "quick"})
    current_app.send_task("health_test.sleep", args=[1.0],
                          kwargs={"label": "nightly", "api_token": "tok-123", "dsn": "postgres://u:pw@db/x"})
    job = wait_for(lambda: SlowJob.objects.filter(task_name="health_test.sleep").first(), 60, "a slow job")
    assert job.duration_seconds >= 1.0 and job.state == "SUCCESS" and job.task_id
    assert "nightly" in job.args_summary and "1.0" in job.args_summary
    assert "tok-123" not in job.args_summary and "pw" not in job.args_summary and "***" in job.args_summary
    assert SlowJob.objects.count() == 1  # the quick one was not slow

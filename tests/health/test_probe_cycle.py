"""The probe cycle: results persisted, latest_statuses(), events and incidents only on transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from opsportal.events.models import OutboxEvent
from reliability.health import probes
from reliability.health.engine import probe_cycle_record
from reliability.health.models import HealthCheck, SlowJob, SystemHealthEvent
from reliability.health.probes import ProbeResult
from reliability.health.selectors import latest_statuses
from reliability.health.services import health_events_purge, health_results_record, slow_job_record
from reliability.incidents.models import Alert, Incident

pytestmark = pytest.mark.django_db


def events(type_):
    return list(OutboxEvent.objects.filter(type=type_).order_by("id"))


def test_a_cycle_persists_every_check_and_latest_statuses_reports_them(settings):
    settings.HEALTH_EXTERNAL_URLS = []
    out = probe_cycle_record()
    statuses = latest_statuses()
    expected = {"database", "redis", "broker", "workers", "queue.celery", "dlq_backlog", "outbox_backlog", "cpu",
                "memory", "disk"}
    assert expected <= set(statuses), statuses
    assert set(statuses.values()) <= {"ok", "warn", "fail"}
    # reachable (a loaded test box may grade a slow answer "warn", never "fail")
    assert "fail" not in (statuses["database"], statuses["redis"], statuses["broker"]), statuses
    assert SystemHealthEvent.objects.count() == out["checks"] == len(statuses)
    db = SystemHealthEvent.objects.get(check_name="database")
    assert db.value is not None and db.value == pytest.approx(db.latency_ms, abs=0.01) and db.detail == "postgresql"
    assert 0 <= HealthCheck.objects.get(name="disk").value <= 100


def test_an_event_only_when_a_status_changes_and_an_incident_while_failing():
    def cycle(status, detail="x"):
        return health_results_record(results=[ProbeResult("redis", status, 1.0, 1.0, detail)])

    assert cycle("ok").changed == []  # first sight of an ok check is no transition
    for _ in range(3):
        cycle("ok")
    assert events("health.check_changed") == []
    assert SystemHealthEvent.objects.filter(check_name="redis").count() == 4  # telemetry rows every cycle

    assert cycle("fail", "ConnectionError: refused").changed == ["redis"]
    cycle("fail", "ConnectionError: refused")
    [changed] = events("health.check_changed")
    assert changed.data["status"] == "fail" and changed.data["previous"] == "ok"
    alert = Alert.objects.get(fingerprint="health:redis")
    assert alert.status == "firing" and alert.labels["alertname"] == "HealthCheckFailing"
    incident = alert.incident
    assert incident.status == "triggered" and "redis" in incident.title + str(alert.annotations)

    cycle("ok")
    assert [e.data["status"] for e in events("health.check_changed")] == ["fail", "ok"]
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert Incident.objects.count() == 1


def test_checks_covered_by_their_own_alarm_raise_no_health_incident():
    health_results_record(results=[ProbeResult("dlq_backlog", "fail", 500, 1.0, "500 open", alarm=False)])
    assert HealthCheck.objects.get(name="dlq_backlog").status == "fail"
    assert not Alert.objects.exists()


def test_a_probe_that_hangs_is_a_failed_result_within_its_timeout(settings):
    import threading

    settings.HEALTH_PROBE_TIMEOUT_SECONDS = 0.2
    release = threading.Event()
    try:
        cycle = probes.probe_cycle({"stuck": lambda: release.wait(30) and [],
                                    "fine": lambda: [ProbeResult("fine", "ok", 1.0)]})
    finally:
        release.set()
    by = {r.check: r for r in cycle.results}
    assert by["stuck"].status == "fail" and "no answer within 0.2s" in by["stuck"].detail
    assert by["fine"].status == "ok"


def test_thresholds_grade_values(settings):
    settings.HEALTH_THRESHOLDS = {**settings.HEALTH_THRESHOLDS, "database": (10.0, 100.0)}
    assert [probes.grade("database", v) for v in (1, 10, 99, 100, None)] == ["ok", "warn", "warn", "fail", "ok"]
    assert probes.grade("no-bounds", 1e9) == "ok"


@pytest.fixture
def broker(settings):
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client
    client.delete("celery")
    client.close()


def test_queue_depth_over_the_threshold_raises_an_incident(settings, broker):
    settings.HEALTH_THRESHOLDS = {**settings.HEALTH_THRESHOLDS, "queue_depth": (3, 5)}
    settings.HEALTH_QUEUE_DEPTH_THRESHOLD = 5
    broker.rpush("celery", *[b"{}"] * 6)
    health_results_record(results=probes.probe_queues())
    row = HealthCheck.objects.get(name="queue.celery")
    assert row.value == 6 and row.status == "fail" and "over the threshold 5" in row.detail
    assert Alert.objects.get(fingerprint="health:queue.celery").status == "firing"
    broker.delete("celery")
    health_results_record(results=probes.probe_queues())
    assert Alert.objects.get(fingerprint="health:queue.celery").status == "resolved"


def test_a_growing_queue_without_a_live_consumer_is_stalled(broker):
    from reliability.health.services import Beat, worker_heartbeat_record

    broker.rpush("celery", b"{}")
    health_results_record(results=probes.probe_queues())
    assert HealthCheck.objects.get(name="queue.celery").status == "ok"  # one reading: no trend yet
    broker.rpush("celery", b"{}")
    health_results_record(results=probes.probe_queues())
    row = HealthCheck.objects.get(name="queue.celery")
    assert row.status == "fail" and row.detail.startswith("stalled: 2 waiting")
    assert Alert.objects.get(fingerprint="health:queue.celery").status == "firing"

    worker_heartbeat_record(beat=Beat(worker_id="w1@host", queues=("celery",)))  # a consumer appears
    broker.rpush("celery", b"{}")
    health_results_record(results=probes.probe_queues())
    assert HealthCheck.objects.get(name="queue.celery").status == "ok"
    assert Alert.objects.get(fingerprint="health:queue.celery").status == "resolved"


def test_memory_transport_reports_queue_depth_as_not_available(settings):
    settings.CELERY_BROKER_URL = "memory://"
    [result] = probes.probe_queues()
    assert result.check == "queue_depth" and result.value is None and result.detail.startswith("n/a")


def test_outbox_backlog_counts_only_old_unpublished_events(settings):
    settings.HEALTH_OUTBOX_BACKLOG_SECONDS = 60
    now = timezone.now()
    for age, published in ((5, None), (120, None), (300, now)):
        OutboxEvent.objects.create(type="catalog.service_created", aggregate_type="x", aggregate_id="1",
                                   created_at=now - timedelta(seconds=age), published_at=published)
    [result] = probes.probe_outbox()
    assert result.value == 1 and result.status == "warn"


@pytest.fixture
def http_server():
    """A local HTTP server: GET /ok answers 200, anything else 503."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/ok" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_external_urls_are_probed_through_the_outbound_seam(settings, http_server):
    settings.HEALTH_EXTERNAL_URLS = [f"up={http_server}/ok", f"sick={http_server}/down",
                                     f"gone=http://127.0.0.1:{_closed()}/"]
    by = {r.check: r for r in probes.probe_external()}
    assert by["external.up"].status in ("ok", "warn") and by["external.up"].detail == "HTTP 200"
    assert by["external.sick"].status == "fail" and by["external.sick"].detail == "HTTP 503"
    assert by["external.gone"].status == "fail" and "Outbound" in by["external.gone"].detail


def _closed():
    from tests.health.conftest import closed_port

    return closed_port()


def test_retention_purges_old_results_and_slow_jobs():
    now = timezone.now()
    health_results_record(results=[ProbeResult("database", "ok", 1.0)], at=now - timedelta(days=20))
    health_results_record(results=[ProbeResult("database", "ok", 1.0)], at=now - timedelta(days=1))
    slow_job_record(task_name="t", task_id="1", duration_seconds=40, args_summary="", at=now - timedelta(days=20))
    assert health_events_purge(retention_days=14) == {"events": 1, "slow_jobs": 1}
    assert SystemHealthEvent.objects.count() == 1 and not SlowJob.objects.exists()


def test_metrics_expose_status_and_duration_per_check(client):
    health_results_record(results=[ProbeResult("redis", "fail", None, 250.0, "down")])
    text = client.get("/metrics").content.decode()
    assert 'health_check_status{check="redis"} 2.0' in text
    assert 'health_check_duration_seconds{check="redis"} 0.25' in text

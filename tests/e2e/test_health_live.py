"""/ops/health/ in Chromium: probes with history charts, workers, slow jobs; a status change arrives live."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser
PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def health_data(transactional_db):
    import math

    from django.utils import timezone

    from reliability.health.probes import ProbeResult
    from reliability.health.services import (
        Beat,
        health_results_record,
        slow_job_record,
        worker_heartbeat_record,
    )

    now = timezone.now()
    for minute in range(40, 0, -1):
        db = round(5 + 3 * math.sin(minute / 4), 2)
        health_results_record(at=now - timedelta(minutes=minute), results=[
            ProbeResult("database", "ok", db, db, "postgresql"),
            ProbeResult("redis", "ok", 1.2, 1.2, "pong"),
            ProbeResult("disk", "warn" if minute < 10 else "ok", 80 + minute / 10, 0.1, "disk % used"),
            ProbeResult("queue.celery", "ok", minute % 7, 1.0, "waiting"),
        ])
    worker_heartbeat_record(beat=Beat(worker_id="celery@worker-1", hostname="worker-1", pid=4242,
                                      queues=("celery",), active_tasks=1, queue_depth=3, load=0.42))
    slow_job_record(task_name="webhooks.purge_delivered_payloads", task_id="t-1", duration_seconds=42.5,
                    args_summary="days=7", state="SUCCESS")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_health_page_draws_and_follows_a_status_change_live(health_data, asgi_live_server, operator, browser,
                                                                width):
    shots = Path(os.environ["OPSPORTAL_SCREENSHOTS"]) if os.environ.get("OPSPORTAL_SCREENSHOTS") else None
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors, bad = [], []
    pg.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
          and errors.append(msg.text))
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and bad.append((r.status, r.url)))
    login(pg, asgi_live_server, operator, PASSWORD)
    pg.goto(f"{asgi_live_server}/ops/health/")
    expect(pg.locator("#ops-connection")).to_have_attribute("data-state", "open")
    pg.wait_for_function("window.healthCharts >= 1")
    assert pg.evaluate("document.querySelectorAll('canvas[data-check]').length") == 4
    assert pg.evaluate("Chart.getChart(document.querySelector('canvas[data-check=database]')).data.datasets[0]"
                       ".data.length") == 40
    expect(pg.locator('tr[data-worker="celery@worker-1"] [data-testid=worker-state]')).to_have_text("alive")
    expect(pg.get_by_test_id("health-slow-jobs")).to_contain_text("webhooks.purge_delivered_payloads")
    expect(pg.locator("#health-degradation-slot")).to_have_count(1)

    from reliability.health.probes import ProbeResult
    from reliability.health.services import health_results_record

    in_thread(health_results_record, results=[ProbeResult("redis", "fail", None, 500.0, "ConnectionError: refused")])
    expect(pg.locator('tr[data-check="redis"] [data-testid=check-status]')).to_have_text("fail")
    expect(pg.locator("#ops-feed")).to_contain_text("Health check redis: ok → fail")
    pg.wait_for_function("window.healthCharts >= 2")  # the swapped fragment's charts were drawn again
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(shots / f"health-{width}.png"), full_page=True)
    overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"/ops/health/ at {width}px overflows by {overflow}px"
    assert errors == [] and bad == []
    context.close()

"""/ops/chaos/ in Chromium: a chaos operator approves another's drill, watches the journal stream, presses Halt."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from audit.actors import Actor
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser
PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def chaos_on(settings):
    settings.OPSPORTAL_ENV = "staging"
    settings.OPSPORTAL_CHAOS_ENABLED = True
    settings.CHAOS_GUARD_INTERVAL_SECONDS = 1
    settings.CHAOS_SETTLE_SECONDS = 1
    settings.SECURE_SSL_REDIRECT = False  # the live server speaks plain HTTP
    return settings


def test_approve_watch_the_journal_stream_and_halt(chaos_on, asgi_live_server, make_user, page, tmp_path):
    from chaos import services
    from chaos.engine.slots import start_due_slot
    from chaos.models import ChaosDrill, ChaosRun
    from reliability import faults

    creator = in_thread(make_user, "cora", "chaos_operator")
    approver = in_thread(make_user, "abe", "chaos_operator")
    at = timezone.now().replace(microsecond=0).isoformat()

    def create():
        drill = services.drill_create(scenario="dependency-failure", name="orders answer 503", targets=["alertmanager"],
                                      parameters={"error": 503, "settle_seconds": 0}, duration_seconds=300,
                                      schedule={"at": at}, actor=Actor(user=creator), source="test")
        services.drill_submit(drill_id=drill.pk, actor=Actor(user=creator), source="test")
        return drill

    drill = in_thread(create)
    login(page, asgi_live_server, approver, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/chaos/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    page.get_by_test_id(f"approve-{drill.pk}").click()
    expect(page.locator(f'tr[data-drill-id="{drill.pk}"]')).to_have_attribute("data-state", "approved")
    page.get_by_test_id(f"schedule-{drill.pk}").click()
    expect(page.locator(f'tr[data-drill-id="{drill.pk}"]')).to_have_attribute("data-state", "scheduled")
    assert in_thread(lambda: ChaosDrill.objects.get(pk=drill.pk).approved_by_id) == approver.pk
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    page.evaluate("window.__sameDocument = true")

    def run():  # what the worker does when beat fires the slot
        try:
            start_due_slot(drill.pk)
        finally:
            connections.close_all()

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    journal = page.get_by_test_id("journal")
    expect(journal).to_contain_text("fault_applied", timeout=30_000)  # streamed: no reload
    expect(journal).to_contain_text("guards hold", timeout=30_000)
    expect(page.locator(f'tr[data-drill-id="{drill.pk}"]')).to_have_attribute("data-state", "running")
    assert page.evaluate("window.__sameDocument === true")
    page.screenshot(path="/tmp/chaos-running.png", full_page=True)

    page.get_by_test_id(f"halt-{drill.pk}").click()
    expect(page.get_by_test_id("run-state")).to_have_text("halted", timeout=30_000)
    runner.join(60)
    assert in_thread(lambda: ChaosRun.objects.get(drill=drill).state) == "halted"
    assert in_thread(faults.fault_for, "alertmanager") is None
    expect(journal).to_contain_text("verdict", timeout=30_000)

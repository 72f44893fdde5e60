"""/ops/ in Chromium: live events from another client, and catch-up after the socket drops."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from opsportal.catalog.services import service_create
from opsportal.events.models import OutboxEvent
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser

PASSWORD = "pw-Opsportal-1"  # tests/conftest.py make_user's default
REQUIRED_ASSETS = ("/static/admin/css/base.css", "/static/ops/ops.js", "/static/vendor/htmx/htmx.min.js")


def _created_event_id(service_id) -> str:
    def read() -> str:
        return str(OutboxEvent.objects.get(type="catalog.service_created", aggregate_id=str(service_id)).uuid)

    return in_thread(read)  # no ORM in the test's thread while Playwright runs


def test_ops_page_loads_its_assets_without_errors(asgi_live_server, operator, page):
    login(page, asgi_live_server, operator, PASSWORD)
    page.problems.clear()
    page.goto(f"{asgi_live_server}/ops/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    expect(page.locator("#ops-panel-catalog-recent")).to_have_attribute("data-panel-domain", "catalog")
    expect(page.locator("#nav-admin")).to_have_attribute("href", "/admin/")

    static = [(status, url) for status, url in page.problems.responses if "/static/" in url]
    loaded = {url.removeprefix(asgi_live_server) for status, url in static if status == 200}
    assert set(REQUIRED_ASSETS) <= loaded
    assert [s for s in static if s[0] >= 400] == []
    assert page.problems.failed_requests == []
    assert page.problems.console_errors == []
    assert page.evaluate("typeof htmx.ajax") == "function"


def test_operator_sees_another_clients_event_live_then_catches_up_after_a_drop(
    asgi_live_server, operator, issue_token, page
):
    token = in_thread(issue_token, "catalog:write", service="deployer")  # it emits: relay needs a loop-free thread
    login(page, asgi_live_server, operator, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/")
    status = page.locator("#ops-connection")
    expect(status).to_have_attribute("data-state", "open")
    page.evaluate("window.__sameDocument = true")  # survives only if the page never reloads

    # Another client changes the catalog through the API; the feed shows it without a reload.
    started = time.monotonic()
    response = httpx.post(
        f"{asgi_live_server}/api/v1/services/",
        json={"name": "checkout", "team": "payments", "tier": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    live_item = page.locator(f'#ops-feed [data-event-id="{_created_event_id(response.json()["id"])}"]')
    expect(live_item).to_be_visible(timeout=15_000)  # generous on a loaded box; the latency is printed, not asserted
    print(f"\nAPI POST → event in the feed: {(time.monotonic() - started) * 1000:.0f} ms")
    expect(live_item).to_have_attribute("data-domain", "catalog")
    expect(live_item.locator(".ops-text")).to_have_text("Service checkout added to the catalog for team payments")
    expect(page.locator('#ops-panel-catalog-recent tr[data-service="checkout"]')).to_be_visible()

    # Drop every socket (server restart); an event happens while the page is disconnected.
    asgi_live_server.stop()
    expect(status).to_have_attribute("data-state", "reconnecting")
    missed = in_thread(service_create, name="ledger", actor=Actor.for_system("e2e"), source="test")
    missed_item = page.locator(f'#ops-feed [data-event-id="{_created_event_id(missed.pk)}"]')
    page.wait_for_timeout(300)
    assert missed_item.count() == 0
    asgi_live_server.start()

    # The page reconnects by itself and catches up on what it missed.
    expect(status).to_have_attribute("data-state", "open", timeout=20_000)
    expect(missed_item).to_be_visible(timeout=15_000)
    expect(missed_item.locator(".ops-text")).to_have_text("Service ledger added to the catalog")
    expect(page.locator('#ops-panel-catalog-recent tr[data-service="ledger"]')).to_be_visible()
    assert page.locator(f'#ops-feed [data-event-id="{_created_event_id(response.json()["id"])}"]').count() == 1
    assert page.evaluate("window.__sameDocument") is True

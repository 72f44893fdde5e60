"""/ops/ in Chromium: the degradation card follows an override set through the API, without a reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser

PASSWORD = "pw-Opsportal-1"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_the_degradation_card_changes_live(asgi_live_server, operator, issue_token, page):
    from reliability.health.degradation import state

    state.forget_local()
    token = in_thread(issue_token, "admin", service="oncall-bot")
    login(page, asgi_live_server, operator, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    card = page.locator("#ops-panel-degradation [data-testid=degradation-card]")
    expect(card).to_have_attribute("data-level", "NORMAL")
    page.evaluate("window.__sameDocument = true")

    expires = (timezone.now() + timedelta(minutes=45)).isoformat()
    response = httpx.post(f"{asgi_live_server}/api/v1/degradation/", timeout=10,
                          json={"level": "SEVERE", "reason": "database failover in progress", "expires_at": expires},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    expect(card).to_have_attribute("data-level", "SEVERE", timeout=20_000)
    expect(card.locator("[data-testid=degradation-override]")).to_contain_text("database failover in progress")
    expect(card.locator("[data-testid=degradation-expiry]")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#ops-panel-degradation").screenshot(path=str(SHOTS / "degradation-card.png"))

    cleared = httpx.request("DELETE", f"{asgi_live_server}/api/v1/degradation/", json={"reason": "done"}, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert cleared.status_code == 200, cleared.text
    expect(card).to_have_attribute("data-level", "NORMAL", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    state.forget_local()

"""/ops/ in Chromium: a breaker's state changes on the panel without a reload."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from reliability.breakers import BreakerConfig, CircuitOpenError
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser

PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def pay_breaker(transactional_db):
    from reliability.breakers.models import CircuitBreaker
    from reliability.breakers.runtime import default_registry

    default_registry.reset()
    CircuitBreaker.objects.create(name="pay", minimum_calls=3, window_size=10)
    yield default_registry.get("pay", config=BreakerConfig(minimum_calls=3, window_size=10))
    default_registry.reset()


def test_breaker_state_changes_live_on_the_ops_panel(pay_breaker, asgi_live_server, operator, issue_token, page):
    from audit.models import AuditEntry
    from reliability.breakers.runtime import default_registry

    token = in_thread(issue_token, "breakers:write", service="deployer")
    login(page, asgi_live_server, operator, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    row = page.locator('#ops-panel-breakers tr[data-breaker="pay"]')
    expect(row).to_have_attribute("data-state", "closed")
    page.evaluate("window.__sameDocument = true")  # survives only if the page never reloads

    # 1. The runtime trips it (failures in this process); the recorded transition reaches the page.
    for _ in range(3):
        with pytest.raises(ConnectionError):
            pay_breaker.call(lambda: (_ for _ in ()).throw(ConnectionError("refused")))
    with pytest.raises(CircuitOpenError):
        pay_breaker.call(lambda: "never")
    in_thread(default_registry.drain)  # what the recorder thread does in production
    expect(row).to_have_attribute("data-state", "open", timeout=15_000)
    expect(row.locator("[data-testid=breaker-state]")).to_have_text("open")

    # 2. Another client forces it open through the API.
    response = httpx.post(f"{asgi_live_server}/api/v1/breakers/pay/force-open/", json={"reason": "provider outage"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200, response.text
    expect(row).to_have_attribute("data-state", "forced_open", timeout=15_000)

    # 3. The operator resets it from the panel's own form.
    row.locator("select[name=action]").select_option("reset")
    row.locator("input[name=reason]").fill("provider recovered")
    row.locator("button[type=submit]").click()
    expect(row).to_have_attribute("data-state", "closed", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True
    assert pay_breaker.call(lambda: "ok") == "ok"

    sources = in_thread(lambda: list(AuditEntry.objects.filter(action__startswith="breaker.").order_by("id")
                                     .values_list("action", "source")))
    assert ("breaker.force_open", "api") in sources
    assert ("breaker.reset", "dashboard") in sources
    bad = [(status, url) for status, url in page.problems.responses if status >= 400 and "favicon" not in url]
    assert bad == []

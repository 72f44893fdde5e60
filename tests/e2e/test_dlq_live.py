"""/ops/ in Chromium: a DLQ item retried in one browser disappears from another browser's live list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser

PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def dlq_items(transactional_db):
    from reliability.webhooks.services.config import (
        RouteSpec,
        webhook_destination_create,
        webhook_source_create,
    )
    from tests.webhooks.dlq_helpers import make_dlq_item
    from tests.webhooks.helpers import STRIPE_SECRET

    actor = Actor.for_system("e2e")
    destination = webhook_destination_create(name="billing", url="http://127.0.0.1:9/hook", actor=actor, source="test")
    source = webhook_source_create(slug="stripe", scheme="stripe", secrets=[STRIPE_SECRET], actor=actor, source="test",
                                   routes=[RouteSpec(destination_id=destination.pk)])
    return [make_dlq_item(source, destination, event_type=t) for t in ("charge.failed", "charge.refunded", "invoice.paid")]


@pytest.fixture
def colleague(make_user):
    return make_user("carl", "operator")


def test_a_retry_on_ops_removes_the_item_from_another_browsers_live_list(
    dlq_items, asgi_live_server, operator, colleague, browser, page
):
    from audit.models import AuditEntry
    from reliability.webhooks.services.dlq import dlq_discard

    first, second, third = dlq_items

    # Browser A: the operator who will act.
    login(page, asgi_live_server, operator, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")

    # Browser B: a colleague watching the same queue (own context: own cookies, own socket).
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    other_context.set_default_timeout(15_000)
    watcher = other_context.new_page()
    try:
        login(watcher, asgi_live_server, colleague, PASSWORD)
        watcher.goto(f"{asgi_live_server}/ops/")
        expect(watcher.locator("#ops-connection")).to_have_attribute("data-state", "open")
        watched = watcher.locator("#ops-panel-dlq")
        for item in dlq_items:
            expect(watched.locator(f'tr[data-dlq-id="{item.pk}"]')).to_have_count(1)
        expect(watched.locator("[data-testid=dlq-depth]")).to_have_attribute("data-depth", "3")
        watcher.evaluate("window.__sameDocument = true")  # survives only if the page never reloads

        # A retries the first item from its panel.
        page.locator(f'#ops-panel-dlq tr[data-dlq-id="{first.pk}"] form.dlq-retry button').click()
        expect(page.locator(f'#ops-panel-dlq tr[data-dlq-id="{first.pk}"]')).to_have_count(0)

        # B's list drops it live; the others stay.
        expect(watched.locator(f'tr[data-dlq-id="{first.pk}"]')).to_have_count(0, timeout=15_000)
        expect(watched.locator("[data-testid=dlq-depth]")).to_have_attribute("data-depth", "2")
        expect(watched.locator(f'tr[data-dlq-id="{second.pk}"]')).to_have_count(1)

        # A discard made elsewhere (the API/CLI path: the service directly) shows up the same way.
        in_thread(dlq_discard, failure_id=third.pk, reason="test traffic", actor=Actor.for_system("e2e"), source="api")
        expect(watched.locator(f'tr[data-dlq-id="{third.pk}"]')).to_have_count(0, timeout=15_000)
        expect(page.locator(f'#ops-panel-dlq tr[data-dlq-id="{third.pk}"]')).to_have_count(0, timeout=15_000)
        assert watcher.evaluate("window.__sameDocument") is True
    finally:
        other_context.close()

    entries = in_thread(lambda: list(AuditEntry.objects.filter(action__startswith="dlq.").order_by("id")
                                     .values_list("action", "source", "target_id")))
    assert entries == [("dlq.retry", "dashboard", str(first.pk)), ("dlq.discard", "api", str(third.pk))]
    bad = [(status, url) for status, url in page.problems.responses if status >= 400 and "favicon" not in url]
    assert bad == []

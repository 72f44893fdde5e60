"""/ops/ in Chromium: the DLQ panel's grouped issues, a one-click group replay, and live replay progress.

Set ``OPSPORTAL_SCREENSHOTS=DIR`` to keep a screenshot of the panel with groups and progress.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser

PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def receiver():
    from tests.webhooks.receiver import Receiver

    with Receiver.running() as r:
        yield r


@pytest.fixture
def queue(transactional_db, receiver):
    from reliability.webhooks.services.config import (
        RouteSpec,
        webhook_destination_create,
        webhook_source_create,
    )
    from tests.webhooks.dlq_helpers import make_dlq_item
    from tests.webhooks.helpers import STRIPE_SECRET
    from tests.webhooks.receiver import DEST_SECRET

    actor = Actor.for_system("e2e")
    billing = webhook_destination_create(name="billing", url=receiver.url, signing_secret=DEST_SECRET, actor=actor,
                                         source="test", rate_limit_per_second=50)
    crm = webhook_destination_create(name="crm", url=receiver.url, signing_secret=DEST_SECRET, actor=actor, source="test")
    source = webhook_source_create(slug="stripe", scheme="stripe", secrets=[STRIPE_SECRET], actor=actor, source="test",
                                   routes=[RouteSpec(destination_id=billing.pk), RouteSpec(destination_id=crm.pk)])
    rejected = [make_dlq_item(source, crm, error=f"gave up after 1 attempt: HTTP 422: customer cus_{n}9x has no email",
                              failure_class="rejected", status_code=422) for n in range(3)]
    signature = [make_dlq_item(source, crm, error="HTTP 401: invalid webhook-signature", failure_class="signature_rejected",
                               status_code=401) for _ in range(2)]
    down = [make_dlq_item(source, billing, error=f"gave up after 8 attempts: connection refused (127.0.0.1:{9000 + n})",
                          failure_class="destination_down", status_code=None) for n in range(40)]
    return {"rejected": rejected, "signature": signature, "down": down}


def test_groups_replay_in_one_click_and_progress_moves(queue, asgi_live_server, operator, page):
    from audit.models import AuditEntry
    from reliability.webhooks.engine import deliveries_attempt
    from reliability.webhooks.services.dlq import dlq_retry

    # A replay of the 40 billing items is under way: 25 delivered so far (no worker: this test sends them).
    result = in_thread(dlq_retry, filters={"group": queue["down"][0].group_signature},
                       actor=Actor.for_system("dlq-processor"), source="dlq-processor", strategy="auto_replay_on_recovery")
    in_thread(deliveries_attempt, delivery_ids=list(result.delivery_ids)[:25])

    login(page, asgi_live_server, operator, PASSWORD)
    page.goto(f"{asgi_live_server}/ops/")
    panel = page.locator("#ops-panel-dlq")
    rejected_sig = queue["rejected"][0].group_signature
    expect(panel.locator(f'tr[data-dlq-group="{rejected_sig}"]')).to_have_attribute("data-count", "3")
    expect(panel.locator(f'tr[data-dlq-group="{queue["signature"][0].group_signature}"]')).to_contain_text("rotated")
    progress = panel.locator(f'tr[data-replay="{_replay_id(result)}"]')
    expect(progress).to_have_attribute("data-done", "25")
    expect(progress).to_contain_text("25/40")
    shots = os.environ.get("OPSPORTAL_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.locator("#ops-panel-dlq").screenshot(path=str(Path(shots) / "dlq-panel-groups-progress.png"))

    # The rest is delivered: the panel polls itself while a replay runs, so the row moves without a click.
    in_thread(deliveries_attempt, delivery_ids=list(result.delivery_ids)[25:])
    expect(progress).to_contain_text("40/40", timeout=30_000)

    # One click replays the whole rejected group: one audit entry, exactly its items.
    before = in_thread(AuditEntry.objects.filter(action="dlq.retry").count)
    panel.locator(f'tr[data-dlq-group="{rejected_sig}"] button[aria-label^="replay group"]').click()
    expect(panel.locator(f'tr[data-dlq-group="{rejected_sig}"]')).to_have_count(0)
    entries = in_thread(lambda: list(AuditEntry.objects.filter(action="dlq.retry").order_by("id")))
    assert len(entries) == before + 1
    assert set(entries[-1].changes["ids"]) == {f.pk for f in queue["rejected"]}


def _replay_id(result) -> int:
    from reliability.webhooks.models import WebhookFailure

    return in_thread(lambda: WebhookFailure.objects.get(pk=result.ids[0]).replay_id)

"""GET /health/dlq: depth against the alarm threshold, for staff and read tokens."""

import pytest

from tests.webhooks.dlq_helpers import make_dlq_item

pytestmark = pytest.mark.django_db


def test_dlq_health_reports_depth_oldest_and_per_destination(make_source, make_destination, token_client, settings):
    settings.DLQ_ALERT_THRESHOLD = 2
    billing, crm = make_destination("billing"), make_destination("crm")
    source = make_source("stripe", "stripe", destinations=[billing, crm])
    client = token_client("read")
    assert client.get("/health/dlq").json() == {
        "status": "ok", "depth": 0, "threshold": 2, "oldest_open_at": None, "by_destination": {},
    }
    first = make_dlq_item(source, billing)
    make_dlq_item(source, billing)
    make_dlq_item(source, crm)
    body = client.get("/health/dlq").json()
    assert (body["status"], body["depth"], body["by_destination"]) == ("degraded", 3, {"billing": 2, "crm": 1})
    assert body["oldest_open_at"].startswith(first.created_at.isoformat()[:19])


def test_dlq_health_needs_staff_or_a_read_token(client, support_user):
    anonymous = client.get("/health/dlq")
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == "application/problem+json"
    client.force_login(support_user)
    assert client.get("/health/dlq").status_code == 200

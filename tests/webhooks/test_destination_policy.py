"""Destinations and the outbound address policy (issue #8 item 2): refused at create and update
by the services' validator, so the API answers 400 naming ``url`` and the admin shows a form
error; error excerpts and payloads are kept from principals without ``dlq:write``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from reliability.webhooks.models import WebhookDestination
from reliability.webhooks.services.config import webhook_destination_create, webhook_destination_update
from tests.webhooks.conftest import SYSTEM

pytestmark = pytest.mark.django_db

DESTINATIONS = "/api/v1/webhooks/destinations/"
PROBLEM = "application/problem+json"

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/hook", "private"),
    ("http://[::1]:6379/", "loopback"),
    ("http://user:pw@127.0.0.1/hook", "user-info"),
]


@pytest.fixture
def strict(settings):
    """Staging's policy with nothing allow-listed (the test settings allow-list loopback)."""
    settings.OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = False
    settings.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = []
    return settings


@pytest.fixture
def ops(user_client, operator):
    return user_client(operator)


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def _no_config_writes() -> bool:
    return not AuditEntry.objects.filter(action__startswith="webhooks.destination").exclude(source="test").exists()


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_service_refuses_at_create(strict, url, why):
    with pytest.raises(ValidationError) as caught:
        webhook_destination_create(name="x", url=url, actor=SYSTEM, source="test")
    assert list(caught.value.message_dict) == ["url"]
    message = caught.value.message_dict["url"][0]
    assert "outbound address policy" in message and why in message and "pw" not in message
    assert not WebhookDestination.objects.exists()


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_api_refuses_at_create_with_a_400_naming_url(strict, ops, url, why):
    response = ops.post(DESTINATIONS, {"name": "x", "url": url}, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    errors = response.json()["errors"]
    assert list(errors) == ["url"] and why in errors["url"][0] and "pw" not in errors["url"][0]
    assert not WebhookDestination.objects.exists() and _no_config_writes()


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_api_refuses_at_update(strict, ops, make_destination, url, why):
    destination = make_destination("billing", url="https://billing.example/h")
    for method in (ops.patch, ops.put):
        response = method(f"{DESTINATIONS}{destination.pk}/", {"name": "billing", "url": url}, format="json")
        assert response.status_code == 400, response.content
        assert list(response.json()["errors"]) == ["url"] and why in response.json()["errors"]["url"][0]
    destination.refresh_from_db()
    assert destination.url == "https://billing.example/h" and _no_config_writes()


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_admin_shows_a_form_error_at_create_and_update(strict, admin_client, make_destination, url, why):
    form = {"name": "billing", "url": url, "timeout_seconds": "10", "enabled": "on", "disabled_reason": "",
            "new_signing_secret": "", "event_types_text": ""}
    added = admin_client.post("/admin/webhooks/webhookdestination/add/", form)
    assert added.status_code == 200  # the form again, with the error on the url field
    assert why in str(added.context["adminform"].form.errors["url"])
    assert not WebhookDestination.objects.exists()

    destination = make_destination("crm", url="https://crm.example/h")
    changed = admin_client.post(f"/admin/webhooks/webhookdestination/{destination.pk}/change/", {**form, "name": "crm"})
    assert changed.status_code == 200
    assert why in str(changed.context["adminform"].form.errors["url"])
    destination.refresh_from_db()
    assert destination.url == "https://crm.example/h" and _no_config_writes()


def test_loopback_is_fine_when_allow_listed_and_an_unchanged_url_is_not_re_judged(settings, make_destination):
    destination = make_destination("local", url="http://[::1]:8025/hook")  # test settings allow-list ::1
    settings.OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = False
    settings.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = []
    # Editing something else keeps working; the transport still refuses it at connect time.
    webhook_destination_update(destination_id=destination.pk, actor=SYSTEM, source="test", timeout_seconds=3)
    with pytest.raises(ValidationError, match="loopback"):
        webhook_destination_update(destination_id=destination.pk, actor=SYSTEM, source="test",
                                   url="http://127.0.0.2:8025/hook")


def test_an_unresolvable_name_is_accepted_and_left_to_connect_time(strict, make_destination):
    assert make_destination("later", url="https://not-resolvable.invalid/hook").pk


# --- error excerpts and payloads over the DLQ API ----------------------------------------------

DLQ = "/api/v1/dlq/"
EXCERPT = "HTTP 500: redis_version:7.2.4 (what the far side said)"


@pytest.fixture
def dead(make_source, make_destination):
    from tests.webhooks.dlq_helpers import make_dlq_item

    source = make_source("stripe", "stripe", destinations=[make_destination("billing")])
    return make_dlq_item(source, source.destinations.get(), event_type="charge.failed", error=EXCERPT)


def test_a_plain_read_token_sees_neither_error_excerpts_nor_payloads(token_client, dead):
    reader = token_client("read")
    [row] = reader.get(DLQ).json()["results"]
    assert row["id"] == dead.pk and row["event_type"] == "charge.failed"
    assert row["error_message"] is None
    detail = reader.get(f"{DLQ}{dead.pk}/").json()
    assert detail["error_message"] is None and detail["payload"] is None
    # Nor can it read the excerpt back through the filter, a substring at a time.
    probe = reader.get(DLQ, {"error_contains": "redis_version"})
    assert probe.status_code == 403 and "dlq:write" in probe.json()["detail"]


@pytest.mark.parametrize("scopes", [("read", "dlq:write"), ("admin",)])
def test_tokens_that_may_act_on_the_queue_see_them(token_client, dead, scopes):
    api = token_client(*scopes)
    assert api.get(DLQ).json()["results"][0]["error_message"] == EXCERPT
    detail = api.get(f"{DLQ}{dead.pk}/").json()
    assert detail["error_message"] == EXCERPT and "charge.failed" in detail["payload"]
    assert [r["id"] for r in api.get(DLQ, {"error_contains": "redis_version"}).json()["results"]] == [dead.pk]


def test_operators_see_them(user_client, operator, dead):
    api = user_client(operator)
    assert api.get(DLQ).json()["results"][0]["error_message"] == EXCERPT
    assert api.get(f"{DLQ}{dead.pk}/").json()["error_message"] == EXCERPT


# --- no inline styles left for the Content-Security-Policy to allow -----------------------------


def test_dlq_panel_and_webhook_admin_pages_need_no_inline_style(admin_client, dead):
    page = admin_client.get("/ops/")
    policy = page["Content-Security-Policy"]
    assert "style-src 'self';" in policy and "sha256-" not in policy and "unsafe-inline" not in policy
    fragment = admin_client.get("/ops/panels/dlq/").content.decode()
    assert f'data-dlq-id="{dead.pk}"' in fragment and "<style" not in fragment and "style=" not in fragment
    event_id = dead.delivery.event_id
    for url in (f"/admin/webhooks/webhookfailure/{dead.pk}/change/", f"/admin/webhooks/webhookevent/{event_id}/change/"):
        html = admin_client.get(url).content.decode()
        assert '<pre class="ops-preformatted">' in html and "charge.failed" in html, url
        assert "white-space:pre-wrap" not in html, url

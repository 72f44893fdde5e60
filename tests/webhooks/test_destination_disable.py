"""One disable service for the API, the admin and the 410 path; admin forms validate without writing."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.webhooks.models import WebhookDestination, WebhookSource
from tests.webhooks.helpers import STANDARD_SECRET

pytestmark = pytest.mark.django_db

DESTINATIONS = "/api/v1/webhooks/destinations/"


@pytest.fixture
def ops(user_client, operator):
    return user_client(operator)


def test_api_disable_is_one_audit_entry_and_one_event_and_idempotent(ops, make_destination):
    destination = make_destination("billing")
    response = ops.post(f"{DESTINATIONS}{destination.pk}/disable/", {"reason": "receiver migrating"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False and response.json()["disabled_reason"] == "receiver migrating"
    entry = AuditEntry.objects.get(action="webhooks.destination.disable")
    assert (entry.source, entry.reason, entry.changes["enabled"]) == ("api", "receiver migrating", [True, False])
    event = OutboxEvent.objects.get(type="webhook.destination_disabled")
    assert event.data == {"name": "billing", "reason": "receiver migrating"}

    again = ops.post(f"{DESTINATIONS}{destination.pk}/disable/", {"reason": "twice"}, format="json")
    assert again.status_code == 200 and again.json()["disabled_reason"] == "receiver migrating"
    assert AuditEntry.objects.filter(action="webhooks.destination.disable").count() == 1


def test_api_disable_needs_a_reason(ops, make_destination):
    destination = make_destination("billing")
    response = ops.post(f"{DESTINATIONS}{destination.pk}/disable/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    destination.refresh_from_db()
    assert destination.enabled is True


def test_admin_disable_action_calls_the_same_service(client, operator, make_destination):
    client.force_login(operator)
    a, b = make_destination("a"), make_destination("b")
    url = "/admin/webhooks/webhookdestination/"
    page = client.post(url, {"action": "disable_selected", "_selected_action": [a.pk, b.pk]})
    assert page.status_code == 200 and "give a reason" in page.content.decode()
    assert not AuditEntry.objects.filter(action="webhooks.destination.disable").exists()
    response = client.post(url, {"action": "disable_selected", "_selected_action": [a.pk, b.pk], "apply": "1",
                                 "reason": "maintenance window"})
    assert response.status_code == 302
    assert set(WebhookDestination.objects.values_list("enabled", "disabled_reason")) == {(False, "maintenance window")}
    entries = AuditEntry.objects.filter(action="webhooks.destination.disable")
    assert entries.count() == 2 and {e.source for e in entries} == {"admin"}
    assert OutboxEvent.objects.filter(type="webhook.destination_disabled").count() == 2


def _admin_form(model, operator, data, obj=None):
    request = RequestFactory().post("/")
    request.user = operator
    admin = site._registry[model]
    return admin.get_form(request, obj, change=obj is not None)(data=data, instance=obj)


def test_a_valid_admin_source_form_writes_nothing_until_save_model(operator, make_destination):
    destination = make_destination("billing")
    before = AuditEntry.objects.count(), OutboxEvent.objects.count()
    form = _admin_form(WebhookSource, operator, {
        "slug": "acme", "description": "", "scheme": "standard", "enabled": "on", "new_secrets": STANDARD_SECRET,
        "tolerance_seconds": "300", "max_body_bytes": "1048576", "hmac_header": "X-Signature", "hmac_event_id_header": "",
        "retry_strategy": "default-schedule", "retry_max_attempts": "8", "retry_base_seconds": "5",
        "retry_max_seconds": "36000", "route_destinations": [destination.pk],
    })
    assert form.is_valid(), form.errors
    assert not WebhookSource.objects.exists()
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count()) == before


def test_a_valid_admin_destination_form_writes_nothing_and_an_invalid_one_names_the_field(operator, make_destination):
    destination = make_destination("billing")
    data = {"name": "billing-2", "url": "https://billing.example/h", "timeout_seconds": "10", "enabled": "on",
            "disabled_reason": "", "new_signing_secret": "", "event_types_text": "incident.*"}
    before = AuditEntry.objects.count()
    form = _admin_form(WebhookDestination, operator, data, obj=destination)
    assert form.is_valid(), form.errors
    destination.refresh_from_db()
    assert destination.name == "billing" and AuditEntry.objects.count() == before

    bad = _admin_form(WebhookDestination, operator, {**data, "event_types_text": "incident opened"}, obj=destination)
    assert not bad.is_valid() and "event_types_text" in bad.errors

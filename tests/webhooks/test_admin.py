"""Admin: saves go through the services; secrets are write-only; traffic is read-only."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from reliability.webhooks.models import WebhookDestination, WebhookSource
from tests.webhooks.helpers import STANDARD_SECRET, STANDARD_SECRET_NEW, post, standard_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def source_form(**overrides) -> dict:
    data = {
        "slug": "acme", "description": "", "scheme": "standard", "enabled": "on", "new_secrets": STANDARD_SECRET,
        "tolerance_seconds": "300", "max_body_bytes": "1048576", "hmac_header": "X-Signature", "hmac_event_id_header": "",
        "retry_strategy": "default-schedule", "retry_max_attempts": "8", "retry_base_seconds": "5", "retry_max_seconds": "36000",
    }
    data.update(overrides)
    return data


def test_operator_creates_a_source_in_the_admin_through_the_service(admin_client, operator, make_destination):
    destination = make_destination("billing")
    response = admin_client.post("/admin/webhooks/webhooksource/add/", source_form(route_destinations=[destination.pk]))
    assert response.status_code == 302, response.content.decode()[:3000]
    source = WebhookSource.objects.get()
    assert source.secrets == [STANDARD_SECRET] and list(source.destinations.all()) == [destination]
    entry = AuditEntry.objects.get(action="webhooks.source.create")
    assert (entry.source, entry.actor_user_id) == ("admin", operator.pk)
    assert entry.changes["secrets"] == [None, "<redacted: 1 secret>"]


def test_admin_never_renders_a_stored_secret_and_blank_keeps_it(admin_client, make_source):
    source = make_source("acme")
    page = admin_client.get(f"/admin/webhooks/webhooksource/{source.pk}/change/").content.decode()
    assert STANDARD_SECRET not in page and STANDARD_SECRET.removeprefix("whsec_") not in page
    assert "1 active" in page
    response = admin_client.post(f"/admin/webhooks/webhooksource/{source.pk}/change/", source_form(new_secrets="", tolerance_seconds="600"))
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.secrets == [STANDARD_SECRET] and source.tolerance_seconds == 600
    assert AuditEntry.objects.get(action="webhooks.source.update", source="admin").changes == {"tolerance_seconds": [300, 600]}


def test_admin_rotation_applies_to_ingestion(admin_client, client, make_source, django_capture_on_commit_callbacks):
    source = make_source("acme")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin/webhooks/webhooksource/{source.pk}/change/", source_form(new_secrets=f"{STANDARD_SECRET_NEW}\n{STANDARD_SECRET}"))
    body = b'{"type":"x"}'
    assert post(client, "acme", body, standard_headers(body, secret=STANDARD_SECRET_NEW)).status_code == 202


def test_service_validation_errors_show_on_the_admin_form(admin_client):
    response = admin_client.post("/admin/webhooks/webhooksource/add/", source_form(new_secrets="whsec_nope"))
    assert response.status_code == 200  # re-rendered with errors
    assert "not a Standard Webhooks secret" in response.content.decode()
    assert WebhookSource.objects.count() == 0 and not AuditEntry.objects.filter(action__startswith="webhooks.").exists()


def test_destination_created_in_admin_shows_its_secret_once(admin_client):
    response = admin_client.post(
        "/admin/webhooks/webhookdestination/add/",
        {"name": "billing", "url": "https://billing.example/h", "timeout_seconds": "10", "enabled": "on", "disabled_reason": "",
         "new_signing_secret": "", "event_types_text": "incident.*, dlq.added"},
    )
    assert response.status_code == 302
    destination = WebhookDestination.objects.get()
    assert destination.event_types == ["incident.*", "dlq.added"]
    assert destination.signing_secret in admin_client.get(response["Location"]).content.decode()  # once
    page = admin_client.get(f"/admin/webhooks/webhookdestination/{destination.pk}/change/").content.decode()
    assert destination.signing_secret not in page
    assert AuditEntry.objects.get(action="webhooks.destination.create").source == "admin"


def test_routed_destination_delete_in_admin_is_refused(admin_client, make_source, make_destination):
    destination = make_destination("routed")
    make_source("acme", destinations=[destination])
    response = admin_client.post(f"/admin/webhooks/webhookdestination/{destination.pk}/delete/", {"post": "yes"}, follow=True)
    assert WebhookDestination.objects.filter(pk=destination.pk).exists()
    # Django's own PROTECT check answers before the service is reached.
    assert "protected related objects" in response.content.decode()
    assert not AuditEntry.objects.filter(action="webhooks.destination.delete").exists()


def test_traffic_pages_are_read_only_and_render(admin_client, client, make_source, make_destination):
    make_source("acme", destinations=[make_destination()])
    body = b'{"type":"invoice.paid"}'
    event_id = post(client, "acme", body, standard_headers(body)).json()["id"]
    post(client, "acme", body, {**standard_headers(body), "webhook-signature": "v1,AAAA"})  # a rejection sample
    for url in ("/admin/webhooks/webhookevent/", f"/admin/webhooks/webhookevent/{event_id}/change/",
                "/admin/webhooks/delivery/", "/admin/webhooks/webhookrejection/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    page = admin_client.get(f"/admin/webhooks/webhookevent/{event_id}/change/").content.decode()
    assert "invoice.paid" in page and 'name="_save"' not in page
    assert admin_client.get("/admin/webhooks/webhookevent/add/").status_code == 403


def test_support_cannot_open_webhook_admin(client, support_user, make_source):
    make_source("acme")
    client.force_login(support_user)
    assert client.get("/admin/webhooks/webhooksource/").status_code == 403



def test_delivery_attempts_show_and_filter_the_chaos_flag(admin_client, client, make_source, make_destination):
    from django.utils import timezone

    from reliability.webhooks.models import Delivery, DeliveryAttempt

    make_source("acme", destinations=[make_destination("orders")])
    body = b'{"type":"invoice.paid"}'
    post(client, "acme", body, standard_headers(body))
    delivery = Delivery.objects.get()
    now = timezone.now()
    DeliveryAttempt.objects.bulk_create([
        DeliveryAttempt(delivery=delivery, at=now, result="http_error", status_code=503, error="drill-made", chaos=True),
        DeliveryAttempt(delivery=delivery, at=now, result="http_error", status_code=502, error="real-outage"),
    ])
    page = admin_client.get("/admin/webhooks/deliveryattempt/").content.decode()
    assert "column-chaos" in page and "?chaos__exact=1" in page and "2 delivery attempts" in page
    only_drills = admin_client.get("/admin/webhooks/deliveryattempt/?chaos__exact=1").content.decode()
    assert "1 delivery attempt" in only_drills and "2 delivery attempts" not in only_drills
    inline = admin_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "drill-made" in inline and "field-chaos" in inline

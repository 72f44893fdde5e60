"""Configuration as code: /api/v1/webhooks/sources/ and /api/v1/webhooks/destinations/."""

from __future__ import annotations

import json

import pytest
from auditlog.models import LogEntry

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.webhooks.models import WebhookDestination, WebhookRoute, WebhookSource
from tests.webhooks.helpers import STANDARD_SECRET, STANDARD_SECRET_NEW, STRIPE_SECRET

pytestmark = pytest.mark.django_db

DESTINATIONS = "/api/v1/webhooks/destinations/"
SOURCES = "/api/v1/webhooks/sources/"
MY_SIGNING_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # 24 bytes


@pytest.fixture
def ops(user_client, operator):
    return user_client(operator)


def everything_stored_about(text: str) -> bool:
    """Is ``text`` anywhere in the audit trail, the auditlog diffs or the outbox?"""
    haystack = json.dumps(
        [list(AuditEntry.objects.values("changes", "target_repr")), list(OutboxEvent.objects.values("data")),
         list(LogEntry.objects.values("changes"))],
        default=str,
    )
    return text in haystack


# --- destinations -----------------------------------------------------------------------------------


def test_destination_create_generates_a_secret_shown_only_in_the_create_response(ops, operator):
    response = ops.post(DESTINATIONS, {"name": "billing", "url": "https://billing.internal/hooks", "timeout_seconds": 5}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["signing_secret"]
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 32  # base64 of 24 bytes
    assert body["name"] == "billing" and body["enabled"] is True and body["timeout_seconds"] == 5
    assert body["breaker_name"] == f"webhook-destination-{body['id']}"
    destination = WebhookDestination.objects.get()
    assert destination.signing_secret == secret
    # Afterwards: write-only.
    assert "signing_secret" not in ops.get(f"{DESTINATIONS}{body['id']}/").json()
    assert all("signing_secret" not in d for d in ops.get(DESTINATIONS).json()["results"])
    # One audit entry and one event, neither revealing the secret.
    entry = AuditEntry.objects.get(action="webhooks.destination.create")
    assert (entry.actor_user_id, entry.source, entry.target_id) == (operator.pk, "api", str(destination.pk))
    assert entry.changes["signing_secret"] == [None, "<redacted>"] and entry.changes["name"] == [None, "billing"]
    assert OutboxEvent.objects.filter(type="webhook.destination_created", aggregate_id=str(destination.pk)).count() == 1
    assert not everything_stored_about(secret)


def test_destination_create_with_a_given_secret_and_update_keeps_it_hidden(ops):
    created = ops.post(DESTINATIONS, {"name": "b", "url": "https://b.example/h", "signing_secret": MY_SIGNING_SECRET}, format="json")
    assert created.json()["signing_secret"] == MY_SIGNING_SECRET
    pk = created.json()["id"]

    rotated = "whsec_" + "WllZWFhYV1dXVlZWVVVVVFRUU1NTUlJS"
    response = ops.patch(f"{DESTINATIONS}{pk}/", {"signing_secret": rotated}, format="json")

    assert response.status_code == 200 and "signing_secret" not in response.json()
    assert WebhookDestination.objects.get().signing_secret == rotated
    entry = AuditEntry.objects.get(action="webhooks.destination.update")
    assert entry.changes == {"signing_secret": ["<redacted>", "<redacted>"]}
    assert not everything_stored_about(rotated) and not everything_stored_about(MY_SIGNING_SECRET)


def test_destination_disable_records_reason_and_time_enable_clears_them(ops, make_destination):
    destination = make_destination("billing")
    response = ops.patch(f"{DESTINATIONS}{destination.pk}/", {"enabled": False, "disabled_reason": "maintenance"}, format="json")
    assert response.status_code == 200
    assert response.json()["disabled_reason"] == "maintenance" and response.json()["disabled_at"]
    response = ops.patch(f"{DESTINATIONS}{destination.pk}/", {"enabled": True}, format="json")
    assert response.json()["disabled_reason"] == "" and response.json()["disabled_at"] is None
    assert OutboxEvent.objects.filter(type="webhook.destination_updated").count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "url": "ftp://files.example/"}, "url"),
        ({"name": "x", "url": "not a url"}, "url"),
        ({"name": "x", "url": "https://x.example/", "signing_secret": "plain"}, "signing_secret"),
        ({"name": "x", "url": "https://x.example/", "timeout_seconds": 0}, "timeout_seconds"),
        ({"name": "x", "url": "https://x.example/", "event_types": ["incident opened"]}, "event_types"),
        ({"url": "https://x.example/"}, "name"),
    ],
)
def test_destination_validation_errors_name_the_field(ops, payload, field):
    response = ops.post(DESTINATIONS, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in body["errors"], body
    assert WebhookDestination.objects.count() == 0 and AuditEntry.objects.filter(action__startswith="webhooks.").count() == 0


def test_destination_duplicate_name_is_a_field_error(ops, make_destination):
    make_destination("billing")
    response = ops.post(DESTINATIONS, {"name": "billing", "url": "https://x.example/"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_destination_delete_unused_ok_routed_is_409(ops, make_destination, make_source):
    unused, routed = make_destination("unused"), make_destination("routed")
    make_source("acme", destinations=[routed])
    assert ops.delete(f"{DESTINATIONS}{unused.pk}/").status_code == 204
    entry = AuditEntry.objects.get(action="webhooks.destination.delete")
    assert entry.target_id == str(unused.pk) and entry.changes["signing_secret"] == ["<redacted>", None]
    response = ops.delete(f"{DESTINATIONS}{routed.pk}/")
    assert response.status_code == 409 and "disable" in response.json()["detail"]
    assert WebhookDestination.objects.filter(pk=routed.pk).exists()


def test_destination_subscriptions_for_outbound_events(ops):
    response = ops.post(DESTINATIONS, {"name": "pager", "url": "https://p.example/", "event_types": ["incident.*", "dlq.added"]}, format="json")
    assert response.status_code == 201
    assert WebhookDestination.objects.get().event_types == ["incident.*", "dlq.added"]


# --- sources -------------------------------------------------------------------------------------------


def test_source_create_with_design_field_names(ops, make_destination, operator):
    d1, d2 = make_destination("one"), make_destination("two")
    payload = {"slug": "stripe-live", "scheme": "stripe", "secrets": [STRIPE_SECRET], "tolerance_seconds": 300, "destinations": [d1.pk, d2.pk]}

    response = ops.post(SOURCES, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "secrets" not in body and body["secret_count"] == 1
    assert body["destinations"] == sorted([d1.pk, d2.pk])
    assert body["routes"] == [{"destination": d, "event_types": []} for d in sorted([d1.pk, d2.pk])]
    assert body["ingest_url"] == "/api/v1/webhooks/in/stripe-live/"
    assert (body["tolerance_seconds"], body["max_body_bytes"], body["retry_strategy"]) == (300, 1048576, "default-schedule")
    source = WebhookSource.objects.get()
    assert source.secrets == [STRIPE_SECRET]
    entry = AuditEntry.objects.get(action="webhooks.source.create")
    assert entry.actor_user_id == operator.pk
    assert entry.changes["secrets"] == [None, "<redacted: 1 secret>"]
    assert entry.changes["routes"][1] == [{"destination": d, "event_types": []} for d in sorted([d1.pk, d2.pk])]
    event = OutboxEvent.objects.get(type="webhook.source_created")
    assert event.data == {"slug": "stripe-live", "scheme": "stripe", "enabled": True, "destinations": sorted([d1.pk, d2.pk])}
    assert not everything_stored_about(STRIPE_SECRET)
    # Secrets are never readable, not even to the operator who wrote them.
    detail = ops.get(f"{SOURCES}stripe-live/").json()
    assert "secrets" not in detail and STRIPE_SECRET not in json.dumps(ops.get(SOURCES).json())


def test_source_rotation_by_patch_is_audited_redacted(ops, make_source):
    make_source("acme")
    response = ops.patch(f"{SOURCES}acme/", {"secrets": [STANDARD_SECRET_NEW, STANDARD_SECRET]}, format="json")
    assert response.status_code == 200 and response.json()["secret_count"] == 2
    assert WebhookSource.objects.get().secrets == [STANDARD_SECRET_NEW, STANDARD_SECRET]
    entry = AuditEntry.objects.get(action="webhooks.source.update")
    assert entry.changes == {"secrets": ["<redacted: 1 secret>", "<redacted: 2 secrets>"]}
    event = OutboxEvent.objects.get(type="webhook.source_updated")
    assert event.data["changes"] == entry.changes
    assert not everything_stored_about(STANDARD_SECRET_NEW)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "a", "scheme": "standard", "secrets": ["whsec_tooshort"]}, "secrets"),
        ({"slug": "a", "scheme": "standard", "secrets": ["not-whsec-at-all-xxxxxxxx"]}, "secrets"),
        ({"slug": "a", "scheme": "standard"}, "secrets"),
        ({"slug": "a", "scheme": "standard", "secrets": []}, "secrets"),
        ({"slug": "a", "scheme": "standard", "secrets": ["x"] * 6}, "secrets"),
        ({"slug": "a", "scheme": "carrier-pigeon", "secrets": [STANDARD_SECRET]}, "scheme"),
        ({"slug": "not a slug", "scheme": "standard", "secrets": [STANDARD_SECRET]}, "slug"),
        ({"slug": "a", "scheme": "standard", "secrets": [STANDARD_SECRET], "tolerance_seconds": 0}, "tolerance_seconds"),
        ({"slug": "a", "scheme": "standard", "secrets": [STANDARD_SECRET], "destinations": [999999]}, "destinations"),
        ({"slug": "a", "scheme": "standard", "secrets": [STANDARD_SECRET], "max_body_bytes": 50 * 1024 * 1024}, "max_body_bytes"),
        ({"slug": "a", "scheme": "hmac", "secrets": ["long-enough"], "hmac_header": "Bad Header"}, "hmac_header"),
        ({"slug": "a", "scheme": "standard", "secrets": [STANDARD_SECRET], "retry_strategy": "yolo"}, "retry_strategy"),
    ],
)
def test_source_validation_errors_name_the_field(ops, payload, field):
    response = ops.post(SOURCES, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert WebhookSource.objects.count() == 0


def test_source_duplicate_slug_is_a_field_error(ops, make_source):
    make_source("acme")
    response = ops.post(SOURCES, {"slug": "acme", "scheme": "standard", "secrets": [STANDARD_SECRET]}, format="json")
    assert response.status_code == 400 and "slug" in response.json()["errors"]


def test_scheme_change_that_invalidates_stored_secrets_is_refused_on_secrets(ops, make_source):
    make_source("acme")  # a standard whsec_ secret is not a valid GitHub secret? it is; Stripe needs whsec_ too
    response = ops.patch(f"{SOURCES}acme/", {"scheme": "github"}, format="json")
    assert response.status_code == 200  # whsec_… is a fine GitHub secret
    make_source("gh", "github")
    response = ops.patch(f"{SOURCES}gh/", {"scheme": "standard"}, format="json")
    assert response.status_code == 400 and "secrets" in response.json()["errors"]
    assert WebhookSource.objects.get(slug="gh").scheme == "github"


def test_routes_with_event_type_filters_and_destinations_keep_filters(ops, make_source, make_destination):
    a, b, c = make_destination("a"), make_destination("b"), make_destination("c")
    make_source("acme")
    response = ops.patch(f"{SOURCES}acme/", {"routes": [{"destination": a.pk, "event_types": ["charge.*"]}, {"destination": b.pk}]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["routes"] == [{"destination": a.pk, "event_types": ["charge.*"]}, {"destination": b.pk, "event_types": []}]
    # Setting plain destinations keeps a's filter, drops b, adds c unfiltered.
    response = ops.patch(f"{SOURCES}acme/", {"destinations": [a.pk, c.pk]}, format="json")
    assert response.json()["routes"] == [{"destination": a.pk, "event_types": ["charge.*"]}, {"destination": c.pk, "event_types": []}]
    assert set(WebhookRoute.objects.values_list("destination_id", flat=True)) == {a.pk, c.pk}
    assert AuditEntry.objects.filter(action="webhooks.source.update").count() == 2


def test_noop_update_writes_nothing(ops, make_source):
    make_source("acme", tolerance_seconds=300)
    before = (AuditEntry.objects.count(), OutboxEvent.objects.count())
    assert ops.patch(f"{SOURCES}acme/", {"tolerance_seconds": 300}, format="json").status_code == 200
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count()) == before


def test_source_delete_unused_ok_with_events_is_409(ops, make_source, client):
    from tests.webhooks.helpers import post, standard_headers

    make_source("unused")
    make_source("used")
    body = b'{"type":"x"}'
    assert post(client, "used", body, standard_headers(body)).status_code == 202
    assert ops.delete(f"{SOURCES}unused/").status_code == 204
    assert AuditEntry.objects.filter(action="webhooks.source.delete", target_id__isnull=False).count() == 1
    response = ops.delete(f"{SOURCES}used/")
    assert response.status_code == 409 and "disable it" in response.json()["detail"]


def test_source_list_query_count_does_not_grow_with_sources(ops, make_source, make_destination, django_assert_max_num_queries):
    destination = make_destination()
    for i in range(8):
        make_source(f"s{i}", destinations=[destination])
    with django_assert_max_num_queries(8):
        response = ops.get(SOURCES)
    assert len(response.json()["results"]) == 8


# --- permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SOURCES, DESTINATIONS])
def test_reads_need_operator_or_webhooks_admin(url, user_client, support_user, auditor, token_client, api_client):
    assert user_client(support_user).get(url).status_code == 403
    assert user_client(auditor).get(url).status_code == 403
    assert token_client("read").get(url).status_code == 403
    assert api_client.get(url).status_code in (401, 403)
    assert token_client("webhooks:admin").get(url).status_code == 200
    assert token_client("admin").get(url).status_code == 200


def test_token_with_webhooks_admin_creates_and_the_audit_names_the_token(token_client):
    client = token_client("webhooks:admin", service="terraform")
    response = client.post(DESTINATIONS, {"name": "tf", "url": "https://tf.example/"}, format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="webhooks.destination.create")
    assert entry.actor_kind == "token" and entry.actor_label.startswith("token:terraform/")


def test_writes_refused_for_support(user_client, support_user):
    response = user_client(support_user).post(DESTINATIONS, {"name": "x", "url": "https://x.example/"}, format="json")
    assert response.status_code == 403
    assert WebhookDestination.objects.count() == 0


def test_auditlog_diffs_cover_config_models_without_their_secrets(ops, make_destination):
    from auditlog.registry import auditlog

    assert auditlog.contains(WebhookSource) and auditlog.contains(WebhookDestination)
    destination = make_destination("billing")
    ops.post(SOURCES, {"slug": "acme", "scheme": "standard", "secrets": [STANDARD_SECRET], "destinations": [destination.pk]}, format="json")
    source = WebhookSource.objects.get()
    entries = LogEntry.objects.filter(object_pk__in=[str(source.pk), str(destination.pk)])
    diffed = {field for e in entries for field in (e.changes_dict if hasattr(e, "changes_dict") else e.changes or {})}
    assert "slug" in diffed and "name" in diffed
    assert not {"secrets", "signing_secret"} & diffed
    assert not everything_stored_about(STANDARD_SECRET) and not everything_stored_about(destination.signing_secret)

"""Issue #8, findings 5-7: what a scheme does not sign cannot replay, route or leak.

- a captured GitHub (or header-id HMAC) body re-posted with a fresh delivery id is a duplicate
  (200) within WEBHOOK_BODY_DEDUPE_SECONDS, and a new event after it;
- GitHub's unsigned X-GitHub-Event never chooses destinations (filters refused, ignored);
- a GitHub body that is not JSON is refused 400 like the other schemes;
- auth.*, token.* and audit.* portal events are not subscribable and never delivered outbound.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from opsportal.events.groups import domain_for
from opsportal.events.services import emit
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookRoute, WebhookSource
from reliability.webhooks.selectors.config import source_cache_clear
from reliability.webhooks.services.config import UNSUBSCRIBABLE_SEGMENTS
from tests.webhooks.helpers import github_headers, hmac_headers, post

pytestmark = pytest.mark.django_db

PUSH = json.dumps({"ref": "refs/heads/main", "after": "4f1c0a", "repository": {"full_name": "acme/shop"}}).encode()


@pytest.fixture
def ops(user_client, operator):
    return user_client(operator)


def test_a_replayed_github_body_with_a_fresh_delivery_id_is_a_duplicate(client, make_source, make_destination, time_machine):
    time_machine.move_to("2026-03-02T09:00:00Z", tick=False)
    make_source("gh", "github", destinations=[make_destination("crm")])
    first = post(client, "gh", PUSH, github_headers(PUSH, delivery="d-1"))
    assert first.status_code == 202
    replay = post(client, "gh", PUSH, github_headers(PUSH, delivery="d-2-forged"))
    assert replay.status_code == 200 and replay.json() == {"id": first.json()["id"], "duplicate": True}
    assert WebhookEvent.objects.count() == 1 and Delivery.objects.count() == 1

    other = PUSH.replace(b"4f1c0a", b"9e2d77")  # a different push is a new event
    assert post(client, "gh", other, github_headers(other, delivery="d-3")).status_code == 202

    time_machine.move_to(timezone.now() + timedelta(days=1, seconds=1), tick=False)  # past the window
    assert post(client, "gh", PUSH, github_headers(PUSH, delivery="d-4")).status_code == 202


def test_the_body_dedupe_window_is_a_setting(client, make_source, settings):
    settings.WEBHOOK_BODY_DEDUPE_SECONDS = 0  # off: only the delivery id dedupes
    make_source("gh", "github")
    assert post(client, "gh", PUSH, github_headers(PUSH, delivery="d-1")).status_code == 202
    assert post(client, "gh", PUSH, github_headers(PUSH, delivery="d-2")).status_code == 202


def test_a_replayed_hmac_body_with_a_fresh_header_id_is_a_duplicate(client, make_source):
    make_source("acme", "hmac", hmac_header="X-Acme-Signature", hmac_event_id_header="X-Acme-Delivery")
    body = b'{"kind":"order.paid","order":42}'
    headers = hmac_headers(body, header="X-Acme-Signature")
    assert post(client, "acme", body, {**headers, "X-Acme-Delivery": "a-1"}).status_code == 202
    assert post(client, "acme", body, {**headers, "X-Acme-Delivery": "a-2"}).status_code == 200


def test_signed_id_schemes_still_accept_identical_bodies_under_new_ids(client, make_source):
    make_source("plain", "hmac")  # the event id is the signed body's "id": no body-hash dedupe needed
    body = b'{"id":"o-1","type":"order.paid"}'
    assert post(client, "plain", body, hmac_headers(body)).status_code == 202
    assert post(client, "plain", body, hmac_headers(body)).status_code == 200  # same signed id
    assert WebhookEvent.objects.get().body_sha256 is None


def test_a_forged_github_event_type_never_passes_a_route_filter(client, make_source, make_destination):
    everything, pushes_only = make_destination("everything"), make_destination("pushes-only")
    source = make_source("gh", "github", destinations=[everything])
    # A filtered route as older versions could create it: it must not be chosen by the unsigned header.
    WebhookRoute.objects.create(source=source, destination=pushes_only, event_types=["push"])
    source_cache_clear()
    accepted = post(client, "gh", PUSH, github_headers(PUSH, event="push"))
    assert accepted.status_code == 202
    assert list(Delivery.objects.values_list("destination__name", flat=True)) == ["everything"]


def test_github_routes_with_event_type_filters_are_refused(ops, make_destination):
    crm = make_destination("crm")
    response = ops.post("/api/v1/webhooks/sources/", {
        "slug": "gh", "scheme": "github", "secrets": ["a-github-secret"],
        "routes": [{"destination": crm.pk, "event_types": ["push"]}],
    }, format="json")
    assert response.status_code == 400 and "routes" in response.json()["errors"]
    assert not WebhookSource.objects.exists()


def test_a_github_body_that_is_not_json_is_refused_400(client, make_source):
    make_source("gh", "github")
    body = b"{not json"
    response = post(client, "gh", body, github_headers(body))
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert WebhookEvent.objects.count() == 0


def test_a_form_encoded_github_payload_is_decoded_and_checked_the_same_way(client, make_source):
    make_source("gh", "github")
    good = b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%7D"
    assert post(client, "gh", good, github_headers(good), "application/x-www-form-urlencoded").status_code == 202
    bad = b"payload=%7Bnot+json"
    assert post(client, "gh", bad, github_headers(bad), "application/x-www-form-urlencoded").status_code == 400


@pytest.mark.parametrize("pattern", ["audit.*", "auth.login_failed", "token.*", "a*", "auth*.x"])
def test_subscriptions_to_auditor_only_events_are_refused_naming_the_field(ops, pattern):
    response = ops.post("/api/v1/webhooks/destinations/", {
        "name": "leak", "url": "https://collector.example/hook", "event_types": ["incident.*", pattern],
    }, format="json")
    assert response.status_code == 400, response.content
    assert "event_types" in response.json()["errors"]


def test_a_firehose_subscriber_never_receives_auditor_only_events(make_destination, django_capture_on_commit_callbacks):
    make_destination("firehose", event_types=["*"])
    for event_type in ("auth.login_failed", "token.issued", "audit.exported", "incident.opened"):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            emit(event_type, ("catalog.service", "1"), {"username": "olivia"})
    assert list(WebhookEvent.objects.filter(direction="outbound").values_list("event_type", flat=True)) == ["incident.opened"]


def test_the_unsubscribable_segments_are_the_audit_domain():
    assert all(domain_for(f"{segment}.anything") == "audit" for segment in UNSUBSCRIBABLE_SEGMENTS)


def test_the_orm_ingest_path_dedupes_the_body_the_same_way(make_source):
    from reliability.webhooks.selectors.config import source_config_load
    from reliability.webhooks.services.ingest import webhook_event_ingest
    from reliability.webhooks.signatures import VerifiedWebhook

    make_source("gh", "github")
    config = source_config_load("gh")
    assert config.id_signed is False and config.type_signed is False
    first = webhook_event_ingest(config=config, verified=VerifiedWebhook("d-1", "push"), headers={}, body=PUSH, portable=True)
    again = webhook_event_ingest(config=config, verified=VerifiedWebhook("d-2", "push"), headers={}, body=PUSH, portable=True)
    assert (first.duplicate, again.duplicate, again.event_id) == (False, True, first.event_id)

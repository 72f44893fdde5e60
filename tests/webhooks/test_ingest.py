"""POST /api/v1/webhooks/in/<slug>/ through the whole Django stack."""

from __future__ import annotations

import io
import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookRejection, WebhookRoute
from reliability.webhooks.selectors.config import source_for_ingest
from reliability.webhooks.services.config import RouteSpec, webhook_source_update
from reliability.webhooks.services.ingest import webhook_event_ingest
from reliability.webhooks.signatures import VerifiedWebhook
from reliability.webhooks.views import ingest as views
from tests.webhooks.conftest import SYSTEM
from tests.webhooks.helpers import (
    STANDARD_SECRET,
    github_headers,
    hmac_headers,
    metric,
    post,
    signed,
    standard_headers,
    stripe_body,
    stripe_headers,
)

pytestmark = pytest.mark.django_db

BODY = json.dumps({"type": "invoice.paid", "data": {"amount": 10}}).encode()


def problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_accepted_webhook_is_stored_with_one_delivery_per_destination(client, make_source, make_destination):
    a, b = make_destination("billing"), make_destination("ledger")
    make_source("acme", destinations=[a, b])
    audits, events = AuditEntry.objects.count(), OutboxEvent.objects.count()
    before = metric("acme", "accepted")
    headers = {**standard_headers(BODY, msg_id="msg_1"), "Authorization": "Bearer x", "Cookie": "sessionid=abc", "X-Request-ID": "req-1"}

    response = post(client, "acme", BODY, headers)

    assert response.status_code == 202, response.content
    event = WebhookEvent.objects.get()
    assert response.json() == {"id": event.pk}
    assert (event.source.slug, event.provider_event_id, event.event_type) == ("acme", "msg_1", "invoice.paid")
    assert bytes(event.body) == BODY
    # A safe subset of headers: ids and timestamps yes; signatures, credentials, cookies never.
    assert event.headers["Webhook-Id"] == "msg_1" and event.headers["X-Request-ID"] == "req-1"
    assert event.headers["Content-Type"] == "application/json"
    lowered = {k.lower() for k in event.headers}
    assert not lowered & {"authorization", "cookie", "webhook-signature"}
    deliveries = Delivery.objects.filter(event=event).order_by("destination__name")
    assert [(d.destination.name, d.status, d.attempts) for d in deliveries] == [("billing", "pending", 0), ("ledger", "pending", 0)]
    assert all(d.next_attempt_at == event.received_at for d in deliveries)
    # Ingestion is not an operator action: no audit entry, no outbox event.
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count()) == (audits, events)
    assert metric("acme", "accepted") == before + 1


@pytest.mark.parametrize("scheme", ["standard", "stripe", "github", "hmac"])
def test_every_scheme_accepts_its_signed_requests_and_dedupes(client, make_source, make_destination, scheme):
    make_source(f"s-{scheme}", scheme, destinations=[make_destination()])
    body = stripe_body("evt_same")
    headers = signed(scheme, body, **({"delivery": "gh-1"} if scheme == "github" else {}))

    first = post(client, f"s-{scheme}", body, headers)
    again = post(client, f"s-{scheme}", body, headers)

    assert first.status_code == 202, first.content
    assert again.status_code == 200 and again.json() == {"id": first.json()["id"], "duplicate": True}
    assert WebhookEvent.objects.count() == 1 and Delivery.objects.count() == 1


def test_duplicate_answers_the_original_id_counts_and_creates_no_deliveries(client, make_source, make_destination):
    make_source("acme", "stripe", destinations=[make_destination()])
    body = stripe_body("evt_dup")
    first = post(client, "acme", body, stripe_headers(body))
    before = metric("acme", "duplicate")
    # The provider retries later: a fresh signature and timestamp, same event id.
    second = post(client, "acme", body, stripe_headers(body, timestamp=None))
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert metric("acme", "duplicate") == before + 1
    assert Delivery.objects.count() == 1


def test_routes_filter_by_event_type(client, make_source, make_destination):
    charges, everything = make_destination("charges"), make_destination("everything")
    make_source("acme", "stripe", routes=[RouteSpec(charges.pk, ("charge.*",)), RouteSpec(everything.pk)])
    for event_id, event_type in [("evt_a", "charge.refunded"), ("evt_b", "payment_intent.succeeded")]:
        body = stripe_body(event_id, event_type)
        assert post(client, "acme", body, stripe_headers(body)).status_code == 202
    got = sorted(Delivery.objects.values_list("event__provider_event_id", "destination__name"))
    assert got == [("evt_a", "charges"), ("evt_a", "everything"), ("evt_b", "everything")]


def test_source_without_destinations_still_stores_the_event(client, make_source):
    make_source("lonely")
    assert post(client, "lonely", BODY, standard_headers(BODY)).status_code == 202
    assert WebhookEvent.objects.count() == 1 and Delivery.objects.count() == 0


# --- rejections --------------------------------------------------------------------------------


def test_bad_signature_is_401_stores_nothing_but_a_sampled_rejection(client, make_source, make_destination):
    make_source("acme", destinations=[make_destination()])
    before = metric("acme", "bad_signature")
    forged = standard_headers(BODY, secret="whsec_" + "A" * 32)

    responses = [post(client, "acme", BODY, {**forged, "X-Real-IP": ip}) for ip in ("203.0.113.9", "not-an-ip", "203.0.113.9")]

    assert [r.status_code for r in responses] == [401, 401, 401]
    body = problem(responses[0])
    assert body["status"] == 401 and "signature" in body["detail"]
    assert WebhookEvent.objects.count() == 0 and Delivery.objects.count() == 0
    assert metric("acme", "bad_signature") == before + 3
    sample = WebhookRejection.objects.get()  # one per source, reason and minute
    assert (sample.reason, sample.remote_ip, sample.body_bytes) == ("bad_signature", "203.0.113.9", len(BODY))
    assert "webhook-signature" in sample.header_names


def test_rejection_samples_are_one_per_minute_across_processes(client, make_source, time_machine):
    from reliability.webhooks.services.ingest import _rejection_memo_clear as rejection_memo_clear

    make_source("acme")
    time_machine.move_to("2026-01-01T10:00:05Z", tick=False)
    forged = {**standard_headers(BODY, timestamp=1767261605), "webhook-signature": "v1,AAAA"}
    post(client, "acme", BODY, forged)
    rejection_memo_clear()  # as if a second process saw the next one
    post(client, "acme", BODY, forged)
    assert WebhookRejection.objects.count() == 1
    time_machine.move_to("2026-01-01T10:01:01Z", tick=False)
    post(client, "acme", BODY, forged)
    assert WebhookRejection.objects.count() == 2


@pytest.mark.parametrize("offset", [-400, 400])
def test_stale_or_future_timestamp_is_401_stale(client, make_source, offset):
    import time

    make_source("acme")
    before = metric("acme", "stale")
    response = post(client, "acme", BODY, standard_headers(BODY, timestamp=time.time() + offset))
    assert response.status_code == 401
    assert "tolerance" in problem(response)["detail"]
    assert metric("acme", "stale") == before + 1
    assert WebhookEvent.objects.count() == 0
    assert WebhookRejection.objects.get().reason == "stale"


def test_tolerance_is_per_source(client, make_source):
    import time

    make_source("lenient", tolerance_seconds=3600)
    assert post(client, "lenient", BODY, standard_headers(BODY, timestamp=time.time() - 1800)).status_code == 202


@pytest.mark.parametrize(
    ("headers", "body", "detail"),
    [
        ({}, BODY, "missing header"),
        ({"webhook-id": "m1", "webhook-timestamp": "yesterday", "webhook-signature": "v1,AAAA"}, BODY, "timestamp"),
        (None, b"not json at all", "JSON"),
        (None, b"[1, 2, 3]", "JSON object"),
    ],
)
def test_malformed_requests_are_400(client, make_source, headers, body, detail):
    make_source("acme")
    before = metric("acme", "malformed")
    response = post(client, "acme", body, standard_headers(body) if headers is None else headers)
    assert response.status_code == 400
    assert detail in problem(response)["detail"]
    assert metric("acme", "malformed") == before + 1
    assert WebhookEvent.objects.count() == 0


def test_stripe_event_without_id_is_400(client, make_source):
    make_source("acme", "stripe")
    body = json.dumps({"type": "charge.refunded"}).encode()
    assert post(client, "acme", body, stripe_headers(body)).status_code == 400


def test_nul_bytes_in_ids_or_types_are_400_not_a_database_error(client, make_source):
    make_source("acme", "stripe")
    body = json.dumps({"id": "evt_\u0000x", "type": "charge.refunded"}).encode()
    assert post(client, "acme", body, stripe_headers(body)).status_code == 400
    body = json.dumps({"id": "evt_1", "type": "charge.\u0000"}).encode()
    assert post(client, "acme", body, stripe_headers(body)).status_code == 400


def test_hmac_source_with_configured_headers(client, make_source):
    make_source("acme", "hmac", hmac_header="X-Acme-Signature", hmac_event_id_header="X-Acme-Delivery")
    body = b"form=encoded&payload=1"
    headers = {**hmac_headers(body, header="X-Acme-Signature"), "X-Acme-Delivery": "d-77"}
    response = post(client, "acme", body, headers, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.provider_event_id == "d-77" and event.headers["X-Acme-Delivery"] == "d-77"


def test_github_push_keeps_its_delivery_headers(client, make_source):
    make_source("gh", "github")
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    response = post(client, "gh", body, github_headers(body, delivery="d6a1c5f0-0000-11ee-8000-000000000001", event="push"))
    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.event_type == "push" and event.headers["X-GitHub-Delivery"] == event.provider_event_id


# --- size, source, method ---------------------------------------------------------------------------


def test_over_the_declared_size_limit_is_413_before_reading(client, make_source):
    make_source("small", max_body_bytes=100)
    body = json.dumps({"type": "x", "pad": "y" * 200}).encode()
    before = metric("small", "too_large")
    response = post(client, "small", body, standard_headers(body))
    assert response.status_code == 413
    assert "100 bytes" in problem(response)["detail"]
    assert metric("small", "too_large") == before + 1
    assert WebhookEvent.objects.count() == 0


def test_over_the_size_limit_without_content_length_is_413_after_reading(make_source):
    # A body streamed without Content-Length (chunked through a proxy, ASGI).
    make_source("small", max_body_bytes=100)
    body = json.dumps({"type": "x", "pad": "y" * 200}).encode()
    request = RequestFactory().post("/api/v1/webhooks/in/small/", data=body, content_type="application/json", headers=standard_headers(body))
    del request.META["CONTENT_LENGTH"]
    request._stream = io.BytesIO(body)
    response = views.ingest(request, "small")
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_exactly_at_the_size_limit_is_accepted(client, make_source):
    body = json.dumps({"type": "x", "pad": ""}).encode()
    body = json.dumps({"type": "x", "pad": "y" * (300 - len(body))}).encode()
    assert len(body) == 300
    make_source("small", max_body_bytes=300)
    assert post(client, "small", body, standard_headers(body)).status_code == 202


def test_unknown_source_is_404_and_counted_without_the_callers_slug(client, db):
    before = metric("-", "unknown_source")
    response = post(client, "no-such-source", BODY, standard_headers(BODY))
    assert response.status_code == 404
    assert problem(response)["status"] == 404
    assert metric("-", "unknown_source") == before + 1
    assert metric("no-such-source", "unknown_source") == 0


def test_disabled_source_is_404_like_unknown(client, make_source):
    source = make_source("paused")
    webhook_source_update(source_id=source.pk, enabled=False, actor=SYSTEM, source="test")
    response = post(client, "paused", BODY, standard_headers(BODY))
    assert response.status_code == 404
    assert WebhookEvent.objects.count() == 0


def test_get_is_405(client, make_source):
    make_source("acme")
    response = client.get("/api/v1/webhooks/in/acme/")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_no_csrf_token_or_session_needed(make_source):
    from django.test import Client

    make_source("acme")
    csrf_client = Client(enforce_csrf_checks=True)
    assert post(csrf_client, "acme", BODY, standard_headers(BODY)).status_code == 202


def test_database_outage_is_503_with_retry_after_never_a_false_202(client, make_source, monkeypatch):
    make_source("acme")

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(views, "webhook_event_ingest", down)
    response = post(client, "acme", BODY, standard_headers(BODY))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert problem(response)["status"] == 503


# --- cache and config changes ------------------------------------------------------------------------


def test_secret_rotation_through_the_service_applies_on_commit(client, make_source, django_capture_on_commit_callbacks):
    from tests.webhooks.helpers import STANDARD_SECRET_NEW

    source = make_source("acme")
    assert post(client, "acme", BODY, standard_headers(BODY, secret=STANDARD_SECRET_NEW)).status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        webhook_source_update(source_id=source.pk, secrets=[STANDARD_SECRET_NEW, STANDARD_SECRET], actor=SYSTEM, source="test")
    assert post(client, "acme", BODY, standard_headers(BODY, secret=STANDARD_SECRET_NEW)).status_code == 202
    assert post(client, "acme", BODY, standard_headers(BODY, secret=STANDARD_SECRET)).status_code == 202
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        webhook_source_update(source_id=source.pk, secrets=[STANDARD_SECRET_NEW], actor=SYSTEM, source="test")
    # Not committed yet: this process keeps the old (still committed) secrets.
    assert post(client, "acme", BODY, standard_headers(BODY, secret=STANDARD_SECRET)).status_code == 202
    for callback in callbacks:
        callback()
    assert post(client, "acme", BODY, standard_headers(BODY, secret=STANDARD_SECRET)).status_code == 401


def test_source_lookup_is_cached(client, make_source, django_assert_num_queries):
    make_source("acme")
    post(client, "acme", BODY, standard_headers(BODY))  # warms the cache
    body = json.dumps({"type": "again"}).encode()
    headers = standard_headers(body)
    with django_assert_num_queries(1):  # the single ingest statement, nothing else
        assert post(client, "acme", body, headers).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_a_destination_removed_by_another_process_within_the_cache_ttl(client, make_source, make_destination):
    kept, gone = make_destination("kept"), make_destination("gone")
    make_source("acme", destinations=[kept, gone])
    assert source_for_ingest("acme").destination_ids_for("x") == sorted([kept.pk, gone.pk])  # cached
    # Another process removes the route and deletes the destination; this cache is stale.
    WebhookRoute.objects.filter(destination=gone).delete()
    gone.delete()
    response = post(client, "acme", BODY, standard_headers(BODY))
    assert response.status_code == 202
    assert list(Delivery.objects.values_list("destination__name", flat=True)) == ["kept"]


# --- the two storage paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("portable", [False, True])
def test_ingest_paths_store_once_and_answer_the_original(make_source, make_destination, portable):
    make_source("acme", destinations=[make_destination(), make_destination()])
    config = source_for_ingest("acme")
    verified = VerifiedWebhook(provider_event_id="evt_1", event_type="t")
    first = webhook_event_ingest(config=config, verified=verified, headers={"Content-Type": "application/json"}, body=b"{}", portable=portable)
    second = webhook_event_ingest(config=config, verified=verified, headers={}, body=b"{}", portable=portable)
    assert (first.duplicate, first.deliveries) == (False, 2)
    assert (second.duplicate, second.event_id, second.deliveries) == (True, first.event_id, 0)
    event = WebhookEvent.objects.get()
    assert event.headers == {"Content-Type": "application/json"} and event.direction == "inbound"
    assert Delivery.objects.filter(event=event, status="pending").count() == 2


def test_idempotency_key_cannot_be_pre_claimed_on_the_ingest_endpoint(client, make_source):
    from opsportal.api.models import IdempotencyKey

    make_source("acme", "stripe")
    # Someone posts garbage with the key a provider will use later…
    assert post(client, "acme", b"garbage", {"Idempotency-Key": "k-1"}).status_code == 400
    # …the provider's real, signed event with that key is still judged on its own.
    body = stripe_body("evt_real")
    response = post(client, "acme", body, {**stripe_headers(body), "Idempotency-Key": "k-1"})
    assert response.status_code == 202 and not response.has_header("Idempotent-Replayed")
    assert IdempotencyKey.objects.count() == 0


# --- the prepared ingest statement, the dead connection -------------------------------------------


def _prepared_ingest_statements() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%INSERT INTO webhooks_webhookevent%"])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_ingest_statement_runs_prepared_unless_switched_off(client, make_source, make_destination, settings, enabled):
    from django.db import connection

    settings.DATABASE_PREPARED_STATEMENTS = enabled
    make_source("acme", destinations=[make_destination()])
    for n in range(3):
        body = json.dumps({"n": n}).encode()
        assert post(client, "acme", body, standard_headers(body)).status_code == 202
    assert len(_prepared_ingest_statements()) == (1 if enabled else 0)  # one plan, reused
    # Every other query keeps Django's default (no prepared statements, for poolers).
    assert connection.connection.prepare_threshold is None
    assert WebhookEvent.objects.count() == Delivery.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_dead_persistent_connection_is_replaced_and_the_webhook_stored_once(client, make_source, make_destination):
    """Ingest skips Django's per-request SELECT 1; a connection killed under it costs a reconnect, not a 5xx."""
    import psycopg
    from django.db import connection

    make_source("acme", destinations=[make_destination()])
    assert post(client, "acme", BODY, standard_headers(BODY, msg_id="msg_warm")).status_code == 202
    victim = connection.connection.info.backend_pid
    with psycopg.connect(_dsn(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [victim]).fetchone()[0]
    response = post(client, "acme", BODY, standard_headers(BODY, msg_id="msg_after_kill"))
    assert response.status_code == 202, response.content
    assert connection.connection.info.backend_pid != victim
    assert WebhookEvent.objects.filter(provider_event_id="msg_after_kill").count() == 1
    assert Delivery.objects.filter(event__provider_event_id="msg_after_kill").count() == 1


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return " ".join(f"{k}={params[k]}" for k in ("host", "port", "user", "dbname") if params.get(k))


def test_ingest_latency_is_observed_for_every_answer(client, make_source):
    from prometheus_client import REGISTRY

    def count():
        return REGISTRY.get_sample_value("webhook_ingest_duration_seconds_count") or 0.0

    make_source("acme")
    before = count()
    assert post(client, "acme", BODY, standard_headers(BODY)).status_code == 202
    assert post(client, "acme", BODY, {"webhook-id": "x"}).status_code in (400, 401)
    assert count() == before + 2

"""Property tests: any input to the ingest endpoint gets 2xx/4xx, never 5xx; unsigned input is never stored."""

from __future__ import annotations

import base64
import json
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reliability.webhooks.models import WebhookEvent
from tests.webhooks.helpers import SECRETS, post, signed

pytestmark = pytest.mark.django_db

SCHEMES = ["standard", "stripe", "github", "hmac"]
KNOWN_HEADERS = [
    "webhook-id", "webhook-timestamp", "webhook-signature", "Stripe-Signature", "X-Hub-Signature-256",
    "X-GitHub-Delivery", "X-GitHub-Event", "X-Signature", "Content-Type", "Content-Encoding", "X-Real-IP",
]
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

hexes = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=70)
b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
timestamps = st.one_of(
    # Near "now" when the test runs, not when the module was imported (collection may be minutes earlier).
    st.deferred(lambda: st.integers(min_value=int(time.time()) - 1000, max_value=int(time.time()) + 1000)).map(str),
    st.integers().map(str),
    st.text(max_size=15),
)
header_values = st.one_of(
    st.text(max_size=120),
    timestamps,
    st.builds(lambda t, h: f"t={t},v1={h}", timestamps, hexes),
    st.builds(lambda v, s: f"{v},{s}", st.sampled_from(["v1", "v1a", "v2", ""]), b64),
    hexes.map(lambda h: f"sha256={h}"),
    hexes,
)
header_names = st.one_of(st.sampled_from(KNOWN_HEADERS), st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,24}", fullmatch=True))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"id": json_values, "type": json_values}).map(lambda v: json.dumps(v).encode()),
    st.just(b"[" * 5000 + b"]" * 5000),
)


@pytest.fixture
def every_scheme(make_source, make_destination):
    destination = make_destination()
    for scheme in SCHEMES:
        make_source(f"p-{scheme}", scheme, destinations=[destination], max_body_bytes=4096)


@pytest.mark.parametrize("scheme", SCHEMES)
@PROPERTY_SETTINGS
@given(headers=st.dictionaries(header_names, header_values, max_size=8), body=bodies)
def test_unsigned_random_requests_are_4xx_and_store_nothing(client, every_scheme, scheme, headers, body):
    response = post(client, f"p-{scheme}", body, headers, content_type=headers.get("Content-Type", "application/json"))
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert WebhookEvent.objects.count() == 0


provider_ids = st.one_of(st.text(min_size=0, max_size=300), st.integers().map(str), st.just("evt_ok"))
# Bodies shaped like provider events (id, type) as well as anything at all.
signed_bodies = st.one_of(
    bodies,
    st.builds(
        lambda i, t, x: json.dumps({"id": i, "type": t, "data": x}).encode(),
        st.one_of(provider_ids, st.integers()), st.one_of(st.text(max_size=40), json_values), json_values,
    ),
)


@pytest.mark.parametrize("scheme", SCHEMES)
@PROPERTY_SETTINGS
@given(body=signed_bodies, event_id=provider_ids, event_type=st.text(max_size=40))
def test_correctly_signed_random_requests_are_2xx_or_400_and_stored_only_when_2xx(client, every_scheme, scheme, body, event_id, event_type):
    kwargs = {}
    if scheme == "standard":
        kwargs = {"msg_id": event_id or "x"}
    elif scheme == "github":
        kwargs = {"delivery": event_id or "x", "event": event_type or "push"}
    try:
        headers = signed(scheme, body, **kwargs)
    except (UnicodeDecodeError, UnicodeEncodeError):
        return  # the official signers only sign text bodies
    if any(not v.isprintable() for v in headers.values()):
        return  # not sendable as an HTTP header
    # What a WSGI server hands Django: the header bytes (UTF-8 here) decoded as latin-1.
    headers = {k: v.encode().decode("latin-1") for k, v in headers.items()}
    before = WebhookEvent.objects.count()
    response = post(client, f"p-{scheme}", body, headers)
    assert response.status_code in (200, 202, 400, 413), (response.status_code, response.content)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: accepted ones do occur
    stored = WebhookEvent.objects.count() - before
    assert stored == (1 if response.status_code == 202 else 0)
    if response.status_code == 202:
        assert bytes(WebhookEvent.objects.get(pk=response.json()["id"]).body) == body


def test_secrets_are_what_the_property_tests_sign_with():
    # Guards the test itself: the signed property must really exercise accepted requests.
    assert set(SECRETS) == set(SCHEMES)

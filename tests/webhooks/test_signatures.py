"""Signature schemes against vectors made by the providers' own libraries.

No database: reliability.webhooks.signatures is pure.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import stripe
import time_machine

from reliability.webhooks.signatures import (
    BadSignature,
    Malformed,
    Stale,
    decode_standard_secret,
    generate_standard_secret,
    sign_github,
    sign_hmac,
    sign_standard,
    sign_stripe,
    signing_keys,
    validate_secret,
    verify,
)
from tests.webhooks.helpers import (
    GITHUB_SECRET,
    HMAC_SECRET,
    STANDARD_SECRET,
    STANDARD_SECRET_NEW,
    STRIPE_SECRET,
    github_headers,
    standard_headers,
    stripe_body,
    stripe_headers,
)

# A fixed instant, far from the real clock on purpose. Every test runs with the clock frozen there
# (``frozen_clock`` below), so the provider libraries -- which read time.time()/datetime.now()
# themselves when they sign or verify -- and our verify(now=NOW) agree on "now" however long the
# suite takes between collection and this test. Were the libraries on the real clock, every
# tolerance check here would fail, so a leak of the real clock is caught, not hidden.
NOW = float(datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp())
BODY = json.dumps({"type": "invoice.paid", "data": {"id": 42}}).encode()


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_the_clock_is_frozen_for_the_libraries_too():
    assert time.time() == NOW
    assert datetime.now(tz=UTC).timestamp() == NOW


def check(scheme, headers, body, secrets, *, now=NOW, tolerance=300, **kwargs):
    return verify(scheme, headers, body, keys=signing_keys(scheme, secrets), now=now, tolerance=tolerance, **kwargs)


# --- Standard Webhooks ------------------------------------------------------------------------


def test_standard_accepts_a_signature_made_by_the_standardwebhooks_library():
    headers = standard_headers(BODY, msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    verified = check("standard", headers, BODY, [STANDARD_SECRET])
    assert verified.provider_event_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    assert verified.event_type == "invoice.paid"


def test_standard_library_verifies_what_we_sign():
    # The other direction (our outbound signature, checked by the official verifier).
    ts = int(NOW)
    header = sign_standard(STANDARD_SECRET, msg_id="evt_1", timestamp=ts, body=BODY)
    payload = standardwebhooks.Webhook(STANDARD_SECRET).verify(
        BODY, {"webhook-id": "evt_1", "webhook-timestamp": str(ts), "webhook-signature": header}
    )
    assert payload == json.loads(BODY)


def test_standard_accepts_any_of_several_signatures_in_the_header():
    headers = standard_headers(BODY)
    headers["webhook-signature"] = "v1,AAAA v2,whatever " + headers["webhook-signature"]
    assert check("standard", headers, BODY, [STANDARD_SECRET]).event_type == "invoice.paid"


def test_standard_rotation_accepts_old_and_new_secret_while_both_are_active():
    old = standard_headers(BODY, secret=STANDARD_SECRET)
    new = standard_headers(BODY, secret=STANDARD_SECRET_NEW)
    both = [STANDARD_SECRET_NEW, STANDARD_SECRET]
    assert check("standard", old, BODY, both)
    assert check("standard", new, BODY, both)
    with pytest.raises(BadSignature):  # after the rotation completes, the old one is refused
        check("standard", old, BODY, [STANDARD_SECRET_NEW])


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_standard_refuses_timestamps_outside_the_tolerance_either_way(offset):
    headers = standard_headers(BODY, timestamp=NOW + offset)
    with pytest.raises(Stale):
        check("standard", headers, BODY, [STANDARD_SECRET])


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_standard_accepts_timestamps_inside_the_tolerance(offset):
    assert check("standard", standard_headers(BODY, timestamp=NOW + offset), BODY, [STANDARD_SECRET])


def test_standard_tampered_body_or_id_is_a_bad_signature():
    headers = standard_headers(BODY)
    with pytest.raises(BadSignature):
        check("standard", headers, BODY + b" ", [STANDARD_SECRET])
    with pytest.raises(BadSignature):
        check("standard", {**headers, "webhook-id": "msg_other"}, BODY, [STANDARD_SECRET])


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_missing_header_is_malformed(missing):
    headers = standard_headers(BODY)
    del headers[missing]
    with pytest.raises(Malformed, match=missing):
        check("standard", headers, BODY, [STANDARD_SECRET])


def test_standard_signed_body_that_is_not_json_is_malformed_after_the_signature_check():
    body = b"not json"
    with pytest.raises(Malformed, match="JSON"):
        check("standard", standard_headers(body), body, [STANDARD_SECRET])
    # Unsigned garbage is a 401, not a 400: a forger learns nothing about the body rules.
    with pytest.raises(BadSignature):
        check("standard", standard_headers(b"{}"), body, [STANDARD_SECRET])


def test_standard_headers_are_case_insensitive():
    headers = {k.title(): v for k, v in standard_headers(BODY).items()}
    assert check("standard", headers, BODY, [STANDARD_SECRET])


# --- Stripe -----------------------------------------------------------------------------------------


def test_stripe_accepts_the_header_stripe_python_generates():
    body = stripe_body("evt_1NG8Du2eZvKYlo2CUI79vXWy", "charge.refunded")
    headers = stripe_headers(body)
    # The vector is genuine: stripe-python's own verifier accepts it.
    assert stripe.WebhookSignature.verify_header(body.decode(), headers["Stripe-Signature"], STRIPE_SECRET, 300)
    verified = check("stripe", headers, body, [STRIPE_SECRET])
    assert (verified.provider_event_id, verified.event_type) == ("evt_1NG8Du2eZvKYlo2CUI79vXWy", "charge.refunded")


def test_stripe_python_verifies_what_we_sign():
    body = stripe_body()
    header = sign_stripe(STRIPE_SECRET, timestamp=int(NOW), body=body)
    assert stripe.WebhookSignature.verify_header(body.decode(), header, STRIPE_SECRET, 300)


def test_stripe_accepts_any_v1_entry_during_stripe_side_rotation():
    body = stripe_body()
    header = stripe_headers(body)["Stripe-Signature"]
    t, v1 = header.split(",")
    rolled = f"{t},v1={'0' * 64},{v1},v0=ignored"
    assert check("stripe", {"Stripe-Signature": rolled}, body, [STRIPE_SECRET])


def test_stripe_rotation_on_our_side():
    body = stripe_body()
    new_secret = "whsec_rotated_secret_value_9876543210"
    headers = stripe_headers(body, secret=new_secret)
    assert check("stripe", headers, body, [new_secret, STRIPE_SECRET])
    with pytest.raises(BadSignature):
        check("stripe", headers, body, [STRIPE_SECRET])


@pytest.mark.parametrize("offset", [-301, 301])
def test_stripe_refuses_timestamps_outside_300_seconds_either_way(offset):
    body = stripe_body()
    headers = stripe_headers(body, timestamp=int(NOW + offset))
    with pytest.raises(Stale):
        check("stripe", headers, body, [STRIPE_SECRET])


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=notanumber,v1=abc", "t=1,t=2,v1=abc"],
)
def test_stripe_unparseable_header_is_malformed(header):
    body = stripe_body()
    with pytest.raises(Malformed):
        check("stripe", {"Stripe-Signature": header} if header else {}, body, [STRIPE_SECRET])


def test_stripe_signed_body_without_id_or_type_is_malformed():
    body = json.dumps({"type": "charge.refunded"}).encode()
    with pytest.raises(Malformed, match="'id'"):
        check("stripe", stripe_headers(body), body, [STRIPE_SECRET])
    body = json.dumps({"id": "evt_1"}).encode()
    with pytest.raises(Malformed, match="'type'"):
        check("stripe", stripe_headers(body), body, [STRIPE_SECRET])


# --- GitHub -----------------------------------------------------------------------------------------


def test_github_documented_example():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign_github(GITHUB_SECRET, body=b"Hello, World!") == f"sha256={expected}"
    headers = {"X-Hub-Signature-256": f"sha256={expected}", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "push"}
    # The signature matches (no BadSignature), but GitHub sends JSON: a plain-text body is malformed (#8, finding 6).
    with pytest.raises(Malformed, match="JSON object"):
        check("github", headers, b"Hello, World!", [GITHUB_SECRET])
    body = b'{"zen":"Hello, World!"}'
    headers["X-Hub-Signature-256"] = sign_github(GITHUB_SECRET, body=body)
    verified = check("github", headers, body, [GITHUB_SECRET])
    assert (verified.provider_event_id, verified.event_type) == ("72d3162e-cc78-11e3-81ab-4c9367dc0958", "push")


def test_github_wrong_secret_or_missing_prefix_is_a_bad_signature():
    body = b'{"ref":"refs/heads/main"}'
    headers = github_headers(body)
    with pytest.raises(BadSignature):
        check("github", headers, body, ["another secret entirely"])
    bare = {**headers, "X-Hub-Signature-256": headers["X-Hub-Signature-256"].removeprefix("sha256=")}
    with pytest.raises(BadSignature):
        check("github", bare, body, [GITHUB_SECRET])


@pytest.mark.parametrize("missing", ["X-Hub-Signature-256", "X-GitHub-Delivery", "X-GitHub-Event"])
def test_github_missing_header_is_malformed(missing):
    body = b"{}"
    headers = github_headers(body)
    del headers[missing]
    with pytest.raises(Malformed):
        check("github", headers, body, [GITHUB_SECRET])


def test_github_has_no_timestamp_so_no_staleness():
    body = b"{}"
    assert check("github", github_headers(body), body, [GITHUB_SECRET], now=NOW + 10 * 365 * 86400)


# --- generic HMAC -----------------------------------------------------------------------------------


def test_hmac_event_id_from_the_body_and_optional_sha256_prefix():
    body = json.dumps({"id": 12345, "type": "order.created"}).encode()
    for value in (sign_hmac(HMAC_SECRET, body=body), "sha256=" + sign_hmac(HMAC_SECRET, body=body)):
        verified = check("hmac", {"X-Signature": value}, body, [HMAC_SECRET])
        assert (verified.provider_event_id, verified.event_type) == ("12345", "order.created")


def test_hmac_event_id_from_a_configured_header_body_needs_no_json():
    body = b"plain text payload"
    headers = {"X-Acme-Signature": sign_hmac(HMAC_SECRET, body=body), "X-Acme-Id": "a-1"}
    verified = check("hmac", headers, body, [HMAC_SECRET], hmac_header="X-Acme-Signature", hmac_event_id_header="X-Acme-Id")
    assert (verified.provider_event_id, verified.event_type) == ("a-1", "")
    with pytest.raises(Malformed):
        check("hmac", {"X-Acme-Signature": headers["X-Acme-Signature"]}, body, [HMAC_SECRET],
              hmac_header="X-Acme-Signature", hmac_event_id_header="X-Acme-Id")


def test_hmac_rotation_and_bad_signature():
    body = json.dumps({"id": "e1"}).encode()
    headers = {"X-Signature": sign_hmac("the-new-secret-1", body=body)}
    assert check("hmac", headers, body, ["the-new-secret-1", HMAC_SECRET])
    with pytest.raises(BadSignature):
        check("hmac", headers, body, [HMAC_SECRET])


def test_hmac_signed_body_without_id_is_malformed():
    body = json.dumps({"type": "x"}).encode()
    with pytest.raises(Malformed):
        check("hmac", {"X-Signature": sign_hmac(HMAC_SECRET, body=body)}, body, [HMAC_SECRET])


# --- secrets ------------------------------------------------------------------------------------------


def test_generated_standard_secret_is_24_random_bytes_and_usable_by_the_library():
    secret = generate_standard_secret()
    assert secret.startswith("whsec_") and len(decode_standard_secret(secret)) == 24
    assert secret != generate_standard_secret()
    standardwebhooks.Webhook(secret)  # the official library accepts it


@pytest.mark.parametrize(
    ("scheme", "secret", "ok"),
    [
        ("standard", STANDARD_SECRET, True),
        ("standard", "whsec_" + base64.b64encode(b"short").decode(), False),
        ("standard", "not-whsec", False),
        ("standard", "whsec_***notbase64***", False),
        ("stripe", STRIPE_SECRET, True),
        ("stripe", "sk_live_oops", False),
        ("github", GITHUB_SECRET, True),
        ("github", "short", False),
        ("hmac", " padded-secret ", False),
        ("hmac", HMAC_SECRET, True),
    ],
)
def test_validate_secret(scheme, secret, ok):
    assert (validate_secret(scheme, secret) is None) is ok


def test_deeply_nested_json_is_malformed_not_a_crash():
    body = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(Malformed):
        check("standard", standard_headers(body), body, [STANDARD_SECRET])


def test_no_secrets_means_nothing_verifies():
    with pytest.raises(BadSignature):
        check("standard", standard_headers(BODY), BODY, [])


def test_the_standard_timestamp_is_whole_seconds():
    headers = standard_headers(BODY)
    headers["webhook-timestamp"] = f"{datetime.now(tz=UTC).timestamp()}"  # fractional
    with pytest.raises(Malformed):
        check("standard", headers, BODY, [STANDARD_SECRET])

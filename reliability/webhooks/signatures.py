"""Signature verification for the four source schemes (DESIGN §7.2).

Pure functions over (headers, body, keys, clock): no Django, no database, so
they are cheap per request and testable against the providers' own libraries.

* ``standard`` — Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` (space-separated ``v1,<base64>``), HMAC-SHA256 of
  ``id.timestamp.body`` keyed with the base64-decoded ``whsec_…`` secret.
* ``stripe`` — ``Stripe-Signature: t=…,v1=…[,v1=…]``, hex HMAC-SHA256 of
  ``t.body`` keyed with the secret string as given (``whsec_…`` included).
* ``github`` — ``X-Hub-Signature-256: sha256=<hex>`` over the body; the
  event id is ``X-GitHub-Delivery``, the type ``X-GitHub-Event``.
* ``hmac`` — a configured header with the hex HMAC-SHA256 of the body
  (``sha256=`` prefix optional); the event id from a configured header or
  the body's ``id``.

Every active secret is tried (rotation); every comparison is
``hmac.compare_digest``. Order: required headers (400) → signature (401
``bad_signature``) → timestamp within tolerance either way (401 ``stale``)
→ body and ids (400). Checking the signature before the clock means
``stale`` only ever describes an authentic but old (or early) message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets as _secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_SECRET_MIN_BYTES = 24  # Standard Webhooks spec: 24–64 random bytes
STANDARD_SECRET_MAX_BYTES = 64
MAX_SIGNATURES_CHECKED = 10  # a header listing thousands of candidates is not worth the CPU
MAX_EVENT_ID_LENGTH = 255
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")


class Rejection(Exception):
    """Why a request is refused; ``result`` is the metric label."""

    status = 400
    result = "malformed"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Malformed(Rejection):
    status = 400
    result = "malformed"


class BadSignature(Rejection):
    status = 401
    result = "bad_signature"


class Stale(Rejection):
    status = 401
    result = "stale"


@dataclass(frozen=True)
class VerifiedWebhook:
    provider_event_id: str
    event_type: str


# --- secrets -------------------------------------------------------------------------


def decode_standard_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError when it is not one."""
    if not isinstance(secret, str) or not secret.startswith(STANDARD_SECRET_PREFIX):
        raise ValueError("must start with 'whsec_'")
    encoded = secret[len(STANDARD_SECRET_PREFIX):]
    try:
        # Like the standardwebhooks library: tolerate missing padding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the part after 'whsec_' must be base64") from exc
    if not STANDARD_SECRET_MIN_BYTES <= len(key) <= STANDARD_SECRET_MAX_BYTES:
        raise ValueError(
            f"must decode to {STANDARD_SECRET_MIN_BYTES}–{STANDARD_SECRET_MAX_BYTES} bytes, not {len(key)}"
        )
    return key


def generate_standard_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes (what Svix and the spec generate)."""
    return STANDARD_SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def validate_secret(scheme: str, secret: object) -> str | None:
    """An error message when ``secret`` cannot be used with ``scheme``, else None."""
    if not isinstance(secret, str) or not secret:
        return "must be a non-empty string"
    if len(secret) > 500:
        return "must be at most 500 characters"
    if secret != secret.strip() or not secret.isprintable():
        return "must not contain whitespace padding or control characters"
    if scheme == "standard":
        try:
            decode_standard_secret(secret)
        except ValueError as exc:
            return f"not a Standard Webhooks secret: {exc}"
    elif scheme == "stripe" and not secret.startswith("whsec_"):
        return "Stripe endpoint secrets start with 'whsec_'"
    elif scheme in {"github", "hmac"} and len(secret) < 8:
        return "must be at least 8 characters"
    return None


def signing_keys(scheme: str, secrets: Iterable[str]) -> tuple[bytes, ...]:
    """The HMAC keys for a source's secrets (invalid ones are skipped, never fatal)."""
    keys: list[bytes] = []
    for secret in secrets:
        if not isinstance(secret, str) or not secret:
            continue
        if scheme == "standard":
            try:
                keys.append(decode_standard_secret(secret))
            except ValueError:
                continue
        else:
            keys.append(secret.encode())
    return tuple(keys)


# --- helpers -------------------------------------------------------------------------


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in headers.items()}


def _raw(value: str) -> bytes:
    """Header text back to the bytes the sender signed (WSGI decodes headers as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _header_text(value: str) -> str:
    """Header text as the sender meant it: UTF-8 bytes that WSGI decoded as latin-1 are re-decoded."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _require(headers: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not headers.get(n.lower())]
    if missing:
        raise Malformed(f"missing header(s): {', '.join(missing)}")
    return [headers[n.lower()] for n in names]


def _timestamp(value: str, header: str) -> int:
    value = value.strip()
    if not _TIMESTAMP_RE.match(value):
        raise Malformed(f"{header} must be a Unix timestamp in whole seconds")
    return int(value)


def _check_clock(timestamp: int, *, now: float, tolerance: int) -> None:
    if timestamp < now - tolerance:
        raise Stale(f"the signed timestamp is {int(now - timestamp)} s old; the tolerance is {tolerance} s")
    if timestamp > now + tolerance:
        raise Stale(f"the signed timestamp is {int(timestamp - now)} s in the future; the tolerance is {tolerance} s")


def _digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        return None
    return data if isinstance(data, dict) else None


def _event_id(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or not value.isprintable() or value != value.strip():
        raise Malformed(f"{what} must be a non-empty printable string")
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise Malformed(f"{what} is longer than {MAX_EVENT_ID_LENGTH} characters")
    return value


def _event_type(value: object, what: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.isprintable() or len(value) > 255 or (required and not value):
        raise Malformed(f"{what} must be a printable string of at most 255 characters")
    return value


def _any_hex_match(expected: list[str], candidates: Iterable[str]) -> bool:
    matched = False
    for candidate in list(candidates)[:MAX_SIGNATURES_CHECKED]:
        given = candidate.strip().lower().encode("utf-8", "surrogatepass")
        for digest in expected:
            # No early exit: the time spent does not depend on which secret matched.
            matched |= hmac.compare_digest(digest.encode(), given)
    return matched


# --- schemes -------------------------------------------------------------------------


def verify_standard(headers: Mapping[str, str], body: bytes, *, keys: tuple[bytes, ...], now: float, tolerance: int) -> VerifiedWebhook:
    h = _lower(headers)
    msg_id, raw_timestamp, signature = _require(h, "webhook-id", "webhook-timestamp", "webhook-signature")
    timestamp = _timestamp(raw_timestamp, "webhook-timestamp")
    signed = _raw(msg_id) + b"." + str(timestamp).encode() + b"." + body
    expected = [_digest(key, signed) for key in keys]
    matched = False
    for entry in signature.split(" ")[:MAX_SIGNATURES_CHECKED]:
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:
            matched |= hmac.compare_digest(digest, given)
    if not matched:
        raise BadSignature("no webhook-signature entry matches any active secret")
    _check_clock(timestamp, now=now, tolerance=tolerance)
    payload = _json_object(body)
    if payload is None:
        raise Malformed("the body must be a JSON object")
    return VerifiedWebhook(
        provider_event_id=_event_id(_header_text(msg_id), "webhook-id"),
        event_type=_event_type(payload.get("type"), "the body's 'type'", required=False),
    )


def _parse_stripe_header(value: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, _, val = item.strip().partition("=")
        if key == "t":
            timestamps.append(val)
        elif key == "v1":
            signatures.append(val)
    if len(timestamps) != 1:
        raise Malformed("Stripe-Signature must carry exactly one t=<timestamp>")
    return _timestamp(timestamps[0], "Stripe-Signature t"), signatures


def verify_stripe(headers: Mapping[str, str], body: bytes, *, keys: tuple[bytes, ...], now: float, tolerance: int) -> VerifiedWebhook:
    (header,) = _require(_lower(headers), "Stripe-Signature")
    timestamp, candidates = _parse_stripe_header(header)
    signed = str(timestamp).encode() + b"." + body
    expected = [hmac.new(key, signed, hashlib.sha256).hexdigest() for key in keys]
    if not _any_hex_match(expected, candidates):
        raise BadSignature("no v1 signature in Stripe-Signature matches any active secret")
    _check_clock(timestamp, now=now, tolerance=tolerance)
    payload = _json_object(body)
    if payload is None:
        raise Malformed("the body must be a JSON object")
    return VerifiedWebhook(
        provider_event_id=_event_id(payload.get("id"), "the body's 'id'"),
        event_type=_event_type(payload.get("type"), "the body's 'type'", required=True),
    )


def _hex_signature(value: str, *, prefix_required: bool) -> str:
    value = value.strip()
    if value.lower().startswith("sha256="):
        value = value[len("sha256="):]
    elif prefix_required:
        return ""
    return value if _HEX_RE.match(value) else ""


def _github_form_payload(body: bytes) -> dict | None:
    """GitHub's ``application/x-www-form-urlencoded`` delivery: the JSON is in the ``payload`` field."""
    if not body.startswith(b"payload="):
        return None
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=1)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("payload") or [""]
    return _json_object(values[0].encode("utf-8", "surrogatepass")) if len(values) == 1 else None


# Schemes whose event type is covered by the signature (read from the signed body);
# GitHub's X-GitHub-Event header is not signed, so routes never filter on it.
SIGNED_EVENT_TYPE_SCHEMES = frozenset({"standard", "stripe", "hmac"})
# Schemes whose event id is not covered by the signature (GitHub's X-GitHub-Delivery, the
# generic scheme's event-id header): ingestion also dedupes them on the body's SHA-256.
def event_id_signed(scheme: str, hmac_event_id_header: str = "") -> bool:
    return scheme in ("standard", "stripe") or (scheme == "hmac" and not hmac_event_id_header)


def verify_github(headers: Mapping[str, str], body: bytes, *, keys: tuple[bytes, ...], now: float, tolerance: int) -> VerifiedWebhook:
    h = _lower(headers)
    signature, delivery, event = _require(h, "X-Hub-Signature-256", "X-GitHub-Delivery", "X-GitHub-Event")
    expected = [hmac.new(key, body, hashlib.sha256).hexdigest() for key in keys]
    if not _any_hex_match(expected, [_hex_signature(signature, prefix_required=True)]):
        raise BadSignature("X-Hub-Signature-256 does not match any active secret")
    if _json_object(body) is None and _github_form_payload(body) is None:
        raise Malformed("the body must be a JSON object (or a form-encoded 'payload' holding one)")
    # GitHub signs neither a timestamp nor X-GitHub-Delivery / X-GitHub-Event: replays
    # with a fresh delivery id are caught by the body-hash dedupe at ingestion, and the
    # event type is not used for routing filters (docs/webhooks.md, "What each scheme protects").
    return VerifiedWebhook(
        provider_event_id=_event_id(_header_text(delivery), "X-GitHub-Delivery"),
        event_type=_event_type(_header_text(event), "X-GitHub-Event", required=True),
    )


def verify_hmac(
    headers: Mapping[str, str],
    body: bytes,
    *,
    keys: tuple[bytes, ...],
    now: float,
    tolerance: int,
    signature_header: str = "X-Signature",
    event_id_header: str = "",
) -> VerifiedWebhook:
    h = _lower(headers)
    (signature,) = _require(h, signature_header or "X-Signature")
    if event_id_header:
        _require(h, event_id_header)
    expected = [hmac.new(key, body, hashlib.sha256).hexdigest() for key in keys]
    if not _any_hex_match(expected, [_hex_signature(signature, prefix_required=False)]):
        raise BadSignature(f"{signature_header} does not match any active secret")
    payload = _json_object(body)
    if event_id_header:
        event_id = _event_id(_header_text(h[event_id_header.lower()]), event_id_header)
    else:
        if payload is None:
            raise Malformed("the body must be a JSON object with an 'id' (or configure an event-id header)")
        event_id = _event_id(payload.get("id"), "the body's 'id'")
    event_type = payload.get("type") if payload is not None else None
    return VerifiedWebhook(
        provider_event_id=event_id,
        event_type=_event_type(event_type if isinstance(event_type, str) else None, "the body's 'type'", required=False),
    )


def verify(
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keys: tuple[bytes, ...],
    now: float,
    tolerance: int = 300,
    hmac_header: str = "X-Signature",
    hmac_event_id_header: str = "",
) -> VerifiedWebhook:
    """Verify one request for ``scheme``; raises a :class:`Rejection` subclass."""
    if scheme == "standard":
        return verify_standard(headers, body, keys=keys, now=now, tolerance=tolerance)
    if scheme == "stripe":
        return verify_stripe(headers, body, keys=keys, now=now, tolerance=tolerance)
    if scheme == "github":
        return verify_github(headers, body, keys=keys, now=now, tolerance=tolerance)
    if scheme == "hmac":
        return verify_hmac(
            headers, body, keys=keys, now=now, tolerance=tolerance,
            signature_header=hmac_header, event_id_header=hmac_event_id_header,
        )
    raise ValueError(f"unknown scheme {scheme!r}")


# --- signing (the simulator, and later the delivery engine's outbound signature) ----


def sign_standard(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    key = decode_standard_secret(secret)
    digest = _digest(key, msg_id.encode() + b"." + str(timestamp).encode() + b"." + body)
    return "v1," + base64.b64encode(digest).decode()


def sign_stripe(secret: str, *, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def sign_github(secret: str, *, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_hmac(secret: str, *, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

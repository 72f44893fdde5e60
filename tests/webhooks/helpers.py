"""Signing helpers for the webhook tests: the providers' own libraries where they exist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import standardwebhooks
import stripe
from prometheus_client import REGISTRY

STANDARD_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
STANDARD_SECRET_NEW = "whsec_" + base64.b64encode(b"new-secret-after-rotation-32byte").decode()
STRIPE_SECRET = "whsec_test_stripe_0123456789abcdef"
GITHUB_SECRET = "It's a Secret to Everybody"
HMAC_SECRET = "generic-hmac-secret-0123"
SECRETS = {"standard": STANDARD_SECRET, "stripe": STRIPE_SECRET, "github": GITHUB_SECRET, "hmac": HMAC_SECRET}

# --- ----------------------------------------------


def standard_headers(body: bytes | str, *, secret: str = STANDARD_SECRET, msg_id: str | None = None, timestamp: float | None = None) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = datetime.fromtimestamp(timestamp if timestamp is not None else time.time(), tz=UTC)
    data = body.decode() if isinstance(body, bytes) else body
    signature = standardwebhooks.Webhook(secret).sign(msg_id=msg_id, timestamp=ts, data=data)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(ts.timestamp())), "webhook-signature": signature}


def stripe_headers(body: bytes | str, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict:
    data = body.decode() if isinstance(body, bytes) else body
    header = stripe.WebhookSignature.generate_signature_header(data, secret, timestamp=timestamp)
    return {"Stripe-Signature": header}


def github_headers(body: bytes, *, secret: str = GITHUB_SECRET, delivery: str | None = None, event: str = "push") -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Event": event,
    }


def hmac_headers(body: bytes, *, secret: str = HMAC_SECRET, header: str = "X-Signature") -> dict:
    return {header: hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def stripe_body(event_id: str | None = None, event_type: str = "payment_intent.succeeded") -> bytes:
    return json.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type, "data": {"object": {"amount": 2000}}}
    ).encode()


def signed(scheme: str, body: bytes, **kwargs) -> dict:
    return {"standard": standard_headers, "stripe": stripe_headers, "github": github_headers, "hmac": hmac_headers}[scheme](body, **kwargs)


def metric(source: str, result: str) -> float:
    return REGISTRY.get_sample_value("webhook_ingest_total", {"source": source, "result": result}) or 0.0


def post(client, slug: str, body: bytes, headers: dict, content_type: str = "application/json"):
    return client.post(f"/api/v1/webhooks/in/{slug}/", data=body, content_type=content_type, headers=headers)

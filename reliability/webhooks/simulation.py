"""Synthetic, realistically shaped, correctly signed provider webhooks (``manage.py simulate``).

Payload shapes follow the providers' documented events: Stripe ``event``
objects (``payment_intent.succeeded``, ``charge.refunded``), GitHub ``push``,
and the same Stripe-like events in a Standard Webhooks or generic-HMAC
envelope. Faker fills in people, amounts and commit messages.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field

from reliability.webhooks.signatures import sign_github, sign_hmac, sign_standard, sign_stripe

STRIPE_TYPES = ("payment_intent.succeeded", "charge.refunded")


@dataclass
class SimulatedWebhook:
    """One event; ``signed_request()`` signs it afresh (a provider's retry re-signs too)."""

    scheme: str
    event_id: str
    event_type: str
    body: bytes
    secret: str
    hmac_header: str = "X-Signature"
    hmac_event_id_header: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)

    def signed_request(self, now: int | None = None) -> tuple[bytes, dict[str, str]]:
        now = int(time.time()) if now is None else now
        headers = {"Content-Type": "application/json", "User-Agent": "opsportal-simulate/1", **self.extra_headers}
        if self.scheme == "standard":
            headers.update({
                "webhook-id": self.event_id,
                "webhook-timestamp": str(now),
                "webhook-signature": sign_standard(self.secret, msg_id=self.event_id, timestamp=now, body=self.body),
            })
        elif self.scheme == "stripe":
            headers["Stripe-Signature"] = sign_stripe(self.secret, timestamp=now, body=self.body)
            headers["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        elif self.scheme == "github":
            headers.update({
                "X-Hub-Signature-256": sign_github(self.secret, body=self.body),
                "X-GitHub-Delivery": self.event_id,
                "X-GitHub-Event": self.event_type,
                "User-Agent": "GitHub-Hookshot/simulate",
            })
        elif self.scheme == "hmac":
            headers[self.hmac_header or "X-Signature"] = sign_hmac(self.secret, body=self.body)
            if self.hmac_event_id_header:
                headers[self.hmac_event_id_header] = self.event_id
        else:
            raise ValueError(f"unknown scheme {self.scheme!r}")
        return self.body, headers


class WebhookFactory:
    """Makes events for one source's scheme and secret."""

    def __init__(self, *, scheme: str, secret: str, hmac_header: str = "X-Signature", hmac_event_id_header: str = "", seed: int | None = None):
        from faker import Faker

        self.scheme = scheme
        self.secret = secret
        self.hmac_header = hmac_header
        self.hmac_event_id_header = hmac_event_id_header
        self.fake = Faker()
        self.random = random.Random(seed)
        if seed is not None:
            self.fake.seed_instance(seed)

    def _token(self, prefix: str, length: int = 24) -> str:
        return prefix + "".join(self.random.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=length))

    def stripe_event(self) -> dict:
        fake = self.fake
        event_type = self.random.choice(STRIPE_TYPES)
        amount = self.random.randrange(500, 250_000)
        currency = self.random.choice(["usd", "eur", "gbp"])
        customer = self._token("cus_", 14)
        created = int(time.time())
        if event_type == "payment_intent.succeeded":
            obj = {
                "id": self._token("pi_"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": currency,
                "customer": customer,
                "description": fake.catch_phrase(),
                "latest_charge": self._token("ch_"),
                "payment_method_types": ["card"],
                "receipt_email": fake.email(),
                "status": "succeeded",
                "created": created,
                "metadata": {"order_id": str(fake.random_number(digits=8, fix_len=True))},
            }
        else:
            refunded = self.random.randrange(100, amount + 1)
            obj = {
                "id": self._token("ch_"),
                "object": "charge",
                "amount": amount,
                "amount_refunded": refunded,
                "currency": currency,
                "customer": customer,
                "refunded": refunded == amount,
                "billing_details": {"name": fake.name(), "email": fake.email(), "address": {"country": fake.country_code()}},
                "payment_intent": self._token("pi_"),
                "status": "succeeded",
                "created": created,
            }
        return {
            "id": self._token("evt_"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": self._token("req_", 14), "idempotency_key": str(uuid.UUID(int=self.random.getrandbits(128)))},
            "data": {"object": obj},
        }

    def github_push(self) -> dict:
        fake = self.fake
        owner = fake.user_name()
        repo = fake.slug()
        commits = []
        for _ in range(self.random.randint(1, 3)):
            sha = fake.sha1()
            commits.append({
                "id": sha,
                "tree_id": fake.sha1(),
                "message": fake.sentence(nb_words=6).rstrip("."),
                "timestamp": fake.iso8601() + "Z",
                "url": f"https://github.com/{owner}/{repo}/commit/{sha}",
                "author": {"name": fake.name(), "email": fake.email(), "username": fake.user_name()},
                "added": [fake.file_path(depth=2)],
                "removed": [],
                "modified": [fake.file_path(depth=2)],
            })
        return {
            "ref": f"refs/heads/{self.random.choice(['main', 'develop', 'release'])}",
            "before": fake.sha1(),
            "after": commits[-1]["id"],
            "created": False,
            "deleted": False,
            "forced": False,
            "compare": f"https://github.com/{owner}/{repo}/compare/{commits[0]['id'][:12]}...{commits[-1]['id'][:12]}",
            "commits": commits,
            "head_commit": commits[-1],
            "repository": {
                "id": self.random.randrange(10**6, 10**9),
                "name": repo,
                "full_name": f"{owner}/{repo}",
                "private": True,
                "html_url": f"https://github.com/{owner}/{repo}",
                "default_branch": "main",
                "owner": {"login": owner, "id": self.random.randrange(10**5, 10**8), "type": "User"},
            },
            "pusher": {"name": owner, "email": fake.email()},
            "sender": {"login": owner, "type": "User"},
        }

    def make(self) -> SimulatedWebhook:
        if self.scheme == "github":
            return SimulatedWebhook(
                scheme="github", event_id=str(uuid.UUID(int=self.random.getrandbits(128))), event_type="push",
                body=json.dumps(self.github_push()).encode(), secret=self.secret,
            )
        event = self.stripe_event()
        if self.scheme == "standard":
            # Standard Webhooks' recommended envelope: type, timestamp, data.
            event_id = self._token("msg_", 27)
            payload = {"type": event["type"], "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "data": event["data"]["object"]}
            return SimulatedWebhook(scheme="standard", event_id=event_id, event_type=event["type"], body=json.dumps(payload).encode(), secret=self.secret)
        return SimulatedWebhook(
            scheme=self.scheme, event_id=event["id"], event_type=event["type"], body=json.dumps(event).encode(), secret=self.secret,
            hmac_header=self.hmac_header, hmac_event_id_header=self.hmac_event_id_header,
        )

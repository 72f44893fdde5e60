"""DLQ test helpers: dead-letter items as the delivery engine leaves them, and a real local receiver."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import transaction
from django.utils import timezone

from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure


def make_dlq_item(source, destination, *, event_type: str = "charge.failed", error: str = "HTTP 500: boom",
                  created_at=None, attempts: int = 8, provider_event_id: str | None = None,
                  failure_class: str = "server_error", status_code: int | None = 500) -> WebhookFailure:
    """An event whose delivery to ``destination`` exhausted its attempts: dead delivery + open failure."""
    from reliability.webhooks.classes import group_signature

    signature, signature_text = group_signature(destination_id=destination.pk if destination else None,
                                                failure_class=failure_class, status_code=status_code, error=error)
    now = created_at or timezone.now()
    body = json.dumps({"id": provider_event_id or f"evt_{uuid.uuid4().hex[:16]}", "type": event_type}).encode()
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            source=source, provider_event_id=provider_event_id or json.loads(body)["id"], event_type=event_type,
            body=body, received_at=now,
        )
        delivery = Delivery.objects.create(
            event=event, destination=destination, status=Delivery.Status.DEAD, attempts=attempts,
            last_status_code=status_code, last_error=error, created_at=now,
        )
        return WebhookFailure.objects.create(
            delivery=delivery, source=source, destination=destination, provider=source.slug if source else "portal",
            event_type=event_type, payload=body, error_message=error, created_at=now, failure_class=failure_class,
            status_code=status_code, group_signature=signature, signature_text=signature_text,
        )


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request's ``webhook-id``.

    ``status`` is what it answers (change it to make the receiver fail or
    recover); ``seen`` lists ``(webhook-id, status answered)`` in arrival order.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with receiver.lock:
                    status = receiver.status
                    receiver.seen.append((self.headers.get("webhook-id", ""), status))
                payload = b"ok" if status < 400 else b"receiver failing"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="dlq-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def successes(self) -> Counter:
        with self.lock:
            return Counter(wid for wid, status in self.seen if status < 300)

    def after_first_success(self) -> Counter:
        """How often each id arrived at or after its first successful delivery (1 = exactly once)."""
        with self.lock:
            seen = list(self.seen)
        first_ok: dict[str, int] = {}
        for index, (wid, status) in enumerate(seen):
            if status < 300 and wid not in first_ok:
                first_ok[wid] = index
        return Counter(wid for index, (wid, _) in enumerate(seen) if wid in first_ok and index >= first_ok[wid])

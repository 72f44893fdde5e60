"""``/ops/_sink/<name>/``: a development-only webhook receiver, the demo's (and drills') far end.

POST: verifies the portal's Standard Webhooks signature with the signing
secret of the destination(s) whose URL points here, records the
``webhook-id`` and answers 200 — or the status a ``?status=`` query asks for
(``?status=503`` makes a failing receiver for the DLQ and chaos drills).
GET: what this process received, ``{"name", "total", "received": {id: count}}``.

Enabled when ``OPSPORTAL_ENV=development`` or ``WEBHOOK_SINK_ENABLED`` is
true; otherwise every request is a 404. The record is per process (the
embedded runner is one process) and bounded.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.http import Http404, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from reliability.webhooks.models import WebhookDestination
from reliability.webhooks.signatures import Malformed, Rejection, signing_keys, verify_standard

SINK_PATH = "/ops/_sink/{name}/"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_IDS = 10_000
TOLERANCE_SECONDS = 300


class SinkLog:
    """The webhook-ids each sink received in this process, with how often (a bounded LRU)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, OrderedDict[str, int]] = {}

    def add(self, name: str, webhook_id: str) -> int:
        with self._lock:
            seen = self._ids.setdefault(name, OrderedDict())
            seen[webhook_id] = seen.get(webhook_id, 0) + 1
            seen.move_to_end(webhook_id)
            while len(seen) > _MAX_IDS:
                seen.popitem(last=False)
            return seen[webhook_id]

    def received(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._ids.get(name, {}))

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


sink_log = SinkLog()


def sink_enabled() -> bool:
    return settings.OPSPORTAL_ENV == "development" or bool(getattr(settings, "WEBHOOK_SINK_ENABLED", False))


def sink_url(base_url: str, name: str) -> str:
    """The URL a destination uses to deliver to the sink ``name`` of the portal at ``base_url``."""
    return base_url.rstrip("/") + SINK_PATH.format(name=name)


def _keys(name: str) -> tuple[bytes, ...]:
    suffix = SINK_PATH.format(name=name)
    secrets = WebhookDestination.objects.filter(url__contains=suffix).values_list("signing_secret", flat=True)
    return signing_keys("standard", list(secrets))


def _status(request) -> int:
    try:
        status = int(request.GET.get("status", "200"))
    except ValueError:
        return 200
    return status if 200 <= status <= 599 else 200


@csrf_exempt
def sink(request, name: str):
    if not sink_enabled() or not _NAME_RE.match(name):
        raise Http404("no such sink")
    if request.method == "GET":
        received = sink_log.received(name)
        return JsonResponse({"name": name, "total": sum(received.values()), "received": received})
    if request.method != "POST":
        return JsonResponse({"detail": "POST a signed webhook, or GET what was received"}, status=405)
    keys = _keys(name)
    if not keys:
        return JsonResponse({"detail": f"no destination delivers to sink {name!r}"}, status=404)
    try:
        verified = verify_standard(request.headers, request.body, keys=keys, now=time.time(), tolerance=TOLERANCE_SECONDS)
    except Rejection as exc:  # bad signature or stale: 401; missing headers or not a JSON object: 400
        return JsonResponse({"detail": f"refused: {exc}"}, status=400 if isinstance(exc, Malformed) else 401)
    seen = sink_log.add(name, verified.provider_event_id)
    webhook_id = verified.provider_event_id
    status = _status(request)
    return JsonResponse({"received": webhook_id, "seen": seen, "status": status}, status=status)


urlpatterns = [path("<str:name>/", sink, name="webhook-sink")]

"""Inside a Django process for bench/health/shedding.py: ``python bench/health/_shedding_helper.py <command>``.

    level SEVERE|NORMAL|…   override the degradation level through the service (NORMAL: clear it); prints JSON
    micro N                 the shedding middleware's cost on the ingest path, N calls each way; prints JSON
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from audit.actors import Actor  # noqa: E402
from reliability.health.degradation import Level  # noqa: E402
from reliability.health.degradation.selectors import active_override  # noqa: E402
from reliability.health.degradation.services import degradation_override_clear, degradation_override_set  # noqa: E402

ACTOR = Actor.for_system("bench:health")


def level(name: str) -> dict:
    target = Level.parse(name)
    if target == Level.NORMAL:
        if active_override() is not None:
            degradation_override_clear(actor=ACTOR, source="bench", reason="bench: back to normal")
    else:
        degradation_override_set(level=target, reason="bench: shedding", expires_at=timezone.now() + timedelta(minutes=30),
                                 actor=ACTOR, source="bench")
    return {"level": target.name}


def micro(n: int) -> dict:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from reliability.health.shedding.middleware import LoadSheddingMiddleware

    response = HttpResponse(status=202)

    def view(request):
        return response

    mw = LoadSheddingMiddleware(view)
    request = RequestFactory().post("/api/v1/webhooks/in/bench-ingest/", data=b"{}", content_type="application/json")
    mw(request)
    rounds = {"middleware": [], "bare": []}
    for _ in range(10):
        for name, fn in (("middleware", mw), ("bare", view)):
            start = time.perf_counter()
            for _ in range(n // 10):
                fn(request)
            rounds[name].append((time.perf_counter() - start) / (n // 10) * 1e6)
    return {k: statistics.median(v) for k, v in rounds.items()}


if __name__ == "__main__":
    command, arg = sys.argv[1], sys.argv[2]
    result = level(arg) if command == "level" else micro(int(arg))
    print(json.dumps(result))

"""Run in a subprocess by test_redis_down.py with REDIS_URL pointing at a dead Redis: times the
operator-facing calls that touch Redis and prints them as JSON (seconds)."""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import django

    django.setup()
    from django.core.cache import cache

    from audit.actors import Actor
    from opsportal.catalog.services import service_create, service_update
    from opsportal.celery import app
    from opsportal.events.models import OutboxEvent
    from reliability.breakers import BreakerConfig
    from reliability.breakers.services import breaker_force_open, breaker_register

    actor = Actor.for_system("redis-down-probe")
    timings: dict[str, float] = {}

    def timed(name, fn):
        started = time.perf_counter()
        try:
            fn()
            error = None
        except Exception as exc:  # the figure matters, and whether it raised
            error = type(exc).__name__
        timings[name] = round(time.perf_counter() - started, 3)
        if error:
            timings[name + ":raised"] = error

    service = service_create(name=f"probe-{time.time_ns()}", actor=actor, source="cli")
    timed("service_update", lambda: service_update(service_id=service.pk, actor=actor, source="cli",
                                                    description="redis is down"))
    breaker_register(name=f"probe-{service.pk}", config=BreakerConfig(), actor=actor)
    timed("breaker_force_open", lambda: breaker_force_open(name=f"probe-{service.pk}", actor=actor,
                                                           reason="redis down drill", source="cli"))
    timed("celery_publish", lambda: app.send_task("events.sweep_outbox"))
    timed("cache_get", lambda: cache.get("probe"))
    # the channel layer is Redis: what it could not take waits for the sweep (subscribers had it already)
    unpublished = OutboxEvent.objects.filter(broadcast_at__isnull=True).count()
    json.dump({"timings": timings, "unpublished_events": unpublished}, sys.stdout)


if __name__ == "__main__":
    main()

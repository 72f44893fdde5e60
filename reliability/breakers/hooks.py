"""The runtime's hooks into Django: record transitions, register names, load configs."""

from __future__ import annotations

from reliability.breakers.config import BreakerConfig
from reliability.breakers.runtime import RuntimeHooks, TransitionEvent


class DjangoHooks(RuntimeHooks):
    def record_transition(self, event: TransitionEvent) -> None:
        from reliability.breakers.services import breaker_transition_record

        breaker_transition_record(event=event)

    def register(self, name: str, config: BreakerConfig) -> None:
        from reliability.breakers.services import breaker_register

        breaker_register(name=name, config=config)

    def load_configs(self) -> dict:
        from reliability.breakers.selectors import breaker_configs_for_runtime

        return breaker_configs_for_runtime()

    def release_connections(self) -> None:
        # The recorder thread owns a DB connection only while it writes (with the ASGI pool,
        # close() hands it back to the pool): never hold one idle.
        from django.db import connection

        connection.close()


def store_readiness_check() -> str:
    """Readiness: the shared breaker store answers (or the breakers run in-process by design)."""
    from reliability.breakers.runtime import default_registry

    registry = default_registry
    if registry.store is None:
        return "in-process (no REDIS_URL)"
    try:
        registry.store.ping()
    except Exception as exc:
        registry.degrade(exc)
        raise RuntimeError(registry.store_status()[1]) from exc
    if not registry.shared_active:
        registry.restore()  # Redis answers again: share state from now on
    return "shared (redis)"

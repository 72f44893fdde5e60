"""Reads: breakers with their last transition and live window figures."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from reliability.breakers.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.breakers.runtime import BreakerRegistry, default_registry


def breaker_list() -> QuerySet[CircuitBreaker]:
    """Breakers with their last transition's target, cause and time (one query)."""
    last = BreakerTransition.objects.filter(breaker=OuterRef("pk")).order_by("-at", "-id")
    return (
        CircuitBreaker.objects.select_related("service")
        .annotate(
            last_to=Subquery(last.values("to_state")[:1]),
            last_cause=Subquery(last.values("cause")[:1]),
            last_at=Subquery(last.values("at")[:1]),
        )
        .order_by("name")
    )


def breaker_get(*, name: str) -> CircuitBreaker | None:
    if "\x00" in name or len(name) > 100:
        return None
    return breaker_list().filter(name=name).first()


def breaker_live_stats(names: list[str], *, registry: BreakerRegistry | None = None) -> dict[str, dict]:
    """Calls and failures in the window per breaker: fleet-wide from Redis, else this process's."""
    registry = registry or default_registry
    stats = registry.read_remote(names)
    for name in names:
        if name in stats:
            continue
        core = registry.core(name)
        if core is not None:
            stats[name] = core.snapshot()
        else:
            stats[name] = {"state": None, "calls": 0, "failures": 0, "failure_rate": None, "store": "none"}
    return stats


def breaker_configs_for_runtime() -> dict:
    """name → (BreakerConfig, manual state or None), for the runtime's periodic refresh."""
    manual = {BreakerState.FORCED_OPEN, BreakerState.DISABLED}
    configs = {}
    for cb in CircuitBreaker.objects.all():
        try:
            config = cb.to_config()
        except ValueError:
            continue  # an invalid row keeps the runtime on its previous config
        configs[cb.name] = (config, str(cb.state) if cb.state in manual else None)
    return configs


def breaker_transitions(*, name: str, limit: int = 20) -> QuerySet[BreakerTransition]:
    return BreakerTransition.objects.filter(breaker__name=name).order_by("-at", "-id")[:limit]

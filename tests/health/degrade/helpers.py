from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from prometheus_client import REGISTRY

from audit.actors import Actor
from reliability.health.degradation.levels import Level
from reliability.health.degradation.services import degradation_override_set

SYSTEM = Actor.for_system("test")


def sample(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def pin(level: Level, *, minutes: int = 30, reason: str = "test") -> None:
    """Override the level (committed on-commit hooks run: the snapshot is published)."""
    degradation_override_set(level=level, reason=reason, expires_at=timezone.now() + timedelta(minutes=minutes),
                             actor=SYSTEM, source="test")

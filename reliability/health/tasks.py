"""Celery tasks of the health app (autodiscovered); each part keeps its own module."""

from reliability.health.degradation.tasks import evaluate_degradation, purge_slow_queries

__all__ = ["evaluate_degradation", "purge_slow_queries"]

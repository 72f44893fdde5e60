"""Celery entry points: thin, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task

from reliability.slos import names


@shared_task(name=names.TASK_EVALUATE, ignore_result=True, expires=55)
def evaluate() -> dict:
    """Beat, every minute: evaluate every SLO (statuses, tiers, incidents)."""
    from reliability.slos.services import slos_evaluate

    return slos_evaluate()


@shared_task(name=names.TASK_INTERNAL, ignore_result=True, expires=55)
def compute_internal() -> dict:
    """Beat, every minute: the portal's own SLIs from its tables into buckets."""
    from reliability.slos.services.internal import internal_slis_compute

    return internal_slis_compute()


@shared_task(name=names.TASK_PROMETHEUS, ignore_result=True, expires=55)
def pull_prometheus() -> dict:
    """Beat, every minute: read good and total from Prometheus for SLOs with a Prometheus SLI."""
    from reliability.slos.services.prometheus import prometheus_slis_pull

    return prometheus_slis_pull()

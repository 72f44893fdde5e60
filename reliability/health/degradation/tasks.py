"""Thin Celery entry points for degradation and the slow-query monitor."""

from __future__ import annotations

from celery import shared_task

from reliability.health.names import TASK_EVALUATE_DEGRADATION, TASK_PURGE_SLOW_QUERIES


@shared_task(name=TASK_EVALUATE_DEGRADATION, ignore_result=True)
def evaluate_degradation() -> str:
    from reliability.health.degradation.inputs import gather
    from reliability.health.degradation.services import degradation_evaluate

    transition = degradation_evaluate(inputs=gather())
    return str(transition) if transition else "unchanged"


@shared_task(name=TASK_PURGE_SLOW_QUERIES, ignore_result=True)
def purge_slow_queries() -> int:
    from reliability.health.slowqueries.services import slow_queries_purge

    return slow_queries_purge()

"""Thin Celery entry points of the reports app."""

from __future__ import annotations

from celery import shared_task

from reliability.reports.names import TASK_WEEKLY_SNAPSHOT


@shared_task(name=TASK_WEEKLY_SNAPSHOT, ignore_result=True)
def store_weekly_snapshot() -> dict:
    """Beat, Mondays: store the report of the ISO week that just ended (idempotent)."""
    from django.utils import timezone

    from audit.actors import Actor
    from reliability.reports.periods import previous_week
    from reliability.reports.services import reliability_snapshot_store

    period = previous_week(timezone.now())
    snapshot, created = reliability_snapshot_store(period=period, actor=Actor.for_system("beat:reports"),
                                                   source="task")
    return {"period": period, "snapshot": snapshot.pk, "created": created}

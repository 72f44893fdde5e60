"""Slow Celery tasks in (``jobs.py`` hands them over from the task_postrun signal)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reliability.health.models import SlowJob


@transaction.atomic
def slow_job_record(*, task_name: str, task_id: str, duration_seconds: float, args_summary: str,
                    worker: str = "", state: str = "", at: datetime | None = None) -> SlowJob:
    """One row per task slower than SLOW_JOB_SECONDS. ``args_summary`` is already redacted (jobs.summarise)."""
    return SlowJob.objects.create(task_name=task_name[:200], task_id=(task_id or "")[:200], worker=worker[:200],
                                  duration_seconds=round(duration_seconds, 3), state=(state or "")[:20],
                                  args_summary=args_summary[:500], at=at or timezone.now())

"""Tasks only the health tests' worker loads (``celery worker --include tests.health.worker_tasks``)."""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(name="health_test.sleep", ignore_result=True)
def sleep(seconds: float, **_kwargs) -> None:
    time.sleep(seconds)  # the behaviour under test: a task that runs past the slow-job threshold

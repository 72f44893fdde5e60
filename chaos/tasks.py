"""Thin Celery entry points of the chaos app (names in chaos/names.py)."""

from __future__ import annotations

from celery import shared_task

from chaos.names import TASK_EXECUTE_RUN, TASK_START_SLOT, TASK_SWEEP


@shared_task(name=TASK_START_SLOT, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def start_slot(drill_id: int) -> str:
    """Beat fired a drill's entry: claim its slot and run it here (a redelivery finds the slot claimed)."""
    from chaos.engine.slots import start_due_slot

    result = start_due_slot(int(drill_id))
    return result.reason or ("started" if result.started else "")


@shared_task(name=TASK_EXECUTE_RUN, acks_late=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    from chaos.engine.runner import execute_run as run

    run(int(run_id))


@shared_task(name=TASK_SWEEP, ignore_result=True)
def sweep() -> None:
    from chaos.engine.sweep import sweep as do_sweep

    do_sweep()

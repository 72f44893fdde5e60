from celery import shared_task

from opsportal.events.relay import sweep_unpublished


@shared_task(name="events.sweep_outbox", ignore_result=True)
def sweep_outbox() -> int:
    return sweep_unpublished()

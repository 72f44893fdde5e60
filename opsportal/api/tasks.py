from celery import shared_task

from opsportal.api.idempotency import purge_expired_keys


@shared_task(name="api.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    return purge_expired_keys()

"""The restore drill on a schedule (beat entry ``health-restore-drill``, off unless RESTORE_DRILL_ENABLED)."""

from celery import shared_task


@shared_task(name="health.restore_drill", ignore_result=True, acks_late=False)
def restore_drill() -> bool:
    from reliability.health.restore.drill import RestoreError, RestoreResult, sandbox_restore
    from reliability.health.restore.services import restore_drill_record

    try:
        result = sandbox_restore()
    except RestoreError as exc:
        result = RestoreResult(source="", scratch="not created", dump="", failures=[str(exc)])
    restore_drill_record(result)
    return result.ok

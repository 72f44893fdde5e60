"""Connects the slow-query monitor: every new database connection, every Celery task."""

from __future__ import annotations

from reliability.health.slowqueries import monitor

_task_tokens: dict[str, object] = {}


def _task_started(sender=None, task_id=None, task=None, **kwargs) -> None:
    name = getattr(task, "name", None) or getattr(sender, "name", "") or ""
    _task_tokens[task_id or ""] = monitor.bind(monitor.Scope(task=str(name)))


def _task_finished(sender=None, task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            monitor.reset(token)
        except ValueError:  # bound in another context (a different thread ran prerun)
            pass
    if monitor.pending():
        monitor.flush()


def connect() -> None:
    from celery.signals import task_postrun, task_prerun
    from django.db import connections
    from django.db.backends.signals import connection_created
    from django.test.signals import setting_changed

    connection_created.connect(monitor.install, dispatch_uid="health.slowqueries.install")
    setting_changed.connect(monitor.setting_changed, dispatch_uid="health.slowqueries.setting_changed")
    task_prerun.connect(_task_started, dispatch_uid="health.slowqueries.task_started", weak=False)
    task_postrun.connect(_task_finished, dispatch_uid="health.slowqueries.task_finished", weak=False)
    for conn in connections.all(initialized_only=True):  # opened before the app was ready
        if conn.connection is not None:
            monitor.install(connection=conn)

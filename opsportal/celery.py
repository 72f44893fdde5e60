"""The Celery application (`celery -A opsportal worker|beat`)."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

app = Celery("opsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(dispatch_uid="opsportal.otel_worker_init")
def _otel_in_worker(**_kwargs):
    from opsportal.observability import setup_opentelemetry

    setup_opentelemetry()


@worker_process_shutdown.connect(dispatch_uid="opsportal.otel_worker_flush")
def _otel_flush_in_worker(**_kwargs):
    from opsportal.observability import flush_spans

    flush_spans()  # a pool child leaves through os._exit: export the spans it still holds

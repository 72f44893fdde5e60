"""The Celery application (`celery -A opsportal worker|beat`)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

app = Celery("opsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(dispatch_uid="opsportal.otel_worker_init")
def _otel_in_worker(**_kwargs):
    from opsportal.observability import setup_opentelemetry

    setup_opentelemetry()

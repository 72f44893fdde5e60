"""WSGI entry point: `gunicorn opsportal.wsgi:application -k gthread`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

from opsportal.observability import setup_opentelemetry  # noqa: E402

# Before the handler loads MIDDLEWARE: the instrumentor adds its middleware there.
setup_opentelemetry()

from opsportal.handlers import wsgi_application  # noqa: E402

application = wsgi_application()

"""One WSGI app, two Django handlers in the same process (see bench/api_overhead/wsgi.py).

Paths under /bench/bare/ go to a handler with NO middleware (the bare view);
everything else goes to the production WSGI app (opsportal.handlers), which
serves the ingest endpoint through its lean middleware chain — exactly what
production runs.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.webhooks.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from bench.bare_handler import BARE_PREFIX, NoMiddlewareWSGIHandler  # noqa: E402
from opsportal.handlers import wsgi_application  # noqa: E402

production = wsgi_application()
no_middleware = NoMiddlewareWSGIHandler()


def application(environ, start_response):
    handler = no_middleware if environ.get("PATH_INFO", "").startswith(BARE_PREFIX) else production
    return handler(environ, start_response)

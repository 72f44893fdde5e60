"""One WSGI app, two Django handlers, same process, same URLconf, same DB connection setup.

Paths under /bench/bare/ go to a handler with NO middleware (a bare Django
view); everything else goes to the normal handler with settings.MIDDLEWARE.
A request carrying ``X-Bench-Count-Queries: 1`` gets ``X-Bench-Queries: N``
back (SQL statements the request ran; only used in run.py's check pass).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.api_overhead.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402

from bench.bare_handler import BARE_PREFIX, NoMiddlewareWSGIHandler  # noqa: E402

full_stack = WSGIHandler()
no_middleware = NoMiddlewareWSGIHandler()


def _counted(handler, environ, start_response):
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Bench-Queries", str(len(statements)))], exc_info)

    with connection.execute_wrapper(count):
        return handler(environ, start)


def application(environ, start_response):
    handler = no_middleware if environ.get("PATH_INFO", "").startswith(BARE_PREFIX) else full_stack
    if environ.get("HTTP_X_BENCH_COUNT_QUERIES") == "1":
        return _counted(handler, environ, start_response)
    return handler(environ, start_response)

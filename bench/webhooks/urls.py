"""The portal's URLconf plus bench-only views (never routed in production)."""

import django
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import path

from opsportal.urls import handler404, handler500  # noqa: F401
from opsportal.urls import urlpatterns as portal_urlpatterns

BARE_TABLE = "bench_webhooks_bare"  # created by run.py


def bare_insert(request):
    """The baseline: read the body, INSERT one row, answer 202 with its id. Nothing else."""
    if request.method != "POST":
        return JsonResponse({"detail": "POST"}, status=405)
    body = request.body
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (body, received_at) VALUES (%s, now()) RETURNING id", [body])  # noqa: S608
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=202)


def info(request):
    connection.ensure_connection()
    major, minor = divmod(connection.pg_version, 10000)
    db = settings.DATABASES["default"]
    return JsonResponse({
        "middleware": settings.MIDDLEWARE,
        "debug": settings.DEBUG,
        "env": settings.OPSPORTAL_ENV,
        "database": f"PostgreSQL {major}.{minor}",
        "conn_max_age": db["CONN_MAX_AGE"],
        "conn_health_checks": db["CONN_HEALTH_CHECKS"],
        "pool": {k: v if isinstance(v, (int, float, str, bool)) else repr(v)
                 for k, v in (db.get("OPTIONS", {}).get("pool") or {}).items()} or None,
        "pool_check_idle_seconds": settings.DATABASE_POOL_CHECK_IDLE_SECONDS if settings.DATABASE_POOL_CHECK else None,
        "django": django.get_version(),
        "log_level": settings.LOG_LEVEL,
        "access_log": getattr(settings, "ACCESS_LOG", True),
        "multiproc": bool(__import__("os").environ.get("PROMETHEUS_MULTIPROC_DIR")),
    })


urlpatterns = [
    # /bench/bare/ is served by the middleware-less handler (see wsgi.py).
    path("bench/bare/insert/", bare_insert),
    path("bench/info/", info),
    *portal_urlpatterns,
]

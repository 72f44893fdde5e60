"""The portal's URLconf plus the bench-only views (never routed in production)."""

import django
import rest_framework
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import path

from opsportal.catalog.models import Service
from opsportal.urls import handler404, handler500  # noqa: F401
from opsportal.urls import urlpatterns as portal_urlpatterns

BARE_FIELDS = ("id", "name", "team", "tier", "description", "created_at", "updated_at")


def bare(request, pk: int):
    """A plain function view: one primary-key SELECT of the same row the API returns, as JSON."""
    row = Service.objects.filter(pk=pk).values(*BARE_FIELDS).first()
    if row is None:
        return JsonResponse({"detail": "not found"}, status=404)
    return JsonResponse(row)


def _database() -> str:
    if connection.vendor != "postgresql":
        return connection.vendor
    connection.ensure_connection()
    major, minor = divmod(connection.pg_version, 10000)
    return f"PostgreSQL {major}.{minor}"


def info(request):
    """What the server under test is actually running with (printed in the report)."""
    rest = settings.REST_FRAMEWORK
    return JsonResponse({
        "middleware": settings.MIDDLEWARE,
        "authentication": rest["DEFAULT_AUTHENTICATION_CLASSES"],
        "permissions": rest["DEFAULT_PERMISSION_CLASSES"],
        "renderers": rest["DEFAULT_RENDERER_CLASSES"],
        "filter_backends": rest["DEFAULT_FILTER_BACKENDS"],
        "debug": settings.DEBUG,
        "env": settings.OPSPORTAL_ENV,
        "database": _database(),
        "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
        "conn_health_checks": settings.DATABASES["default"]["CONN_HEALTH_CHECKS"],
        "cache": settings.CACHES["default"]["BACKEND"],
        "django": django.get_version(),
        "drf": rest_framework.VERSION,
    })


urlpatterns = [
    # /bench/bare/ is served by the middleware-less handler (see wsgi.py);
    # /bench/bare-mw/ is the same view through settings.MIDDLEWARE.
    path("bench/bare/<int:pk>/", bare),
    path("bench/bare-mw/<int:pk>/", bare),
    path("bench/info/", info),
    *portal_urlpatterns,
]

"""Mounted at /ops/health/ (opsportal/urls.py)."""

from django.urls import path

from reliability.health import pages

app_name = "health-ops"
urlpatterns = [
    path("", pages.health_page, name="page"),
    path("checks/", pages.checks_fragment, name="checks"),
    path("workers/", pages.workers_fragment, name="workers"),
]

"""Mounted at /api/v1/breakers/ (opsportal/api/urls.py)."""

from django.urls import path

from reliability.breakers.api import BreakerActionView, BreakerDetailView, BreakerListView

urlpatterns = [
    path("", BreakerListView.as_view(), name="breaker-list"),
    path("<str:name>/", BreakerDetailView.as_view(), name="breaker-detail"),
    path("<str:name>/reset/", BreakerActionView.as_view(action_name="reset"), name="breaker-reset"),
    path("<str:name>/force-open/", BreakerActionView.as_view(action_name="force_open"), name="breaker-force-open"),
    path("<str:name>/force-close/", BreakerActionView.as_view(action_name="force_close"), name="breaker-force-close"),
    path("<str:name>/disable/", BreakerActionView.as_view(action_name="disable"), name="breaker-disable"),
]

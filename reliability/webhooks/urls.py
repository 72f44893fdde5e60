"""Mounted at /api/v1/webhooks/ by opsportal/api/urls.py."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from reliability.webhooks import views
from reliability.webhooks.api import WebhookDestinationViewSet, WebhookSourceViewSet

router = SimpleRouter(trailing_slash=True)
router.register("sources", WebhookSourceViewSet, basename="webhook-source")
router.register("destinations", WebhookDestinationViewSet, basename="webhook-destination")

urlpatterns = [
    path("in/<str:slug>/", views.ingest, name="webhook-ingest"),
    path("", include(router.urls)),
]

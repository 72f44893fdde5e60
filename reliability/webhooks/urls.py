"""Mounted at /api/v1/webhooks/ by opsportal/api/urls.py."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from reliability.webhooks import views
from reliability.webhooks.api import WebhookDestinationViewSet, WebhookSourceViewSet

router = SimpleRouter(trailing_slash=True)
router.register("sources", WebhookSourceViewSet, basename="webhook-source")
router.register("destinations", WebhookDestinationViewSet, basename="webhook-destination")

# Also served by the lean handler's URLconf (opsportal/lean_urls.py).
ingest_patterns = [path("in/<str:slug>/", views.ingest, name="webhook-ingest")]

urlpatterns = [
    *ingest_patterns,
    path("", include(router.urls)),
]

"""Mounted at /api/v1/webhooks/ by opsportal/api/urls.py."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from reliability.webhooks.api.config import WebhookDestinationViewSet, WebhookSourceViewSet
from reliability.webhooks.views import ingest

router = SimpleRouter(trailing_slash=True)
router.register("sources", WebhookSourceViewSet, basename="webhook-source")
router.register("destinations", WebhookDestinationViewSet, basename="webhook-destination")

# Also served by the lean handler's URLconf (opsportal/lean_urls.py).
ingest_patterns = [path("in/<str:slug>/", ingest.ingest, name="webhook-ingest")]

urlpatterns = [
    *ingest_patterns,
    path("", include(router.urls)),
]

from django.urls import path

from reliability.health.api import SystemHealthView

urlpatterns = [
    path("health/system", SystemHealthView.as_view(), name="internal-health-system"),
]

from django.urls import path

from reliability.breakers.health import BreakersHealthView
from reliability.health import views
from reliability.health.api import DetailedHealthView
from reliability.health.degradation.health import DegradationHealthView
from reliability.webhooks.health import DlqHealthView

urlpatterns = [
    path("live", views.live, name="health-live"),
    path("ready", views.ready, name="health-ready"),
    path("detailed", DetailedHealthView.as_view(), name="health-detailed"),
    path("circuit-breakers", BreakersHealthView.as_view(), name="health-circuit-breakers"),
    path("dlq", DlqHealthView.as_view(), name="health-dlq"),
    path("degradation", DegradationHealthView.as_view(), name="health-degradation"),
]

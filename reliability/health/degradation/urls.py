from django.urls import path

from reliability.health.degradation.api import DegradationClearView, DegradationView

urlpatterns = [
    path("", DegradationView.as_view(), name="degradation"),
    path("clear/", DegradationClearView.as_view(), name="degradation-clear"),
]

"""Mounted at /api/v1/chaos/ (opsportal/api/urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from chaos.api import DrillViewSet, KillSwitchView, RunViewSet

router = SimpleRouter(trailing_slash=True)
router.register("drills", DrillViewSet, basename="chaos-drill")
router.register("runs", RunViewSet, basename="chaos-run")

urlpatterns = [
    path("kill-switch/", KillSwitchView.as_view(), name="chaos-kill-switch"),
    path("", include(router.urls)),
]

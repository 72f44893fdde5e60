"""Mounted at /ops/breakers/ (opsportal/urls.py)."""

from django.urls import path

from reliability.breakers import ops

app_name = "breakers-ops"
urlpatterns = [
    path("<str:name>/", ops.breaker_action, name="action"),
]

"""Routes under /api/v1/ owned by the SLO app (the CRUD viewset is on the shared router)."""

from django.urls import path

from reliability.slos.api import SLIEventsView

urlpatterns = [
    path("slos/<slug:slug>/events/", SLIEventsView.as_view(), name="slo-events"),
]

"""Routes under /api/v1/ owned by the incidents app."""

from django.urls import path

from reliability.incidents.api import AlertmanagerReceiverView, EventsView, ResponseTimesView

urlpatterns = [
    path("alerts/alertmanager/", AlertmanagerReceiverView.as_view(), name="alerts-alertmanager"),
    path("alerts/events/", EventsView.as_view(), name="alerts-events"),
    path("incidents/response-times/", ResponseTimesView.as_view(), name="incident-response-times"),
]

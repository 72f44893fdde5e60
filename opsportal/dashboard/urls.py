from django.urls import path

from opsportal.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("counters/", views.counters_fragment, name="counters"),
    path("panels/<slug:key>/", views.panel_fragment, name="panel"),
]

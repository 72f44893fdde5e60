"""Mounted at /ops/slos/ (opsportal/urls.py)."""

from django.urls import path

from reliability.slos.views import pages

app_name = "slos-ops"
urlpatterns = [
    path("", pages.slo_list, name="list"),
    path("fragment/", pages.slo_list_fragment, name="list-fragment"),
    path("<slug:slug>/", pages.slo_detail, name="detail"),
    path("<slug:slug>/fragment/", pages.slo_detail_fragment, name="detail-fragment"),
]

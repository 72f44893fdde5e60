"""Mounted at /ops/incidents/ (opsportal/urls.py)."""

from django.urls import path

from reliability.incidents.views import actions, pages, report

app_name = "incidents-ops"
urlpatterns = [
    path("", pages.incident_list, name="list"),
    path("fragment/", pages.incident_list_fragment, name="list-fragment"),
    path("report/", report.incident_report, name="report"),
    path("report.csv", report.incident_report_csv, name="report-csv"),
    path("<int:pk>/", pages.incident_detail, name="detail"),
    path("<int:pk>/fragment/", pages.incident_detail_fragment, name="detail-fragment"),
    path("<int:pk>/act/", actions.incident_action, name="act"),
]

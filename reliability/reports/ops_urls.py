"""Mounted at /ops/reports/ (opsportal/urls.py)."""

from django.urls import path

from reliability.reports.views import reliability_report_page

app_name = "reports-ops"
urlpatterns = [
    path("reliability/", reliability_report_page, name="reliability"),
]

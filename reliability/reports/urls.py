"""Mounted under /api/v1/ (opsportal/api/urls.py)."""

from django.urls import path

from reliability.reports.api import reliability_report_csv_view, reliability_report_view

urlpatterns = [
    path("reports/reliability/", reliability_report_view, name="reports-reliability"),
    # the suffix form of ?format=csv (DRF reads the `format` kwarg)
    path("reports/reliability.csv", reliability_report_csv_view, {"format": "csv"}, name="reports-reliability-csv"),
]

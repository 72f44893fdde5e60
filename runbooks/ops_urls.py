"""Mounted at /ops/runbooks/ (opsportal/urls.py)."""

from django.urls import path

from runbooks import views

app_name = "runbooks-ops"
urlpatterns = [
    path("", views.runbook_list_page, name="list"),
    path("new/", views.runbook_create_page, name="create"),
    path("<slug:slug>/", views.runbook_detail_page, name="detail"),
    path("<slug:slug>/edit/", views.runbook_edit_page, name="edit"),
    path("<slug:slug>/diff/", views.runbook_diff_page, name="diff"),
    path("<slug:slug>/review/", views.runbook_review, name="review"),
]

"""Mounted at /ops/chaos/ (opsportal/urls.py)."""

from django.urls import path

from chaos.views import actions, pages

app_name = "chaos-ops"
urlpatterns = [
    path("", pages.chaos_page, name="page"),
    path("fragment/drills/", pages.drills_fragment, name="drills-fragment"),
    path("fragment/run/", pages.run_fragment, name="run-fragment"),
    path("runs/<int:pk>/report/", pages.run_report, name="report"),
    path("kill-switch/", actions.kill_switch_action, name="kill-switch"),
    path("<int:pk>/act/", actions.drill_action, name="act"),
]

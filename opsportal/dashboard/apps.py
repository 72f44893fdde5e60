from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "opsportal.dashboard"
    label = "dashboard"
    verbose_name = "Live dashboard"

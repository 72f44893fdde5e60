from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "opsportal.api"
    label = "api"
    verbose_name = "API conventions"

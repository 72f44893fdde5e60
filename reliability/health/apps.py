from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "reliability.health"
    label = "health"
    verbose_name = "Health"

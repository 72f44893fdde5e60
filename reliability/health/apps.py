from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "reliability.health"
    label = "health"
    verbose_name = "Health"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reliability.health.degradation import wiring as degradation_wiring

        degradation_wiring.ready()  # degradation panel, roles, slow-query monitor (health-degrade)

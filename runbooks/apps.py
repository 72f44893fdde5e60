from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from runbooks.panels import OVERDUE_PANEL

        register_panel(OVERDUE_PANEL)

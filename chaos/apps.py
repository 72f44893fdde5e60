from django.apps import AppConfig


class ChaosConfig(AppConfig):
    name = "chaos"
    verbose_name = "Chaos drills"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from chaos.seams import install_db_latency_wrapper
        from chaos.panels import CHAOS_PANEL
        from opsportal.dashboard.panels import register_panel

        # Every new portal DB connection carries the db-latency seam (a dict lookup when idle).
        connection_created.connect(install_db_latency_wrapper, dispatch_uid="chaos.db_latency_seam")
        register_panel(CHAOS_PANEL)

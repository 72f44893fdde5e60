from django.apps import AppConfig


class ChaosConfig(AppConfig):
    name = "chaos"
    verbose_name = "Chaos drills"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from chaos.panels import CHAOS_PANEL
        from chaos.seams import install_db_latency_wrapper
        from opsportal.dashboard.panels import register_panel

        # Every new portal DB connection carries the db-latency seam (a dict lookup when idle).
        connection_created.connect(install_db_latency_wrapper, dispatch_uid="chaos.db_latency_seam")
        register_panel(CHAOS_PANEL)

        from chaos.services.catalog import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="chaos.scenario_catalog_sync")

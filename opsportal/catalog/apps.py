from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "opsportal.catalog"
    label = "catalog"
    verbose_name = "Service catalog"

    def ready(self) -> None:
        from opsportal.catalog.panels import RECENT_CHANGES
        from opsportal.dashboard.panels import register_panel

        register_panel(RECENT_CHANGES)

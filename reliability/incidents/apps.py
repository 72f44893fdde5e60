from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "reliability.incidents"
    label = "incidents"
    verbose_name = "Incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from opsportal.events.relay import subscribe
        from reliability.incidents import metrics
        from reliability.incidents.panels import INCIDENTS_PANEL
        from reliability.incidents.portal_signals import RELAY_KEY, portal_signal_relay

        metrics.register()
        # The portal's own incidents: breaker and DLQ outbox events → alerts of source "portal".
        subscribe(RELAY_KEY, portal_signal_relay)
        register_panel(INCIDENTS_PANEL)  # open incidents by severity on /ops/

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "reliability.webhooks"
    label = "webhooks"
    verbose_name = "Webhook gateway"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from opsportal.events.relay import subscribe
        from reliability.webhooks import metrics
        from reliability.webhooks.panels import DLQ_PANEL
        from reliability.webhooks.services.subscriptions import RELAY_KEY, outbound_event_relay

        register_panel(DLQ_PANEL)
        metrics.register()
        # Outbound event subscriptions: committed outbox events → subscribed destinations.
        subscribe(RELAY_KEY, outbound_event_relay)

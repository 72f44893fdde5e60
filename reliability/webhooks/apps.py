from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "reliability.webhooks"
    label = "webhooks"
    verbose_name = "Webhook gateway"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from reliability.webhooks import dlq_metrics
        from reliability.webhooks.panels import DLQ_PANEL

        register_panel(DLQ_PANEL)
        dlq_metrics.register()

        from opsportal.events.relay import subscribe
        from reliability.webhooks.subscriptions import RELAY_KEY, outbound_event_relay

        # Outbound event subscriptions: committed outbox events → subscribed destinations.
        subscribe(RELAY_KEY, outbound_event_relay)

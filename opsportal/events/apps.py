from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "opsportal.events"
    label = "events"
    verbose_name = "Events (outbox)"

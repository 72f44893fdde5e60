"""Webhook models, split by concern: configuration, traffic and the dead-letter queue."""

from reliability.webhooks.models.config import ONE_MIB, WebhookDestination, WebhookRoute, WebhookSource
from reliability.webhooks.models.dlq import PORTAL_PROVIDER, DlqReplay, WebhookFailure
from reliability.webhooks.models.traffic import Delivery, DeliveryAttempt, WebhookEvent, WebhookRejection

__all__ = [
    "ONE_MIB",
    "PORTAL_PROVIDER",
    "Delivery",
    "DlqReplay",
    "DeliveryAttempt",
    "WebhookDestination",
    "WebhookEvent",
    "WebhookFailure",
    "WebhookRejection",
    "WebhookRoute",
    "WebhookSource",
]

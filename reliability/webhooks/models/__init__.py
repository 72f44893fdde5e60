"""Webhook models, split by concern: configuration and traffic."""

from reliability.webhooks.models.config import ONE_MIB, WebhookDestination, WebhookRoute, WebhookSource
from reliability.webhooks.models.traffic import (
    Delivery,
    DeliveryAttempt,
    WebhookEvent,
    WebhookFailure,
    WebhookRejection,
)

__all__ = [
    "ONE_MIB",
    "Delivery",
    "DeliveryAttempt",
    "WebhookDestination",
    "WebhookEvent",
    "WebhookFailure",
    "WebhookRejection",
    "WebhookRoute",
    "WebhookSource",
]

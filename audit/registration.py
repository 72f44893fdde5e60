"""django-auditlog is the field-diff net for configuration models only.

It cannot see update()/bulk writes; those go through services that write our
own hash-chained AuditEntry. Models register here as their apps land.
"""

from django.apps import apps

AUDITLOG_MODELS = [
    "catalog.Service",
    "accounts.IntegrationToken",
    "breakers.CircuitBreaker",
    "webhooks.WebhookSource",
    "webhooks.WebhookDestination",
]

# Per-model register() options. Secrets never enter a diff (tests check these fields exist).
AUDITLOG_OPTIONS: dict[str, dict] = {
    "accounts.IntegrationToken": {"exclude_fields": ["token_hash"]},
    "webhooks.WebhookSource": {"exclude_fields": ["secrets"]},
    "webhooks.WebhookDestination": {"exclude_fields": ["signing_secret"]},
}


def register_auditlog_models() -> None:
    from auditlog.registry import auditlog

    for label in AUDITLOG_MODELS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if not auditlog.contains(model):
            auditlog.register(model, **AUDITLOG_OPTIONS.get(label, {}))

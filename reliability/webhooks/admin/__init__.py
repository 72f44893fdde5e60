"""Admin for the webhook gateway: configuration through the services, traffic read-only, the DLQ's actions.

Forms validate without side effects; ``save_model``/``delete_model`` and the
actions call the services (STYLE.md, "No logic in forms").
"""

from reliability.webhooks.admin import config, dlq, traffic  # noqa: F401 - each module registers its ModelAdmins

"""The webhook gateway's REST API: configuration (``config``) and the dead-letter queue (``dlq``)."""

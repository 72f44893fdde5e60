"""Webhook gateway: signed ingestion, deliveries, dead-letter queue (DESIGN §7.2)."""

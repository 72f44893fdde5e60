"""Plain Django views of the webhook gateway: ``ingest`` (signed ingestion) and ``dlq`` (the /ops/ panel's buttons)."""

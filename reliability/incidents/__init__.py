"""Alerts become incidents: intake, lifecycle, silences; escalation and notifications build on these models."""

"""Placeholder replaced in step 2."""

RELAY_KEY = "incidents.portal_signals"


def portal_signal_relay(event) -> None:
    return None

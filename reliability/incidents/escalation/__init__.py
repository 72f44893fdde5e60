"""Pure escalation logic (no database): who is on call, what fires next, what a page says.

The services in ``reliability.incidents.services.escalation`` and
``...notifications`` feed these functions model rows and write the results.
"""

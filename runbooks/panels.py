"""The "Overdue runbooks" panel on /ops/ (refreshed on runbook.* events)."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from runbooks.selectors import runbooks_overdue

    return {"rows": runbooks_overdue(limit=10)}


OVERDUE_PANEL = Panel(
    key="runbooks-overdue",
    title="Overdue runbooks",
    template="runbooks/panel_overdue.html",
    domain="runbook",
    context=_context,
    order=70,
)

"""The "Chaos drills" panel on /ops/ (refreshed on chaos.* events); the full page is /ops/chaos/."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from chaos.selectors import drills_for_panel, kill_switch_current, runs_active

    return {"drills": drills_for_panel(limit=8), "running": runs_active(), "kill_switch": kill_switch_current()}


CHAOS_PANEL = Panel(key="chaos", title="Chaos drills", template="chaos/panel.html", domain="chaos", context=_context, order=80)

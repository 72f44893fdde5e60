"""The breakers panel on /ops/ (refreshed whenever a breaker.* event arrives)."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from opsportal.accounts.roles import OPERATOR, has_role
    from reliability.breakers.selectors import breaker_list, breaker_live_stats

    breakers = list(breaker_list()[:50])
    stats = breaker_live_stats([b.name for b in breakers])
    rows = [{"breaker": b, "live": stats.get(b.name, {})} for b in breakers]
    return {
        "rows": rows,
        "can_act": has_role(request.user, OPERATOR),
        "error": getattr(request, "breaker_panel_error", ""),
        "actions": [("force_open", "Force open"), ("force_close", "Force close"), ("reset", "Reset"), ("disable", "Disable")],
    }


BREAKERS_PANEL = Panel(
    key="breakers",
    title="Circuit breakers",
    template="breakers/panel.html",
    domain="breaker",
    context=_context,
    order=20,
)

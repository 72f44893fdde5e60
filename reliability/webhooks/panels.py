"""The DLQ panel on /ops/: open items, live (refreshed on every dlq.* event), with retry/discard."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel

PANEL_ROWS = 50


def _context(request) -> dict:
    from opsportal.accounts.roles import OPERATOR, has_role
    from reliability.webhooks.selectors.dlq import alert_threshold, dlq_depth, dlq_list

    rows = list(dlq_list()[:PANEL_ROWS])
    depth = len(rows) if len(rows) < PANEL_ROWS else dlq_depth()
    return {
        "rows": rows,
        "depth": depth,
        "more": max(0, depth - len(rows)),
        "threshold": alert_threshold(),
        "can_act": has_role(request.user, OPERATOR),
        "error": getattr(request, "dlq_panel_error", ""),
        "notice": getattr(request, "dlq_panel_notice", ""),
    }


DLQ_PANEL = Panel(
    key="dlq",
    title="Dead-letter queue",
    template="webhooks/dlq_panel.html",
    domain="dlq",
    context=_context,
    order=30,
)

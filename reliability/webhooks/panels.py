"""The DLQ panel on /ops/: open issues (groups) and items, replay progress, live, with retry/discard.

Refreshed on every dlq.* event; while a replay is running it also re-reads
itself every 2 s (htmx polling) so done/total, rate and ETA move.
"""

from __future__ import annotations

from opsportal.dashboard.panels import Panel

PANEL_ROWS = 50
PANEL_GROUPS = 10


def _context(request) -> dict:
    from opsportal.accounts.roles import OPERATOR, has_role
    from reliability.webhooks.selectors.dlq import alert_threshold, dlq_depth, dlq_list
    from reliability.webhooks.selectors.dlq_groups import dlq_groups, replays_recent

    rows = list(dlq_list()[:PANEL_ROWS])
    replays = replays_recent()
    depth = len(rows) if len(rows) < PANEL_ROWS else dlq_depth()
    return {
        "rows": rows,
        "depth": depth,
        "more": max(0, depth - len(rows)),
        "threshold": alert_threshold(),
        "groups": dlq_groups(limit=PANEL_GROUPS) if rows else [],
        "replays": replays,
        "replaying": any(not r.finished for r in replays),
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

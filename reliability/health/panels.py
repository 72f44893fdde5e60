"""The "System health" panel on /ops/ (refreshed whenever a health.* or worker.* event arrives)."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from reliability.health.selectors import check_list, worker_counts

    checks = list(check_list())
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("ok", "warn", "fail")}
    return {"counts": counts, "failing": [c for c in checks if c.status != "ok"][:8], "workers": worker_counts(),
            "total": len(checks)}


HEALTH_PANEL = Panel(key="health", title="System health", template="health/panel.html", domain="health",
                     context=_context, order=20)

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


def register_sentences() -> None:
    """The activity feed's words for health events (opsportal/dashboard/sentences.py)."""
    from opsportal.dashboard.sentences import sentence_for

    @sentence_for("health.check_changed")
    def _check_changed(data: dict, event_type: str) -> str:
        was = data.get("previous") or "new"
        return f"Health check {data.get('check', '?')}: {was} → {data.get('status', '?')}"

    @sentence_for("worker.stale", "worker.recovered", "worker.stopped")
    def _worker(data: dict, event_type: str) -> str:
        verb = {"worker.stale": "stopped beating (stale)", "worker.recovered": "is beating again",
                "worker.stopped": "shut down cleanly"}[event_type]
        return f"Worker {data.get('worker_id', '?')} {verb}"

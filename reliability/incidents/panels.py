"""The "Open incidents" panel on /ops/ (refreshed whenever an incident.* event arrives)."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from reliability.incidents.selectors import open_counts_by_severity

    counts = open_counts_by_severity()
    return {"counts": sorted(counts.items()), "total": sum(counts.values())}


INCIDENTS_PANEL = Panel(
    key="incidents",
    title="Open incidents",
    template="incidents/panel.html",
    domain="incident",
    context=_context,
    order=10,
)


def register_sentences() -> None:
    """The activity feed's words for incident events the generic sentence reads badly."""
    from opsportal.dashboard.sentences import sentence_for

    @sentence_for("incident.root_cause_hinted")
    def _hinted(data: dict, event_type: str) -> str:
        return f"Incident #{data.get('number', '?')} {data.get('title', '')}: {data.get('root_cause_hint', '')}"

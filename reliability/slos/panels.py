"""The "SLOs" panel on /ops/: states and the services whose budget is exhausted."""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    from reliability.slos.selectors import budget_exhausted_services, slo_list, state_counts

    return {"counts": state_counts(), "exhausted_services": sorted(budget_exhausted_services()),
            "worst": list(slo_list()[:5])}


SLO_PANEL = Panel(
    key="slos",
    title="SLOs and error budgets",
    template="slos/panel.html",
    domain="slo",
    context=_context,
    order=40,
)

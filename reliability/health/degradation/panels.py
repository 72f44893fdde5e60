"""The degradation card on /ops/ (refreshed on every health.* / degradation.changed event).

``card_context()`` is also what the /ops/health/ page's level slot renders
(template ``health/degradation_card.html``).
"""

from __future__ import annotations

from opsportal.dashboard.panels import Panel


def card_context(request=None) -> dict:
    from opsportal.accounts.roles import OPERATOR, has_role
    from reliability.health.degradation.selectors import degradation_state

    state = degradation_state()
    override = state["override"]
    return {
        "state": state,
        "since_display": _display(state["since"]),
        "expires_display": _display(override["expires_at"]) if override else "",
        "can_override": request is not None and has_role(request.user, OPERATOR),
    }


def _display(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else ""


DEGRADATION_PANEL = Panel(
    key="degradation",
    title="Degradation level",
    template="health/degradation_panel.html",
    domain="health",
    context=card_context,
    order=5,
)

"""Sign-in events: logins, logouts, failed logins — audited and emitted like any change."""

from __future__ import annotations

from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.accounts.names import Action, Event
from opsportal.events.services import emit

_AUTH_EVENTS = {Action.LOGIN: Event.LOGIN, Action.LOGOUT: Event.LOGOUT, Action.LOGIN_FAILED: Event.LOGIN_FAILED}


@transaction.atomic
def auth_event_record(*, action: str, actor: Actor, username: str = "", source: str = "web") -> None:
    """Logins, logouts and failed logins: one audit entry and one event each (same name)."""
    if action not in _AUTH_EVENTS:
        raise ValueError(action)
    # Target ids hold 100 characters; a failed login may name any 150-character username.
    target_id = (username or actor.label)[:100]
    entry = audit_record(actor=actor, action=Action(action), target=("auth.user", target_id) if username else None, source=source)
    emit(_AUTH_EVENTS[action], ("auth.user", target_id), {"username": username or actor.label, "audit_id": entry.pk})

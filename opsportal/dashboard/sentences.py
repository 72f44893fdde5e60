"""The activity feed in words: one sentence per event ("Webhook source demo created").

A small registry keyed by event type; an app registers a formatter for an event it emits when the
generic sentence is not good enough::

    from opsportal.dashboard.sentences import sentence_for

    @sentence_for("incident.opened")
    def _(data: dict, event_type: str) -> str:
        return f"Incident {data['title']} opened"

Every event without a formatter gets the fallback, built from its type and the first naming field
of its data ("webhook.source_created" + {"slug": "demo"} -> "Webhook source demo created").
Formatters get the event's public ``data`` only (what the socket already sends) and must never
fail: a formatter that raises falls back to the generic sentence. The text is plain (templates and
ops.js escape it / set it as textContent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Formatter = Callable[[dict, str], str]  # (event data, event type) -> sentence
_formatters: dict[str, Formatter] = {}

# Fields that name the thing an event is about, in order of preference.
NAME_FIELDS = ("name", "slug", "username", "title", "prefix")
# First segment of the type -> the noun a person reads.
SUBJECTS = {"catalog": "Service", "auth": "User", "token": "Token", "breaker": "Breaker", "webhook": "Webhook",
            "dlq": "Dead-letter queue", "audit": "Audit trail"}
MAX_LENGTH = 200


def sentence_for(*event_types: str) -> Callable[[Formatter], Formatter]:
    """Register the decorated function as the sentence of these event types."""

    def register(fn: Formatter) -> Formatter:
        for event_type in event_types:
            _formatters[event_type] = fn
        return fn

    return register


def _name(data: dict) -> str:
    for field in NAME_FIELDS:
        value = data.get(field)
        if isinstance(value, str | int) and str(value).strip():
            return str(value)
    return ""


def _words(text: str) -> str:
    return text.replace("_", " ").strip()


def fallback_sentence(event_type: str, data: dict, aggregate: dict | None = None) -> str:
    """"webhook.source_created" {"slug": "demo"} -> "Webhook source demo created"."""
    segment, _, action = event_type.partition(".")
    subject = SUBJECTS.get(segment, _words(segment).capitalize() or "Event")
    noun, _, verb = action.rpartition("_")
    name = _name(data) or (str((aggregate or {}).get("id") or "") if not noun else "")
    if not verb:
        verb = action
    noun = "" if _words(noun).lower() == subject.lower() else _words(noun)
    parts = [subject, noun, name, _words(verb)]
    return " ".join(p for p in parts if p) or event_type


def _changes(data: dict) -> str:
    changes = data.get("changes")
    if isinstance(changes, dict) and changes:
        fields = sorted(str(k) for k in changes)
        shown = ", ".join(fields[:4]) + (f" and {len(fields) - 4} more" if len(fields) > 4 else "")
        return f" ({shown})"
    return ""


def _count(data: dict, one: str, many: str) -> str:
    count = data.get("count")
    if isinstance(count, int):
        return f"{count} {one if count == 1 else many}"
    return many


def _by(data: dict) -> str:
    actor = data.get("actor")
    return f" by {actor}" if isinstance(actor, str) and actor else ""


@sentence_for("catalog.service_created")
def _service_created(data: dict, event_type: str) -> str:
    team = f" for team {data['team']}" if data.get("team") else ""
    return f"Service {_name(data)} added to the catalog{team}"


@sentence_for("catalog.service_updated", "webhook.source_updated", "webhook.destination_updated", "breaker.configured")
def _updated(data: dict, event_type: str) -> str:
    return fallback_sentence(event_type, data) + _changes(data)


@sentence_for("auth.user_created")
def _user_created(data: dict, event_type: str) -> str:
    roles = data.get("roles") or []
    what = "superuser" if data.get("superuser") else (", ".join(map(str, roles)) if roles else "no role")
    return f"User {_name(data)} created ({what})"


@sentence_for("auth.login", "auth.logout", "auth.login_failed")
def _auth(data: dict, event_type: str) -> str:
    what = {"auth.login": "signed in", "auth.logout": "signed out", "auth.login_failed": "failed to sign in"}
    return f"{_name(data) or 'Someone'} {what[event_type]}"


@sentence_for("token.issued")
def _token_issued(data: dict, event_type: str) -> str:
    scopes = ", ".join(map(str, data.get("scopes") or []))
    return f"Token {data.get('prefix', '')} issued for {data.get('service', '?')}" + (f" ({scopes})" if scopes else "")


@sentence_for("token.revoked")
def _token_revoked(data: dict, event_type: str) -> str:
    return f"Token {data.get('prefix', '')} of {data.get('service', '?')} revoked"


@sentence_for("breaker.registered")
def _breaker_registered(data: dict, event_type: str) -> str:
    return f"Breaker {_name(data)} registered"


@sentence_for("breaker.opened", "breaker.closed", "breaker.half_opened")
def _breaker_state(data: dict, event_type: str) -> str:
    state = {"breaker.opened": "opened", "breaker.closed": "closed", "breaker.half_opened": "half-open (probing)"}
    return f"Breaker {_name(data)} {state.get(event_type, 'changed state')}"


@sentence_for("webhook.destination_created")
def _destination_created(data: dict, event_type: str) -> str:
    state = "" if data.get("enabled", True) else " (disabled)"
    return f"Webhook destination {_name(data)} created{state}"


@sentence_for("webhook.destination_disabled")
def _destination_disabled(data: dict, event_type: str) -> str:
    reason = data.get("reason")
    return f"Webhook destination {_name(data)} disabled" + (f": {reason}" if reason else "")


@sentence_for("webhook.payloads_purged")
def _payloads_purged(data: dict, event_type: str) -> str:
    return f"{_count(data, 'delivered payload', 'delivered payloads')} purged (retention)"


@sentence_for("dlq.added")
def _dlq_added(data: dict, event_type: str) -> str:
    where = f" for {data['destination']}" if data.get("destination") else ""
    return f"{_count(data, 'delivery', 'deliveries')} dead-lettered{where}"


@sentence_for("dlq.retried")
def _dlq_retried(data: dict, event_type: str) -> str:
    via = f" from the {data['source']}" if data.get("source") else ""
    return f"{_count(data, 'DLQ item', 'DLQ items')} retried{via}"


@sentence_for("dlq.discarded")
def _dlq_discarded(data: dict, event_type: str) -> str:
    reason = f": {data['reason']}" if data.get("reason") else ""
    return f"{_count(data, 'DLQ item', 'DLQ items')} discarded{reason}"


@sentence_for("dlq.threshold_exceeded")
def _dlq_over(data: dict, event_type: str) -> str:
    return f"Dead-letter queue at {data.get('depth', '?')} items, above the threshold of {data.get('threshold', '?')}"


@sentence_for("dlq.threshold_cleared")
def _dlq_cleared(data: dict, event_type: str) -> str:
    return f"Dead-letter queue back to {data.get('depth', '?')} items, within the threshold of {data.get('threshold', '?')}"


@sentence_for("audit.exported")
def _audit_exported(data: dict, event_type: str) -> str:
    return f"Audit trail exported{_by(data)}"


def event_sentence(envelope: dict) -> str:
    """The sentence for a public event envelope ``{type, data, aggregate, ...}``; never raises."""
    event_type = str(envelope.get("type") or "")
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    aggregate = envelope.get("aggregate") if isinstance(envelope.get("aggregate"), dict) else {}
    formatter = _formatters.get(event_type)
    text = ""
    if formatter is not None:
        try:
            text = formatter(data, event_type)
        except Exception:  # a formatter bug must not break the feed
            log.warning("event sentence formatter failed", extra={"event_type": event_type}, exc_info=True)
            text = ""
    if not text:
        text = fallback_sentence(event_type, data, aggregate)
    text = " ".join(text.split())
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def registered_types() -> set[str]:
    return set(_formatters)


__all__ = ["event_sentence", "fallback_sentence", "registered_types", "sentence_for"]

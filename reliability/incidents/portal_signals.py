"""The portal's own incidents: breaker and DLQ outbox events become alerts of source "portal".

Each alarm is an ``Alert`` row (its own state, not "whichever event came
last"): ``breaker.opened`` fires ``breaker:<name>``, ``breaker.closed`` or a
reset resolves it, and so the incident opens and auto-resolves through the
same intake as Alertmanager's. The event-name mapping lives here only.
"""

from __future__ import annotations

from audit.actors import Actor
from reliability.incidents.models import AlertSource
from reliability.incidents.names import Source
from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

RELAY_KEY = "incidents.portal_signals"

# outbox event type → (alarm kind, fires?)
SIGNALS: dict[str, tuple[str, bool]] = {
    "breaker.opened": ("breaker", True),
    "breaker.closed": ("breaker", False),
    "breaker.reset": ("breaker", False),
    "dlq.threshold_exceeded": ("dlq", True),
    "dlq.threshold_cleared": ("dlq", False),  # the name on main today
    "dlq.recovered": ("dlq", False),  # the name the DLQ alarm may be renamed to
}


def _alarm(kind: str, data: dict) -> tuple[str, dict, dict]:
    if kind == "breaker":
        name = str(data.get("name") or "unknown")
        labels = {"alertname": "CircuitBreakerOpen", "breaker": name, "severity": "critical", "source": "portal"}
        return f"breaker:{name}", labels, {"summary": f"Circuit breaker {name} is open"}
    depth = data.get("depth") or data.get("open")
    labels = {"alertname": "DeadLetterQueueOverThreshold", "severity": "error", "source": "portal"}
    summary = "Dead-letter queue over its threshold" + (f" ({depth} open)" if depth is not None else "")
    return "dlq", labels, {"summary": summary}


def portal_signal_relay(event) -> None:
    """Relay subscriber (runs after the emitting transaction committed; at-least-once, idempotent)."""
    signal = SIGNALS.get(event.type)
    if signal is None:
        return
    kind, fires = signal
    key, labels, annotations = _alarm(kind, event.data or {})
    alert = AlertIn(fingerprint=key, status="firing" if fires else "resolved", labels=labels,
                    annotations=annotations, starts_at=event.created_at, raw={"event": str(event.uuid),
                                                                              "type": event.type})
    group = GroupIn(source=AlertSource.PORTAL, group_key=f"portal:{key}", alerts=[alert], group_labels=labels,
                    common_labels=labels, common_annotations=annotations)
    alerts_ingest(group=group, actor=Actor.for_system("portal"), source=Source.PORTAL)

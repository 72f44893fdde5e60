"""The portal's own incidents: breaker and DLQ outbox events become alerts of source "portal".

Each alarm is an ``Alert`` row (its own state): ``breaker.opened`` fires
``breaker:<name>``, ``breaker.closed`` or a reset resolves it, and so the
incident opens and auto-resolves through the same intake as Alertmanager's.
The event-name mapping lives here only.

The relay subscriber only enqueues ``incidents.portal_signal`` (the relay stays
fast, and an intake failure never touches the emitter). The task applies the
alarm's *current* state, read from its source (the breaker row; the last DLQ
threshold event), not the event it was given: two signals handled out of
order by two workers still end in the right state.
"""

from __future__ import annotations

import logging

from audit.actors import Actor
from reliability.incidents.models import AlertSource
from reliability.incidents.names import Source
from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

RELAY_KEY = "incidents.portal_signals"
log = logging.getLogger(__name__)

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
    """Relay subscriber (after the emitting transaction committed): hand the signal to a worker."""
    if event.type not in SIGNALS:
        return
    from celery import current_app

    try:
        current_app.send_task("incidents.portal_signal", args=[event.pk], retry=False)
    except Exception as exc:
        # The broker is away: the event stays unpublished and the outbox sweep offers it again
        # once workers run (the signal task reads the alarm's state then: idempotent).
        from opsportal.events.relay import SubscriberRetry

        raise SubscriberRetry(f"could not enqueue portal signal {event.pk} ({event.type}): {type(exc).__name__}") from exc


def _fires_now(kind: str, data: dict, fallback: bool) -> bool:
    from opsportal.events.models import OutboxEvent

    if kind == "breaker":
        from reliability.breakers.models import CircuitBreaker

        state = CircuitBreaker.objects.filter(name=str(data.get("name") or "")).values_list("state", flat=True).first()
        return fallback if state is None else state in ("open", "half_open")
    last = (OutboxEvent.objects.filter(type__in=[t for t, (k, _) in SIGNALS.items() if k == "dlq"])
            .order_by("-id").values_list("type", flat=True).first())
    return fallback if last is None else SIGNALS[last][1]


def portal_signal_apply(*, event_id: int) -> None:
    """Bring the alarm named by this outbox event in line with its source's current state."""
    from opsportal.events.models import OutboxEvent

    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.type not in SIGNALS:
        return
    kind, fires = SIGNALS[event.type]
    fires = _fires_now(kind, event.data or {}, fires)
    key, labels, annotations = _alarm(kind, event.data or {})
    alert = AlertIn(fingerprint=key, status="firing" if fires else "resolved", labels=labels,
                    annotations=annotations, starts_at=event.created_at, raw={"event": str(event.uuid),
                                                                              "type": event.type})
    group = GroupIn(source=AlertSource.PORTAL, group_key=f"portal:{key}", alerts=[alert], group_labels=labels,
                    common_labels=labels, common_annotations=annotations)
    alerts_ingest(group=group, actor=Actor.for_system("portal"), source=Source.PORTAL)

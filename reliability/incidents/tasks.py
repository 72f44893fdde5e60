"""Celery entry points: thin, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task

from reliability.incidents.portal_signals import portal_signal_apply
from reliability.incidents.services.silences import silences_push


@shared_task(name="incidents.push_silence", ignore_result=True)
def push_silence(silence_id: int) -> dict:
    """Create (or expire) this silence in Alertmanager now, if still due and not held by another worker."""
    return silences_push(silence_ids=[silence_id])


@shared_task(name="incidents.sweep_silences", ignore_result=True, expires=30)
def sweep_silences() -> dict:
    """Beat: retry pending silences and expire resolved ones whose turn has come (SKIP LOCKED)."""
    return silences_push()


@shared_task(name="incidents.portal_signal", ignore_result=True)
def portal_signal(event_id: int) -> None:
    """A breaker or DLQ alarm changed: open or resolve its incident (idempotent)."""
    portal_signal_apply(event_id=event_id)


@shared_task(name="incidents.sweep_escalations", ignore_result=True, expires=30)
def sweep_escalations() -> dict:
    """Beat (every few seconds) and the lifecycle's on-commit kick: fire due steps, expire acknowledgements."""
    from reliability.incidents.services.escalation import ack_timeout_sweep, escalation_sweep

    restarted = ack_timeout_sweep()
    return {"ack_expired": restarted, **escalation_sweep()}


@shared_task(name="incidents.sweep_notifications", ignore_result=True, expires=30)
def sweep_notifications() -> dict:
    """Beat: pages whose sender died (lease ran out) or that were never delivered after commit."""
    from reliability.incidents.services.notifications import notifications_deliver

    return notifications_deliver()


@shared_task(name="incidents.sweep_maintenance", ignore_result=True, expires=30)
def sweep_maintenance() -> dict:
    """Beat: put maintenance windows' start and end on the timelines of the incidents they cover."""
    from reliability.incidents.services.maintenance import maintenance_sweep

    return maintenance_sweep()

"""The journal writer and the heartbeat (engine bookkeeping, see engine/__init__.py)."""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone

from chaos.models import ChaosJournalEntry, ChaosRun
from chaos.names import Event
from opsportal.events.services import emit


def _json_safe(data) -> dict:
    return json.loads(json.dumps(data or {}, default=str))


def journal_append(run_id: int, kind: str, message: str, data: dict | None = None) -> ChaosJournalEntry:
    with transaction.atomic():
        entry = ChaosJournalEntry.objects.create(run_id=run_id, at=timezone.now(), kind=kind,
                                                 message=str(message)[:500], data=_json_safe(data))
        emit(Event.RUN_JOURNAL, ("chaos.chaosrun", run_id),
             {"run": run_id, "entry": entry.pk, "at": entry.at.isoformat(), "kind": kind, "message": entry.message,
              "data": entry.data})
    return entry


def heartbeat(run_id: int) -> str:
    """Stamp the run alive; returns its state (a stop requested elsewhere shows here)."""
    ChaosRun.objects.filter(pk=run_id, state__in=ChaosRun.ACTIVE_STATES).update(heartbeat_at=timezone.now())
    return ChaosRun.objects.filter(pk=run_id).values_list("state", flat=True).first() or ""

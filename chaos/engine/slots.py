"""From a beat firing to a claimed slot: which scheduled time this firing answers."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from audit.actors import Actor
from chaos.models import ChaosDrill
from chaos.selectors import cron_slot_at_or_before
from chaos.services import StartResult, run_start

BEAT = Actor.for_system("chaos:beat")


def slot_for(drill: ChaosDrill, now: datetime) -> datetime | None:
    """The one-off's time, or the latest cron tick ≤ now (so a late or repeated firing maps to the same slot)."""
    schedule = drill.schedule or {}
    if "at" in schedule:
        return datetime.fromisoformat(schedule["at"])
    if "cron" in schedule:
        return cron_slot_at_or_before(schedule["cron"], schedule.get("timezone", "UTC"), now)
    return None


def start_due_slot(drill_id: int, *, now: datetime | None = None, execute: bool = True, source: str = "beat") -> StartResult:
    now = now or timezone.now()
    drill = ChaosDrill.objects.filter(pk=drill_id).first()
    if drill is None:
        return StartResult(None, False, "drill gone")
    slot = slot_for(drill, now)
    if slot is None:
        return StartResult(None, False, "no slot")
    result = run_start(drill_id=drill_id, slot=slot, actor=BEAT, source=source, now=now)
    if result.started and execute:
        from chaos.engine.runner import execute_run

        execute_run(result.run.pk)
    return result

"""Reads of the chaos app: drills, runs, journals, the kill switch, the next slot."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from chaos.models import ChaosDrill, ChaosFault, ChaosJournalEntry, ChaosKillSwitch, ChaosRun


def kill_switch_current() -> ChaosKillSwitch | None:
    """The engaged kill switch, if any."""
    return ChaosKillSwitch.objects.filter(active=True).first()


def drills_for_panel(limit: int = 50) -> list[ChaosDrill]:
    return list(ChaosDrill.objects.select_related("scenario", "created_by", "approved_by", "service")[:limit])


def runs_active() -> list[ChaosRun]:
    return list(ChaosRun.objects.filter(state__in=ChaosRun.ACTIVE_STATES).select_related("drill", "drill__scenario"))


def run_journal(run_id: int, after_id: int = 0) -> list[ChaosJournalEntry]:
    return list(ChaosJournalEntry.objects.filter(run_id=run_id, id__gt=after_id).order_by("id"))


def run_root_cause_hints(run_id: int) -> list:
    """The root-cause hints this run attached to incidents (timeline rows), oldest first."""
    from reliability.incidents.selectors import root_cause_hints_keyed

    return list(root_cause_hints_keyed(f"chaos-run:{run_id}").select_related("incident").order_by("at", "id"))


def faults_live(run_id: int | None = None):
    qs = ChaosFault.objects.filter(removed_at__isnull=True)
    return qs.filter(run_id=run_id) if run_id is not None else qs


def parse_cron(expr: str):
    """A celery ``crontab`` from "m h dom mon dow" (ValueError on anything else)."""
    from celery.schedules import crontab

    parts = expr.split()
    if len(parts) != 5:
        raise ValueError("cron needs five fields: minute hour day-of-month month day-of-week")
    minute, hour, dom, month, dow = parts
    return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)


def _matches(cron, local: datetime) -> bool:
    return (local.minute in cron.minute and local.hour in cron.hour and local.day in cron.day_of_month
            and local.month in cron.month_of_year and (local.isoweekday() % 7) in cron.day_of_week)


def cron_slot_at_or_before(expr: str, tz: str, now: datetime, horizon: timedelta = timedelta(days=8)) -> datetime | None:
    """The latest cron tick ≤ ``now``: the slot a late or repeated beat firing answers."""
    cron, zone = parse_cron(expr), ZoneInfo(tz or "UTC")
    local = now.astimezone(zone).replace(second=0, microsecond=0)
    for _ in range(int(horizon.total_seconds() // 60)):
        if _matches(cron, local):
            return local.astimezone(ZoneInfo("UTC"))
        local -= timedelta(minutes=1)
    return None


def cron_next_slot(expr: str, tz: str, now: datetime, horizon: timedelta = timedelta(days=8)) -> datetime | None:
    cron, zone = parse_cron(expr), ZoneInfo(tz or "UTC")
    local = (now.astimezone(zone) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    for _ in range(int(horizon.total_seconds() // 60)):
        if _matches(cron, local):
            return local.astimezone(ZoneInfo("UTC"))
        local += timedelta(minutes=1)
    return None


def drill_next_slot(drill: ChaosDrill, now: datetime | None = None) -> datetime | None:
    """When the drill fires next (scheduled drills only)."""
    if drill.state not in (ChaosDrill.State.SCHEDULED, ChaosDrill.State.RUNNING):
        return None
    now = now or timezone.now()
    schedule = drill.schedule or {}
    if "at" in schedule:
        if drill.state == ChaosDrill.State.RUNNING:
            return None  # the one-off is running now
        at = datetime.fromisoformat(schedule["at"])
        return None if drill.runs.filter(slot=at).exists() else at
    if "cron" in schedule:
        return cron_next_slot(schedule["cron"], schedule.get("timezone", "UTC"), now)
    return None


def report_rows(start: datetime, end: datetime) -> list[dict]:
    """The reliability report's chaos section: one row per run whose slot falls in [start, end)."""
    runs = (ChaosRun.objects.filter(slot__gte=start, slot__lt=end)
            .select_related("drill", "drill__scenario", "drill__service").order_by("slot", "id"))
    return [{
        "service": run.drill.service.name if run.drill.service_id else "",
        "drill": run.drill.name, "scenario": run.drill.scenario.slug, "state": run.state,
        "verdict": run.verdict, "score": run.score, "dry_run": run.dry_run,
        "slot": run.slot, "started_at": run.started_at, "ended_at": run.ended_at,
    } for run in runs]

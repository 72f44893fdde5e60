"""The kill switch: one lever that halts every running drill and refuses new starts until released."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from chaos.models import ChaosKillSwitch, ChaosRun
from chaos.names import Action, Event
from chaos.services._common import InvalidTransition, may_stop, require
from chaos.services.runs import run_halt
from opsportal.events.services import emit
from reliability import faults as fault_store


@transaction.atomic
def kill_switch_engage(*, reason: str, actor: Actor, source: str) -> ChaosKillSwitch:
    """Engage (idempotent while engaged): halt running drills, clear every injected fault everywhere."""
    require(may_stop(actor), "the kill switch needs the chaos_operator role")
    switch = ChaosKillSwitch.objects.select_for_update().filter(active=True).first()
    if switch is None:
        switch = ChaosKillSwitch(engaged_by=actor.label[:200], reason=(reason or "")[:2000], engaged_at=timezone.now())
        try:
            with transaction.atomic():
                switch.save(force_insert=True)
        except IntegrityError:  # engaged concurrently
            switch = ChaosKillSwitch.objects.get(active=True)
        else:
            audit_record(actor=actor, action=Action.KILL_SWITCH_ENGAGE, target=switch, reason=switch.reason, source=source,
                         changes={"engaged": [False, True]})
            emit(Event.KILL_SWITCH_ENGAGED, switch, {"id": switch.pk, "by": switch.engaged_by, "reason": switch.reason})
    halted = []
    for run in ChaosRun.objects.filter(state__in=ChaosRun.ACTIVE_STATES).order_by("id"):
        run_halt(run_id=run.pk, reason=f"kill switch: {reason or 'engaged'}", actor=actor, source=source)
        halted.append(run.pk)
    fault_store.fault_clear()  # belt and braces: nothing injected survives the switch
    switch.halted_runs = halted
    return switch


@transaction.atomic
def kill_switch_release(*, actor: Actor, source: str, reason: str = "") -> ChaosKillSwitch:
    require(may_stop(actor), "the kill switch needs the chaos_operator role")
    switch = ChaosKillSwitch.objects.select_for_update().filter(active=True).first()
    if switch is None:
        raise InvalidTransition("the kill switch is not engaged")
    switch.active, switch.released_at, switch.released_by = False, timezone.now(), actor.label[:200]
    switch.save(update_fields=["active", "released_at", "released_by"])
    audit_record(actor=actor, action=Action.KILL_SWITCH_RELEASE, target=switch, reason=reason, source=source,
                 changes={"engaged": [True, False]})
    emit(Event.KILL_SWITCH_RELEASED, switch, {"id": switch.pk, "by": switch.released_by})
    return switch

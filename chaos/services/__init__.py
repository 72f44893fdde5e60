"""The only writers of the chaos app (row + audit entry + outbox event per call)."""

from chaos.services._common import ChaosError, ChaosPermissionDenied, ChaosRefused, InvalidTransition
from chaos.services.drills import (
    drill_approve,
    drill_cancel,
    drill_create,
    drill_schedule,
    drill_submit,
    drill_update,
)
from chaos.services.killswitch import kill_switch_engage, kill_switch_release
from chaos.services.runs import (
    StartResult,
    fault_record,
    faults_expire,
    run_abort,
    run_faults_remove,
    run_finish,
    run_halt,
    run_start,
)

__all__ = [
    "ChaosError", "ChaosPermissionDenied", "ChaosRefused", "InvalidTransition", "StartResult",
    "drill_approve", "drill_cancel", "drill_create", "drill_schedule", "drill_submit", "drill_update",
    "fault_record", "faults_expire", "kill_switch_engage", "kill_switch_release",
    "run_abort", "run_faults_remove", "run_finish", "run_halt", "run_start",
]

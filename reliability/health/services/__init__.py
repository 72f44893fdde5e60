"""The health app's writers (telemetry: no audit entries; docs/decisions.md "Health results are telemetry")."""

from reliability.health.services.results import Recorded, health_events_purge, health_results_record
from reliability.health.services.slowjobs import slow_job_record
from reliability.health.services.workers import (
    Beat,
    worker_heartbeat_record,
    worker_heartbeat_retire,
    workers_sweep,
)

__all__ = [
    "Beat",
    "Recorded",
    "health_events_purge",
    "health_results_record",
    "slow_job_record",
    "worker_heartbeat_record",
    "worker_heartbeat_retire",
    "workers_sweep",
]

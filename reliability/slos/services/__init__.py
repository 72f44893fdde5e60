"""The only code that changes SLO state (re-exported: callers import from here)."""

from reliability.slos.services.config import (
    correction_create,
    correction_update,
    slo_create,
    slo_delete,
    slo_update,
    tier_update,
)
from reliability.slos.services.evaluate import slos_evaluate
from reliability.slos.services.ingest import sli_buckets_upsert

__all__ = ["correction_create", "correction_update", "sli_buckets_upsert", "slo_create", "slo_delete",
           "slo_update", "slos_evaluate", "tier_update"]

"""The scenario registry: slug → class. The catalog rows (ChaosScenario) mirror it (migration 0002)."""

from __future__ import annotations

from chaos.scenarios.base import Invariant, RunContext, Scenario
from chaos.scenarios.database import DbLatency
from chaos.scenarios.infra import RedisHang, RestoreDrill, WorkerCrash
from chaos.scenarios.ingestion import BurstLoad, CorruptPayloads, DuplicateStorm
from chaos.scenarios.outbound import DependencyFailure, DependencyLatency

SCENARIOS: dict[str, type[Scenario]] = {
    cls.slug: cls
    for cls in (DependencyFailure, DependencyLatency, DbLatency, RedisHang, CorruptPayloads, DuplicateStorm,
                BurstLoad, WorkerCrash, RestoreDrill)
}


def scenario_for(slug: str) -> Scenario:
    return SCENARIOS[slug]()


def catalog_rows() -> list[dict]:
    return [{"slug": c.slug, "name": c.name, "description": c.description, "parameters_schema": c.schema}
            for c in SCENARIOS.values()]


__all__ = ["SCENARIOS", "Invariant", "RunContext", "Scenario", "catalog_rows", "scenario_for"]

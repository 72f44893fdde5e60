"""db-latency: every query on the portal's own connections takes longer (connection.execute_wrapper)."""

from __future__ import annotations

from chaos.scenarios.base import RunContext, Scenario
from chaos.seams import DB_TARGET


class DbLatency(Scenario):
    slug = "db-latency"
    name = "Database latency"
    description = "Adds latency to every query on the portal's own database connections (alias default)."
    schema = {
        "type": "object",
        "properties": {"latency_ms": {"type": "integer", "minimum": 1, "maximum": 5000},
                       "rate_percent": {"type": "integer", "minimum": 1, "maximum": 100}},
        "additionalProperties": False,
    }

    def apply(self, ctx: RunContext) -> None:
        rate = min(int(ctx.parameters.get("rate_percent", 100)), ctx.blast_radius)
        ctx.set_fault("db", DB_TARGET, latency_ms=int(ctx.parameters.get("latency_ms", 50)), probability=rate / 100)

    def observe(self, ctx: RunContext) -> dict:
        import time

        from django.db import connection

        from chaos.seams import db_not_exempt

        started = time.perf_counter()
        with db_not_exempt(), connection.cursor() as cursor:  # what the portal's own queries feel
            cursor.execute("SELECT 1")
        return {"select_1_ms": round((time.perf_counter() - started) * 1000, 1)}

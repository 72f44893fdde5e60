"""dependency-failure and dependency-latency: faults at the outbound seam (reliability/http.py)."""

from __future__ import annotations

from chaos.scenarios.base import Invariant, RunContext, Scenario


class DependencyFailure(Scenario):
    slug = "dependency-failure"
    name = "Dependency failure rate"
    description = "A destination or notification channel answers an error (5xx, timeout, connect) for X % of calls."
    schema = {
        "type": "object",
        "properties": {
            "error": {"oneOf": [{"type": "integer", "minimum": 500, "maximum": 599},
                                {"enum": ["timeout", "connect", "reset"]}]},
            "rate_percent": {"type": "integer", "minimum": 1, "maximum": 100},
            "expect_breaker_open": {"type": "boolean"},
            "settle_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
        },
        "additionalProperties": False,
    }

    def fault_kwargs(self, ctx: RunContext) -> dict:
        rate = int(ctx.parameters.get("rate_percent", 100))
        return {"error": ctx.parameters.get("error", 503), "probability": min(rate, ctx.blast_radius) / 100}

    def apply(self, ctx: RunContext) -> None:
        for target in ctx.targets:
            ctx.set_fault("outbound", target, **self.fault_kwargs(ctx))

    def observe(self, ctx: RunContext) -> dict:
        from chaos.engine.invariants import breaker_states

        return {"breakers": breaker_states(ctx.targets)}

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        from chaos.engine.invariants import breaker_opened_during

        found = super().invariants(ctx)
        if ctx.parameters.get("expect_breaker_open") and not ctx.dry_run:
            opened = breaker_opened_during(ctx)
            found.append(Invariant("breaker opened under the fault", bool(opened), 2,
                                   ", ".join(opened) or "no breaker of the targets opened"))
        return found


class DependencyLatency(DependencyFailure):
    slug = "dependency-latency"
    name = "Dependency timeout / latency"
    description = "Calls to a dependency take longer (added latency), or time out."
    schema = {
        "type": "object",
        "properties": {
            "latency_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
            "timeout": {"type": "boolean"},
            "rate_percent": {"type": "integer", "minimum": 1, "maximum": 100},
            "expect_breaker_open": {"type": "boolean"},
            "settle_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
        },
        "additionalProperties": False,
    }

    def fault_kwargs(self, ctx: RunContext) -> dict:
        rate = int(ctx.parameters.get("rate_percent", 100))
        kwargs = {"latency_ms": int(ctx.parameters.get("latency_ms", 500)), "probability": min(rate, ctx.blast_radius) / 100}
        if ctx.parameters.get("timeout"):
            kwargs["error"] = "timeout"
        return kwargs

"""What a scenario is: a small class that applies, observes and removes one kind of fault.

The engine (chaos/engine/) calls, in order: ``steady_state`` (before), ``apply`` (unless dry
run), ``tick`` and ``observe`` every loop, ``remove`` (always, also on abort), ``steady_state``
(after), then ``invariants``. Scenarios set faults only through ``ctx.set_fault`` so every fault
is recorded with its TTL and can be removed by any process (the sweep, the kill switch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Invariant:
    """One property the run must leave intact; ``weight`` feeds the score."""

    name: str
    passed: bool
    weight: int = 1
    detail: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "weight": self.weight, "detail": self.detail}


@dataclass
class RunContext:
    """What a scenario sees of the run (the engine builds it)."""

    run_id: int
    drill_id: int
    parameters: dict
    targets: list[str]
    dry_run: bool
    blast_radius: int  # percent
    started_at: datetime
    ends_at: datetime
    fault_expires_at: datetime
    journal: Callable[..., None]
    set_fault: Callable[..., None]  # set_fault(kind, target, **fault_kwargs)
    stopping: Callable[[], bool]  # True once the run must stop (abort, halt, end)
    scratch: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"chaos-run:{self.run_id}"


class Scenario:
    slug = ""
    name = ""
    description = ""
    schema: dict = {"type": "object", "properties": {}, "additionalProperties": False}
    weight = 1

    def steady_state(self, ctx: RunContext) -> dict:
        from chaos.engine.invariants import steady_state_snapshot

        return steady_state_snapshot(ctx)

    def apply(self, ctx: RunContext) -> None:  # set the faults
        return None

    def tick(self, ctx: RunContext) -> None:  # called every loop (load generators send here)
        return None

    def observe(self, ctx: RunContext) -> dict:
        return {}

    def remove(self, ctx: RunContext) -> None:  # recorded faults are removed by the engine too
        return None

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        from chaos.engine.invariants import common_invariants

        return common_invariants(ctx)

    def skip_reason(self) -> str:
        """Non-empty when this scenario cannot run here (the run is recorded skipped)."""
        return ""

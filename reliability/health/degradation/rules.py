"""The degradation rules, as one table (docs/health.md, "Degradation", mirrors it).

Inputs are the latest probe statuses (check name → ``ok``/``warn``/``fail``) and the breakers'
states. Every rule that matches contributes its level; the computed level is the highest,
and the matching rules' descriptions are the reasons shown on /health/degradation and /ops/.
Pure functions: no Django, no I/O, so tests and the bench drive them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reliability.health.degradation.levels import Level

OK, WARN, FAIL = "ok", "warn", "fail"
# Breaker states in which a breaker refuses calls (reliability.breakers.models.BreakerState).
REFUSING_STATES = frozenset({"open", "half_open", "forced_open"})
# The dependencies without which the portal cannot do its main job, and the level their failure means.
CRITICAL_DEPENDENCIES: dict[str, Level] = {
    "database": Level.CRITICAL,  # nothing can be accepted: the database is the source of truth
    "redis": Level.SEVERE,  # cache, channel layer, shared breaker state and (usually) the broker
    "broker": Level.SEVERE,  # deliveries and alert processing wait for the fallback sweep
}
MANY_FAILING_PROBES = 3  # this many other probes failing at once is SEVERE
MANY_REFUSING_BREAKERS = 2  # this many breakers refusing calls at once is MODERATE


@dataclass(frozen=True)
class Inputs:
    probes: dict[str, str] = field(default_factory=dict)
    breakers: dict[str, str] = field(default_factory=dict)


def _failing(inputs: Inputs, *, critical: bool | None = None) -> list[str]:
    return sorted(
        name for name, status in inputs.probes.items()
        if status == FAIL and (critical is None or (name in CRITICAL_DEPENDENCIES) == critical)
    )


def _dependency_failing(name: str) -> Callable[[Inputs], list[str]]:
    return lambda inputs: [name] if inputs.probes.get(name) == FAIL else []


def _many(names: list[str], threshold: int) -> list[str]:
    return names if len(names) >= threshold else []


def _refusing(inputs: Inputs) -> list[str]:
    return sorted(name for name, state in inputs.breakers.items() if state in REFUSING_STATES)


@dataclass(frozen=True)
class Rule:
    level: Level
    description: str
    matches: Callable[[Inputs], list[str]]  # the probes/breakers that make it match; empty: no match


# The table. Order is for reading; the computed level is the maximum over the matching rules.
RULES: tuple[Rule, ...] = (
    *(Rule(level, f"{name} probe failing", _dependency_failing(name)) for name, level in CRITICAL_DEPENDENCIES.items()),
    Rule(Level.SEVERE, f"{MANY_FAILING_PROBES}+ other probes failing",
         lambda i: _many(_failing(i, critical=False), MANY_FAILING_PROBES)),
    Rule(Level.MODERATE, "a probe failing", lambda i: _failing(i, critical=False)),
    Rule(Level.MODERATE, f"{MANY_REFUSING_BREAKERS}+ breakers refusing calls",
         lambda i: _many(_refusing(i), MANY_REFUSING_BREAKERS)),
    Rule(Level.MINOR, "a critical dependency slow (probe warns)",
         lambda i: sorted(n for n in CRITICAL_DEPENDENCIES if i.probes.get(n) == WARN)),
    Rule(Level.MINOR, "a probe warns", lambda i: sorted(n for n, s in i.probes.items() if s == WARN)),
    Rule(Level.MINOR, "a breaker refusing calls", _refusing),
)


def compute_level(inputs: Inputs, rules: tuple[Rule, ...] = RULES) -> tuple[Level, list[str]]:
    """(highest matching level, ["<description>: <names>", …] for the rules that match)."""
    level = Level.NORMAL
    reasons: list[str] = []
    for rule in rules:
        names = rule.matches(inputs)
        if names:
            level = max(level, rule.level)
            reasons.append(f"{rule.level.name}: {rule.description} ({', '.join(names)})")
    return level, reasons

"""Shared pieces of the chaos services: errors, who may do what, event payloads."""

from __future__ import annotations

from audit.actors import Actor
from opsportal.accounts.roles import CHAOS_OPERATOR, has_role

WRITE_SCOPE = "chaos:write"


class ChaosError(Exception):
    """Base of the chaos services' refusals."""


class ChaosPermissionDenied(ChaosError):
    """The actor may not do this (API: 403)."""


class ChaosRefused(ChaosError):
    """A guardrail refuses (production, disabled, kill switch, blackout, stop condition) (API: 409)."""


class InvalidTransition(ChaosError):
    """The drill or run is not in a state this applies to (API: 409)."""


def may_author(actor: Actor) -> bool:
    """Create, edit, submit, schedule, cancel: chaos operators, superusers, tokens with chaos:write."""
    if actor.user is not None:
        return has_role(actor.user, CHAOS_OPERATOR)
    if actor.token is not None:
        return actor.token.has_scope(WRITE_SCOPE)
    return actor.system is not None and actor.system != "anonymous"


def may_stop(actor: Actor) -> bool:
    """Halt, abort, the kill switch: the same people, plus the system itself (guards, sweeps, CLI)."""
    return may_author(actor)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise ChaosPermissionDenied(message)


def drill_payload(drill, **extra) -> dict:
    return {
        "id": drill.pk, "name": drill.name, "scenario": drill.scenario.slug, "state": drill.state,
        "targets": list(drill.targets or []), "dry_run": drill.dry_run, "schedule": drill.schedule,
        "created_by": drill.created_by.get_username() if drill.created_by_id else None,
        "approved_by": drill.approved_by.get_username() if drill.approved_by_id else None, **extra,
    }


def run_payload(run, **extra) -> dict:
    return {"id": run.pk, "drill": run.drill_id, "slot": run.slot.isoformat(), "state": run.state,
            "verdict": run.verdict, "score": run.score, "reason": run.reason[:500], "dry_run": run.dry_run, **extra}

"""Demo data for ``manage.py seed_demo``: a list of small, idempotent seed steps.

Each app may ship a ``demo.py`` module that registers its steps::

    from opsportal.demo import SeedContext, seed_step

    @seed_step("incidents: a sample incident", order=300)
    def seed_incidents(ctx: SeedContext) -> None:
        if not Incident.objects.filter(title="Checkout latency").exists():
            incident_open(..., actor=ctx.actor, source="seed")   # through a service
            ctx.created("incident 'Checkout latency'")

``seed_demo`` imports every installed app's ``demo`` module and runs the steps by
``order`` (then name). A step must be safe to run again: look before creating, and
write only through services so the demo leaves a real audit trail and outbox events.
Orders used so far: 100 catalog, 200 users, 210 tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from audit.actors import Actor


@dataclass
class SeedContext:
    """What a step gets: the actor to act as, and places to report what it did."""

    actor: Actor = field(default_factory=lambda: Actor.for_system("cli:seed_demo"))
    source: str = "seed"
    # (username, password, role) rows printed at the end.
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    # One line per object created in this run; empty on a re-run.
    created_items: list[str] = field(default_factory=list)
    # Anything else worth printing once (e.g. a token shown only at creation).
    notes: list[str] = field(default_factory=list)

    def created(self, what: str) -> None:
        self.created_items.append(what)

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass(frozen=True)
class SeedStep:
    name: str
    run: Callable[[SeedContext], None]
    order: int = 500


_steps: dict[str, SeedStep] = {}


def seed_step(name: str, *, order: int = 500) -> Callable[[Callable[[SeedContext], None]], Callable[[SeedContext], None]]:
    """Register a seed step (decorator). Re-registering a name replaces it."""

    def register(fn: Callable[[SeedContext], None]) -> Callable[[SeedContext], None]:
        _steps[name] = SeedStep(name=name, run=fn, order=order)
        return fn

    return register


def seed_steps() -> list[SeedStep]:
    """Every registered step, after importing each installed app's ``demo`` module."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("demo")
    return sorted(_steps.values(), key=lambda s: (s.order, s.name))

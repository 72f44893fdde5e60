"""The scenario catalog: rows mirror the classes in chaos/scenarios (after every migrate, and on demand).

Like the role groups (opsportal/accounts/roles.py), the catalog is declared in code and synchronised
after migrate: no audit entry or event (it is not an operator action; docs/decisions.md).
"""

from __future__ import annotations

from django.db import transaction

from audit.actors import Actor
from chaos.models import ChaosScenario


@transaction.atomic
def scenario_catalog_sync(*, actor: Actor, source: str) -> list[str]:
    """Create or refresh the catalog rows from the scenario classes; audits only what changed."""
    from chaos.scenarios import SCENARIOS

    changed = []
    for slug, cls in SCENARIOS.items():
        wanted = {"name": cls.name, "description": cls.description, "parameters_schema": cls.schema}
        row = ChaosScenario.objects.select_for_update().filter(slug=slug).first()
        if row is not None and all(getattr(row, k) == v for k, v in wanted.items()):
            continue
        if row is None:
            row = ChaosScenario(slug=slug)
        for key, value in wanted.items():
            setattr(row, key, value)
        row.save()
        changed.append(slug)
    return changed


def sync_after_migrate(sender=None, **kwargs) -> None:
    from django.db.utils import OperationalError, ProgrammingError

    try:
        scenario_catalog_sync(actor=Actor.for_system("chaos:migrate"), source="migrate")
    except (OperationalError, ProgrammingError):  # partial migrate: tables not there yet
        return

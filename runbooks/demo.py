"""seed_demo: import the runbooks the project ships in docs/runbooks/ (idempotent, through the services)."""

from __future__ import annotations

from django.conf import settings

from opsportal.demo import SeedContext, seed_step


@seed_step("runbooks: the shipped runbooks from docs/runbooks/", order=400)
def seed_runbooks(ctx: SeedContext) -> None:
    from runbooks.files import import_directory

    report = import_directory(settings.BASE_DIR / "docs" / "runbooks", actor=ctx.actor, source=ctx.source)
    for slug in report.created:
        ctx.created(f"runbook '{slug}'")
    for slug in report.updated:
        ctx.created(f"runbook '{slug}' (new version)")

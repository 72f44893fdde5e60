"""Runbook fixtures: a valid body, a factory through the service, a support user without staff status."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from audit.actors import Actor

PASSWORD = "pw-Opsportal-1"


def body(extra: str = "", *, resolution: str = "1. Restart the worker.\n2. Check the queue drains.") -> str:
    return (
        "# Title\n\n## Symptoms\n\nThe queue grows.\n\n## Diagnosis\n\nLook at depth.\n\n"
        f"## Resolution\n\n{resolution}\n\n## Rollback\n\nScale back.\n\n## Communication\n\nTell support.\n{extra}"
    )


@pytest.fixture
def make_runbook(db):
    from runbooks.services import runbook_create

    def make(slug: str = "queue-overload", *, title: str | None = None, text: str | None = None, **fields):
        fields.setdefault("status", "published")
        return runbook_create(
            title=title or slug.replace("-", " ").title(), slug=slug, body=text if text is not None else body(),
            actor=Actor.for_system("test"), source="test", **fields,
        )

    return make


@pytest.fixture
def support_nonstaff(db, django_user_model):
    user = django_user_model.objects.create_user(username="suki", password=PASSWORD, is_staff=False)
    user.groups.add(Group.objects.get(name="support"))
    return user
